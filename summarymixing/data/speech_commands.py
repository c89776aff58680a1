"""Google Speech Commands v2 preparation for keyword spotting: the 12-class and 35-class tasks.

``data_folder`` is the unpacked ``speech_commands_v0.02`` archive: one folder per word (``yes/``, ``marvin/``, ...)
of 1 s, 16 kHz clips named ``<speaker>_nohash_<n>.wav``, the official split lists ``validation_list.txt`` and
``testing_list.txt`` (paths relative to ``data_folder``; every other clip is training data) and
``_background_noise_/`` (long noise recordings). Writes ``train.csv``, ``valid.csv`` and ``test.csv`` with
``ID, duration, wav, start, stop, spk_id, label`` and ``noise.csv`` (``ID, duration, wav, wav_format, wav_opts``:
the background noise recordings, for SpeechBrain's ``AddNoise``)::

    prepare_speech_commands("/data/speech_commands_v0.02", "results/kws", num_classes=12)

* 35 classes: every word is its own label.
* 12 classes: the ten command words (``yes no up down left right on off stop go``), ``_unknown_`` (clips of
  the other words, ``percentage_unknown`` percent of the split's command clips, drawn with ``seed``) and
  ``_silence_`` (``percentage_silence`` percent: 1 s excerpts of the background noise recordings, read in place
  through ``start`` / ``stop``). ``test_folder``, the official 12-class test set (``speech_commands_test_set_v0.02``:
  one folder per label, ``_silence_`` and ``_unknown_`` included), replaces the test split drawn from
  ``testing_list.txt``.
"""

import glob
import logging
import os
import random

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
OPTIONS_FILE = "opt_speech_commands_prepare.json"
COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id", "label"]
NOISE_COLUMNS = ["ID", "duration", "wav", "wav_format", "wav_opts"]  # SpeechBrain's extended CSV (AddNoise reads it)
SAMPLE_RATE = 16000
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
    "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop",
    "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip
SILENCE, UNKNOWN = "_silence_", "_unknown_"
NOISE_FOLDER = "_background_noise_"


def labels(num_classes):
    """The label set of the 12- or 35-class task, in a fixed order.

    Example
    -------
    >>> labels(12)[-2:], len(labels(35))
    (['_silence_', '_unknown_'], 35)
    """
    if num_classes == 12:
        return [*COMMANDS, SILENCE, UNKNOWN]
    if num_classes == 35:
        return list(WORDS)
    raise ValueError(f"num_classes must be 12 or 35, got {num_classes!r}")


def prepare_speech_commands(
    data_folder,
    save_folder,
    num_classes=12,
    percentage_unknown=10.0,
    percentage_silence=10.0,
    test_folder=None,
    seed=1234,
    skip_prep=False,
):
    """Writes ``train.csv``, ``valid.csv``, ``test.csv`` and ``noise.csv`` (see the module documentation).

    Arguments
    ---------
    data_folder : str
        ``speech_commands_v0.02``.
    save_folder : str
        Where the CSVs (and ``opt_speech_commands_prepare.json``) go.
    num_classes : int
        12 or 35.
    percentage_unknown, percentage_silence : float
        12 classes: ``_unknown_`` and ``_silence_`` clips per split, in percent of its command clips.
    test_folder : str, optional
        12 classes: the official test set (``speech_commands_test_set_v0.02``) to use as the test split.
    seed : int
        Draws the ``_unknown_`` clips and the ``_silence_`` excerpts.
    skip_prep : bool
        Do nothing.
    """
    if skip_prep:
        return
    label_set = labels(num_classes)
    if test_folder is not None and num_classes != 12:
        raise ValueError("test_folder is the official 12-class test set: it needs num_classes=12")
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    test_folder = test_folder and os.path.abspath(test_folder)
    options = {
        "data_folder": data_folder, "num_classes": num_classes, "percentage_unknown": percentage_unknown,
        "percentage_silence": percentage_silence, "test_folder": test_folder, "seed": seed,
    }  # fmt: skip
    manifests = ["train.csv", "valid.csv", "test.csv", "noise.csv"]
    if already_prepared(save_folder, OPTIONS_FILE, options, manifests):
        return
    require_folder(data_folder, "Speech Commands data_folder (speech_commands_v0.02)")
    missing = [word for word in WORDS if not os.path.isdir(os.path.join(data_folder, word))]
    if missing:
        raise DatasetError(f"{data_folder} lacks the word folder(s) {missing}: is it Speech Commands v2?")
    listed = {name: _read_list(data_folder, name) for name in ("validation_list.txt", "testing_list.txt")}
    clips = sorted(os.path.relpath(path, data_folder) for path in glob.glob(os.path.join(data_folder, "*", "*.wav")))
    clips = [clip for clip in clips if not clip.startswith(NOISE_FOLDER)]
    splits = {"train": [], "valid": [], "test": []}
    for clip in clips:
        split = (
            "valid"
            if clip in listed["validation_list.txt"]
            else "test"
            if clip in listed["testing_list.txt"]
            else "train"
        )
        splits[split].append(clip)
    rng = random.Random(seed)
    noise = _noise_rows(data_folder)
    os.makedirs(save_folder, exist_ok=True)
    for split, split_clips in splits.items():
        if split == "test" and test_folder is not None:
            rows = _official_test_rows(test_folder)
        else:
            rows = _clip_rows(data_folder, split_clips, num_classes, percentage_unknown, rng)
            if num_classes == 12:
                count = round(sum(row["label"] in COMMANDS for row in rows) * percentage_silence / 100)
                rows += _silence_rows(noise, count, split, rng)
        if not rows:
            raise DatasetError(f"Speech Commands: the {split} split is empty")
        check_unique((row["ID"] for row in rows), f"the {split} split")
        unknown_labels = {row["label"] for row in rows} - set(label_set)
        if unknown_labels:
            raise DatasetError(f"Speech Commands {split}: labels {sorted(unknown_labels)} outside {label_set}")
        write_csv(os.path.join(save_folder, f"{split}.csv"), COLUMNS, rows)
    write_csv(
        os.path.join(save_folder, "noise.csv"), NOISE_COLUMNS, [{k: row[k] for k in NOISE_COLUMNS} for row in noise]
    )
    write_options(save_folder, OPTIONS_FILE, options)


