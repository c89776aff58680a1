"""CommonVoice preparation with SpeechBrain's recipe signature (``prepare_common_voice``).

``data_folder`` is one language of a CommonVoice release (``.../cv-corpus-17.0-2024-03-15/cy``): ``clips/*.mp3``
and the split TSVs. Columns are found by name (``client_id``, ``path``, ``sentence``), so releases with and
without ``sentence_id`` / ``sentence_domain`` / ``variant`` all work. Writes ``train.csv``, ``dev.csv`` and
``test.csv`` with ``ID, duration, wav, spk_id, wrd``::

    from summarymixing.data import mini
    root = mini.layout("commonvoice", "/tmp/mini")
    prepare_common_voice(f"{root}/cy", "/tmp/mini/cv_cy", language="cy", convert_to_wav=True)

CommonVoice clips are 48 kHz MP3: either resample when loading, or pass ``convert_to_wav=True`` to decode them
once into 16 kHz WAV files under ``<save_folder>/wav`` (the CSVs then point there).
"""

import csv
import io
import logging
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import soundfile as sf
from tqdm import tqdm

from summarymixing.data.manifest import (
    DatasetError,
    add_durations,
    already_prepared,
    audio_infos,
    check_unique,
    read_text,
    require_file,
    require_folder,
    write_csv,
    write_options,
)

logger = logging.getLogger(__name__)
OPTIONS_FILE = "opt_common_voice_prepare.json"
COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]
WAV_SAMPLE_RATE = 16000


def normalize_common_voice(sentence, accented_letters=False):
    """CommonVoice sentence normalisation: upper case, letters / digits / apostrophes only, optional accents.

    Arguments
    ---------
    sentence : str
        A ``sentence`` cell of a CommonVoice TSV.
    accented_letters : bool
        Keep accented letters (``False``: ``Tŷ`` -> ``TY``, as SpeechBrain's default).

    Returns
    -------
    str

    Example
    -------
    >>> normalize_common_voice("Mae'r tŷ yn “fawr” iawn!")
    "MAE'R TY YN FAWR IAWN"
    >>> normalize_common_voice("Ble mae’r tŷ?", accented_letters=True)
    "BLE MAE'R TŶ"
    """
    text = unicodedata.normalize("NFC", sentence).replace("’", "'").replace("`", "'")
    if not accented_letters:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = re.sub(r"[^\w']+|_", " ", text.upper())
    return " ".join(word.strip("'") for word in text.split() if word.strip("'"))


