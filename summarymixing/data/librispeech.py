"""LibriSpeech preparation with SpeechBrain's recipe signature (``prepare_librispeech``).

Reads ``<data_folder>/<split>/<speaker>/<chapter>/`` (``*.flac`` + ``<speaker>-<chapter>.trans.txt``) and writes
``<save_folder>/<split>.csv`` with the columns ``ID, duration, wav, spk_id, wrd`` (``spk_id`` is
``<speaker>-<chapter>`` as in SpeechBrain). Works on the real corpus and on the mini corpus::

    from summarymixing.data import mini
    prepare_librispeech(mini.layout("librispeech", "/tmp/mini"), "/tmp/mini/manifests",
                        tr_splits=["train-clean-100"], dev_splits=["dev-clean"], te_splits=["test-clean"],
                        merge_lst=["train-clean-100"], merge_name="train.csv")
"""

import logging
import os
import re

from summarymixing.data.manifest import (
    SAMPLE_RATE,
    DatasetError,
    add_durations,
    already_prepared,
    check_unique,
    read_text,
    require_file,
    require_folder,
    write_csv,
    write_options,
)

logger = logging.getLogger(__name__)

OPTIONS_FILE = "opt_librispeech_prepare.json"
COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]
LEXICON_FILE = "librispeech-lexicon.txt"


def normalize_librispeech(text):
    """LibriSpeech transcript normalisation: upper case, single spaces (apostrophes kept).

    Example
    -------
    >>> normalize_librispeech("  it's  the Kitchen ")
    "IT'S THE KITCHEN"
    """
    return " ".join(text.upper().split())


def read_split(split_folder):
    """Lists one split's utterances from its ``*.trans.txt`` files.

    Arguments
    ---------
    split_folder : str
        E.g. ``.../LibriSpeech/dev-clean``.

    Returns
    -------
    list of dict
        ``ID``, ``wav``, ``spk_id``, ``wrd`` per utterance, sorted by ``ID``.

    Raises
    ------
    DatasetError
        A transcript line names an utterance whose ``.flac`` is missing, a line has no text, or an id repeats.
    """
    rows, untranscribed = [], []
    for directory, _, files in os.walk(split_folder):
        transcripts = sorted(name for name in files if name.endswith(".trans.txt"))
        flacs = {name[: -len(".flac")] for name in files if name.endswith(".flac")}
        if flacs and not transcripts:
            raise DatasetError(
                f"{len(flacs)} .flac files in {directory} but no transcript (<speaker>-<chapter>"
                ".trans.txt): the chapter would be left out"
            )
        for name in transcripts:
            path = os.path.join(directory, name)
            for number, line in enumerate(read_text(path).splitlines(), 1):
                if not line.strip():
                    continue
                fields = line.split(maxsplit=1)
                if len(fields) != 2:
                    raise DatasetError(f"{path} line {number}: no transcript after id {fields[0]!r}")
                utterance, text = fields
                wav = os.path.join(directory, utterance + ".flac")
                require_file(wav, f"transcript without audio ({path} line {number})")
                flacs.discard(utterance)
                rows.append(
                    {
                        "ID": utterance,
                        "wav": wav,
                        "spk_id": "-".join(utterance.split("-")[:2]),
                        "wrd": normalize_librispeech(text),
                    }
                )
        untranscribed += sorted(os.path.join(directory, name + ".flac") for name in flacs)
    if untranscribed:
        logger.warning(
            "LibriSpeech %s: %d .flac files have no transcript line and are left out (first: %s)",
            split_folder,
            len(untranscribed),
            untranscribed[0],
        )
    check_unique((row["ID"] for row in rows), split_folder)
    return sorted(rows, key=lambda row: row["ID"])