def _read_list(data_folder, name):
    path = os.path.join(data_folder, name)
    require_file(path, "Speech Commands split list")
    entries = {line.strip() for line in read_text(path).splitlines() if line.strip()}
    absent = sorted(entry for entry in entries if not os.path.isfile(os.path.join(data_folder, entry)))
    if absent:
        raise DatasetError(f"{path} lists {len(absent)} clip(s) that are not in {data_folder}, e.g. {absent[0]}")
    return entries


def _speaker(clip):
    return os.path.basename(clip).split("_nohash_")[0]


def _clip_rows(data_folder, clips, num_classes, percentage_unknown, rng):
    """One row per clip of the split (12 classes: all command clips, a draw of the others as ``_unknown_``)."""
    if num_classes == 12:
        commands = [clip for clip in clips if clip.split(os.sep)[0] in COMMANDS]
        others = [clip for clip in clips if clip.split(os.sep)[0] not in COMMANDS]
        count = min(len(others), round(len(commands) * percentage_unknown / 100))
        clips = commands + sorted(rng.sample(others, count))
    rows = []
    for clip in clips:
        word = clip.split(os.sep)[0]
        label = word if num_classes == 35 or word in COMMANDS else UNKNOWN
        rows.append({"ID": clip[: -len(".wav")].replace(os.sep, "/"), "wav": os.path.join(data_folder, clip),
                     "spk_id": _speaker(clip), "label": label})  # fmt: skip
    headers = add_durations(rows, "Speech Commands clips", sample_rate=SAMPLE_RATE)
    for row, (frames, _) in zip(rows, headers):
        row["start"], row["stop"] = 0, frames
    return rows


def _noise_rows(data_folder):
    folder = os.path.join(data_folder, NOISE_FOLDER)
    require_folder(folder, "Speech Commands background noise folder")
    rows = [
        {"ID": os.path.splitext(os.path.basename(path))[0], "wav": path, "wav_format": "wav", "wav_opts": ""}
        for path in sorted(glob.glob(os.path.join(folder, "*.wav")))
    ]
    if not rows:
        raise DatasetError(f"{folder} holds no .wav recording")
    for row, (frames, _) in zip(rows, audio_infos([row["wav"] for row in rows], sample_rate=SAMPLE_RATE)):
        row["frames"], row["duration"] = frames, round(frames / SAMPLE_RATE, 5)
    return rows


def _silence_rows(noise, count, split, rng):
    """``count`` 1 s excerpts of the background noise recordings, labelled ``_silence_``."""
    long_enough = [row for row in noise if row["frames"] >= SAMPLE_RATE]
    if count and not long_enough:
        raise DatasetError("no background noise recording is 1 s long: the _silence_ class cannot be drawn")
    rows = []
    for number in range(count):
        recording = long_enough[number % len(long_enough)]
        start = rng.randrange(recording["frames"] - SAMPLE_RATE + 1)
        rows.append({"ID": f"{SILENCE}/{split}_{number}", "wav": recording["wav"], "start": start,
                     "stop": start + SAMPLE_RATE, "duration": 1.0, "spk_id": SILENCE, "label": SILENCE})  # fmt: skip
    return rows


def _official_test_rows(test_folder):
    require_folder(test_folder, "Speech Commands official test set (speech_commands_test_set_v0.02)")
    rows = []
    for label in labels(12):
        for path in sorted(glob.glob(os.path.join(test_folder, label, "*.wav"))):
            clip = os.path.relpath(path, test_folder)
            rows.append({"ID": "official/" + clip[: -len(".wav")].replace(os.sep, "/"), "wav": path,
                         "spk_id": _speaker(clip), "label": label})  # fmt: skip
    if not rows:
        raise DatasetError(f"{test_folder} holds no <label>/*.wav clip of the 12-class labels {labels(12)}")
    headers = add_durations(rows, "Speech Commands official test clips", sample_rate=SAMPLE_RATE)
    for row, (frames, _) in zip(rows, headers):
        row["start"], row["stop"] = 0, frames
    return rows
