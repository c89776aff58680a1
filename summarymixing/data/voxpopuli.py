"""VoxPopuli (transcribed data) preparation with SpeechBrain's recipe signature (``prepare_voxpopuli``).

``data_folder`` is ``transcribed_data/<language>`` as written by VoxPopuli's ``get_asr_data``: ``<year>/<id>.ogg``
segments and ``asr_{train,dev,test}.tsv`` (``id, raw_text, normalized_text, speaker_id, split, gender,
is_gold_transcript, accent``). Writes ``train.csv``, ``dev.csv`` and ``test.csv`` with
``ID, duration, wav, spk_id, wrd``, ``wrd`` being the TSV's ``normalized_text`` (lower case) with characters other
than letters, digits and apostrophes removed::

    from summarymixing.data import mini
    root = mini.layout("voxpopuli", "/tmp/mini")
    prepare_voxpopuli(f"{root}/transcribed_data/en", "/tmp/mini/voxpopuli_csv")
"""

import csv
import io
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
OPTIONS_FILE = "opt_voxpopuli_prepare.json"
COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]


def normalize_voxpopuli(text):
    """VoxPopuli ``normalized_text`` cleaning: keep letters, digits and apostrophes, single spaces.

    Example
    -------
    >>> normalize_voxpopuli("the council's  position - in 2020 ")
    "the council's position in 2020"
    """
    return " ".join(re.sub(r"[^\w'’]+|_", " ", text).split())


def _read_tsv(tsv_path, data_folder):
    reader = csv.DictReader(io.StringIO(read_text(tsv_path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = sorted({"id", "normalized_text", "speaker_id"} - set(reader.fieldnames or []))
    if missing:
        raise DatasetError(f"{tsv_path} lacks the column(s) {missing} (header: {reader.fieldnames})")
    rows = []
    for number, record in enumerate(reader, 2):
        ogg = os.path.join(data_folder, record["id"][:4], record["id"] + ".ogg")
        require_file(ogg, f"transcript without audio ({tsv_path} line {number})")
        words = normalize_voxpopuli(record["normalized_text"] or "")
        if words:
            rows.append({"ID": record["id"], "wav": ogg, "spk_id": record["speaker_id"], "wrd": words})
    if not rows:
        raise DatasetError(f"{tsv_path} lists no transcribed segment: the split would be empty")
    check_unique((row["ID"] for row in rows), tsv_path)
    return rows


def prepare_voxpopuli(
    data_folder,
    save_folder,
    train_tsv_file=None,
    dev_tsv_file=None,
    test_tsv_file=None,
    skip_prep=False,
    language="en",
    remove_if_longer_than=100,
):
    """Writes ``train.csv``, ``dev.csv`` and ``test.csv`` for one VoxPopuli language.

    Arguments
    ---------
    data_folder : str
        ``transcribed_data/<language>``.
    save_folder : str
        Where the CSVs (and ``opt_voxpopuli_prepare.json``) go.
    train_tsv_file, dev_tsv_file, test_tsv_file : str, optional
        Default ``<data_folder>/asr_{train,dev,test}.tsv``.
    skip_prep : bool
        Do nothing.
    language : str
        Language of the data (recorded in the options; the cleaning keeps any script's letters).
    remove_if_longer_than : float
        Segments of this many seconds or more are left out (some VoxPopuli segments last minutes).

    Example
    -------
    >>> from summarymixing.data import mini
    >>> root = mini.layout("voxpopuli", getfixture("tmp_path_factory").getbasetemp() / "mini")
    >>> tmp = getfixture("tmp_path")
    >>> prepare_voxpopuli(os.path.join(root, "transcribed_data", "en"), tmp)
    >>> open(tmp / "test.csv").readline().strip()
    'ID,duration,wav,spk_id,wrd'
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    tsv_files = {
        "train": os.path.abspath(train_tsv_file or os.path.join(data_folder, "asr_train.tsv")),
        "dev": os.path.abspath(dev_tsv_file or os.path.join(data_folder, "asr_dev.tsv")),
        "test": os.path.abspath(test_tsv_file or os.path.join(data_folder, "asr_test.tsv")),
    }
    options = {
        "data_folder": data_folder,
        "tsv_files": tsv_files,
        "language": language,
        "remove_if_longer_than": remove_if_longer_than,
    }
    if already_prepared(save_folder, OPTIONS_FILE, options, [split + ".csv" for split in tsv_files]):
        return
    require_folder(data_folder, "VoxPopuli data_folder")
    for split, tsv_path in tsv_files.items():
        if not os.path.isfile(tsv_path):
            raise FileNotFoundError(f"VoxPopuli {split} split not found: {tsv_path} is missing")
    os.makedirs(save_folder, exist_ok=True)
    for split, tsv_path in tsv_files.items():
        rows = _read_tsv(tsv_path, data_folder)
        add_durations(rows, f"VoxPopuli {split}", sample_rate=SAMPLE_RATE)
        kept = [row for row in rows if row["duration"] < remove_if_longer_than]
        if len(kept) < len(rows):
            logger.info(
                "VoxPopuli %s: left out %d segments of %s s or more",
                split,
                len(rows) - len(kept),
                remove_if_longer_than,
            )
        write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, kept)
    write_options(save_folder, OPTIONS_FILE, options)