def prepare_librispeech(
    data_folder,
    save_folder,
    tr_splits=[],
    dev_splits=[],
    te_splits=[],
    select_n_sentences=None,
    merge_lst=[],
    merge_name=None,
    create_lexicon=False,
    skip_prep=False,
):
    """Writes one SpeechBrain CSV per LibriSpeech split (``<save_folder>/<split>.csv``).

    Arguments
    ---------
    data_folder : str
        The ``LibriSpeech`` folder holding the split folders.
    save_folder : str
        Where the CSVs (and ``opt_librispeech_prepare.json``) go.
    tr_splits, dev_splits, te_splits : list of str
        Split folder names, e.g. ``["train-clean-100"]``, ``["dev-clean"]``, ``["test-clean", "test-other"]``.
    select_n_sentences : int or list of int, optional
        Keep only the first n utterances (sorted ids) of every split, or one n per split in the order
        ``tr_splits + dev_splits + te_splits``.
    merge_lst : list of str
        Splits whose CSVs are concatenated into ``merge_name``.
    merge_name : str, optional
        Name of the merged CSV (``.csv`` added when missing), e.g. ``"train.csv"``.
    create_lexicon : bool
        Also write ``lexicon.csv`` (``ID, duration, char, phn``; word, 1.0, spelt letters, phonemes) from
        ``<data_folder>/librispeech-lexicon.txt`` (OpenSLR 11, which must be on disk: nothing is downloaded).
    skip_prep : bool
        Do nothing.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> tmp = getfixture("tmp_path")
    >>> shared = getfixture("tmp_path_factory").getbasetemp() / "mini"
    >>> prepare_librispeech(mini.layout("librispeech", shared), tmp / "csv", dev_splits=["dev-clean"])
    >>> open(tmp / "csv" / "dev-clean.csv").readline().strip()
    'ID,duration,wav,spk_id,wrd'
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    splits = list(tr_splits) + list(dev_splits) + list(te_splits)
    if isinstance(select_n_sentences, int):
        select_n_sentences = [select_n_sentences] * len(splits)
    if select_n_sentences is not None and len(select_n_sentences) != len(splits):
        raise ValueError(f"select_n_sentences has {len(select_n_sentences)} entries for {len(splits)} splits")
    unknown = sorted(set(merge_lst) - set(splits))
    if unknown:
        raise ValueError(f"merge_lst names splits that are not prepared: {unknown}")
    if merge_lst and not merge_name:
        raise ValueError("merge_lst needs a merge_name (e.g. 'train.csv')")
    if merge_name and not merge_name.endswith(".csv"):
        merge_name += ".csv"
    options = {
        "data_folder": data_folder,
        "splits": splits,
        "select_n_sentences": select_n_sentences,
        "merge_lst": list(merge_lst),
        "merge_name": merge_name,
        "create_lexicon": create_lexicon,
    }
    manifests = [split + ".csv" for split in splits] + ([merge_name] if merge_lst else [])
    manifests += ["lexicon.csv"] if create_lexicon else []
    if already_prepared(save_folder, OPTIONS_FILE, options, manifests):
        return
    require_folder(data_folder, "LibriSpeech data_folder")
    if create_lexicon:
        require_file(os.path.join(data_folder, LEXICON_FILE), "create_lexicon needs the OpenSLR 11 lexicon")
    os.makedirs(save_folder, exist_ok=True)
    prepared = {}
    for index, split in enumerate(splits):
        split_folder = os.path.join(data_folder, split)
        require_folder(split_folder, f"LibriSpeech split {split!r}")
        rows = read_split(split_folder)
        if not rows:
            raise DatasetError(f"LibriSpeech split {split!r} has no transcribed utterances in {split_folder}")
        if select_n_sentences is not None:
            rows = rows[: select_n_sentences[index]]
        add_durations(rows, f"LibriSpeech {split}", sample_rate=SAMPLE_RATE)
        write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, rows)
        prepared[split] = rows
    if merge_lst:
        write_csv(
            os.path.join(save_folder, merge_name), COLUMNS, [row for split in merge_lst for row in prepared[split]]
        )
    if create_lexicon:
        write_lexicon(os.path.join(data_folder, LEXICON_FILE), os.path.join(save_folder, "lexicon.csv"))
    write_options(save_folder, OPTIONS_FILE, options)


def write_lexicon(lexicon_path, csv_path):
    """Converts an OpenSLR-11 lexicon (``WORD PH1 PH2 ...`` lines) into a SpeechBrain CSV.

    Rows are ``ID`` (line number), ``duration`` (1.0), ``char`` (the word's letters, space separated) and
    ``phn`` (its phonemes without stress digits), as SpeechBrain's G2P recipes read them.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "lex.txt").write_text("HELLO HH AH0 L OW1\\n")
    >>> write_lexicon(tmp / "lex.txt", tmp / "lexicon.csv")
    >>> (tmp / "lexicon.csv").read_text().splitlines()[1]
    '0,1.0,H E L L O,HH AH L OW'
    """
    require_file(str(lexicon_path), "create_lexicon needs the OpenSLR 11 lexicon")
    rows = []
    with open(lexicon_path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 2:
                rows.append(
                    {
                        "ID": len(rows),
                        "duration": 1.0,
                        "char": " ".join(fields[0]),
                        "phn": " ".join(re.sub(r"\d", "", phoneme) for phoneme in fields[1:]),
                    }
                )
    write_csv(str(csv_path), ["ID", "duration", "char", "phn"], rows)