def _read_tsv(tsv_path, clips_folder, accented_letters):
    reader = csv.DictReader(io.StringIO(read_text(tsv_path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = sorted({"client_id", "path", "sentence"} - set(reader.fieldnames or []))
    if missing:
        raise DatasetError(f"{tsv_path} lacks the column(s) {missing} (header: {reader.fieldnames})")
    rows, skipped = [], 0
    for number, record in enumerate(reader, 2):
        mp3 = os.path.join(clips_folder, record["path"])
        require_file(mp3, f"transcript without audio ({tsv_path} line {number})")
        words = normalize_common_voice(record["sentence"] or "", accented_letters)
        if not words:
            skipped += 1
            continue
        rows.append(
            {"ID": os.path.splitext(record["path"])[0], "wav": mp3, "spk_id": record["client_id"], "wrd": words}
        )
    if skipped:
        logger.warning("%s: skipped %d clips whose sentence is empty after normalisation", tsv_path, skipped)
    if not rows:
        raise DatasetError(f"{tsv_path} lists no clip with a sentence: the split would be empty")
    check_unique((row["ID"] for row in rows), tsv_path)
    return rows


def _to_wav(mp3, wav):
    """Decodes ``mp3`` into a 16 kHz ``wav`` unless that exists already."""
    if not os.path.isfile(wav):
        import torch
        import torchaudio

        samples, rate = sf.read(mp3, dtype="float32")
        resampled = torchaudio.functional.resample(torch.from_numpy(samples), rate, WAV_SAMPLE_RATE).numpy()
        sf.write(wav + ".tmp", resampled, WAV_SAMPLE_RATE, format="WAV")
        os.replace(wav + ".tmp", wav)


def _convert(rows, wav_folder, split):
    """Converts the rows' clips to 16 kHz WAV in parallel and points ``row["wav"]`` at them."""
    os.makedirs(wav_folder, exist_ok=True)
    wavs = [os.path.join(wav_folder, row["ID"] + ".wav") for row in rows]
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        list(
            tqdm(
                pool.map(_to_wav, [row["wav"] for row in rows], wavs),
                total=len(rows),
                desc=f"CommonVoice {split} to wav",
                disable=len(rows) < 100,
            )
        )
    for row, wav in zip(rows, wavs):
        row["wav"] = wav


def prepare_common_voice(
    data_folder,
    save_folder,
    train_tsv_file=None,
    dev_tsv_file=None,
    test_tsv_file=None,
    accented_letters=False,
    language="en",
    skip_prep=False,
    convert_to_wav=False,
):
    """Writes ``train.csv``, ``dev.csv`` and ``test.csv`` (``ID, duration, wav, spk_id, wrd``) for one language.

    Arguments
    ---------
    data_folder : str
        One language folder of a CommonVoice release (holding ``clips/`` and the TSVs).
    save_folder : str
        Where the CSVs (and ``opt_common_voice_prepare.json``) go.
    train_tsv_file, dev_tsv_file, test_tsv_file : str, optional
        The split TSVs; default ``<data_folder>/{train,dev,test}.tsv``.
    accented_letters : bool
        Keep accented letters in ``wrd``.
    language : str
        Language code; a TSV ``locale`` column, when present, must agree with it.
    skip_prep : bool
        Do nothing.
    convert_to_wav : bool
        Decode the MP3 clips once into 16 kHz WAV files under ``<save_folder>/wav`` and point the CSVs there.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> root = mini.layout("commonvoice", getfixture("tmp_path_factory").getbasetemp() / "mini")
    >>> tmp = getfixture("tmp_path")
    >>> prepare_common_voice(os.path.join(root, "eu"), tmp, language="eu")
    >>> sorted(name for name in os.listdir(tmp) if name.endswith(".csv"))
    ['dev.csv', 'test.csv', 'train.csv']
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    tsv_files = {
        "train": os.path.abspath(train_tsv_file or os.path.join(data_folder, "train.tsv")),
        "dev": os.path.abspath(dev_tsv_file or os.path.join(data_folder, "dev.tsv")),
        "test": os.path.abspath(test_tsv_file or os.path.join(data_folder, "test.tsv")),
    }
    options = {
        "data_folder": data_folder,
        "tsv_files": tsv_files,
        "accented_letters": accented_letters,
        "language": language,
        "convert_to_wav": convert_to_wav,
    }
    if already_prepared(save_folder, OPTIONS_FILE, options, [split + ".csv" for split in tsv_files]):
        return
    require_folder(data_folder, "CommonVoice data_folder")
    clips_folder = os.path.join(data_folder, "clips")
    require_folder(clips_folder, "CommonVoice clips folder")
    for split, tsv_path in tsv_files.items():
        if not os.path.isfile(tsv_path):
            raise FileNotFoundError(f"CommonVoice {split} split not found: {tsv_path} is missing")
    _check_locale(tsv_files.values(), language)
    os.makedirs(save_folder, exist_ok=True)
    for split, tsv_path in tsv_files.items():
        rows = _read_tsv(tsv_path, clips_folder, accented_letters)
        if convert_to_wav:
            audio_infos([row["wav"] for row in rows], f"CommonVoice {split} clips")
            _convert(rows, os.path.join(save_folder, "wav"), split)
        add_durations(rows, f"CommonVoice {split}")
        write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, rows)
    write_options(save_folder, OPTIONS_FILE, options)


def _check_locale(tsv_paths, language):
    for tsv_path in tsv_paths:
        reader = csv.DictReader(io.StringIO(read_text(tsv_path)), delimiter="\t", quoting=csv.QUOTE_NONE)
        first = next(reader, None)
        if first and first.get("locale") and first["locale"] != language:
            raise DatasetError(f"{tsv_path} holds locale {first['locale']!r}, but language={language!r} was asked")
