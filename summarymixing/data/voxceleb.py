"""VoxCeleb1 preparation for speaker verification, with SpeechBrain's recipe signature (``prepare_voxceleb``).

``data_folder`` holds ``wav/<speaker>/<video>/<utterance>.wav``. Speakers named in the verification trial list
(``label enrol test`` lines, e.g. ``veri_test2.txt``) are held out of training. Writes ``train.csv`` and
``dev.csv`` (training speakers, cut into ``seg_dur``-second chunks, or whole utterances with
``random_segment``) and ``enrol.csv`` / ``test.csv`` (the trial list's enrolment and test utterances), all with
``ID, duration, wav, start, stop, spk_id`` (``start``/``stop`` in samples)::

    from summarymixing.data import mini
    root = mini.layout("voxceleb1", "/tmp/mini")
    prepare_voxceleb(root, "/tmp/mini/vox_csv", f"{root}/meta/veri_test2.txt", seg_dur=1.0)

Chunk ids are ``<speaker>--<video>--<utterance>_<start>_<stop>`` (seconds); enrol/test ids are the utterance paths
without ``.wav``, as the trial list names them.
"""

import os
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf
from tqdm import tqdm

from summarymixing.data.manifest import (
    SAMPLE_RATE,
    DatasetError,
    add_durations,
    already_prepared,
    audio_info,
    check_unique,
    read_text,
    require_file,
    require_folder,
    write_csv,
    write_options,
)

OPTIONS_FILE = "opt_voxceleb_prepare.json"
COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id"]


def read_trials(verification_pairs_file):
    """Parses a VoxCeleb trial list into ``[(label, enrol, test), ...]`` (paths relative to ``wav/``).

    Example
    -------
    >>> path = getfixture("tmp_path") / "trials.txt"
    >>> _ = path.write_text("1 id10270/a/00001.wav id10270/b/00002.wav\\n")
    >>> read_trials(path)
    [(1, 'id10270/a/00001.wav', 'id10270/b/00002.wav')]
    """
    require_file(str(verification_pairs_file), "verification trial list")
    trials = []
    for number, line in enumerate(read_text(verification_pairs_file).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[0] not in ("0", "1"):
            raise DatasetError(
                f"{verification_pairs_file} line {number}: expected 'label enrol test', got {line.strip()!r}"
            )
        trials.append((int(fields[0]), fields[1], fields[2]))
    return trials


def _list_utterances(wav_folder):
    utterances = []
    for directory, _, names in os.walk(wav_folder):
        for name in sorted(names):
            if name.endswith(".wav"):
                utterances.append(os.path.relpath(os.path.join(directory, name), wav_folder).replace(os.sep, "/"))
    return sorted(utterances)


def _chunks(wav, utterance, seg_dur, amp_th):
    """Cuts one utterance into ``seg_dur`` chunks whose mean absolute amplitude reaches ``amp_th``."""
    frames, rate = audio_info(wav, sample_rate=SAMPLE_RATE)
    samples = sf.read(wav, dtype="float32")[0] if amp_th > 0 else None
    size = int(round(seg_dur * rate))
    rows = []
    for start in range(0, frames - size + 1, size):
        if samples is not None and np.abs(samples[start : start + size]).mean() < amp_th:
            continue
        speaker, video, name = utterance[: -len(".wav")].split("/")
        rows.append(
            {
                "ID": f"{speaker}--{video}--{name}_{start / rate:g}_{(start + size) / rate:g}",
                "duration": seg_dur,
                "wav": wav,
                "start": start,
                "stop": start + size,
                "spk_id": speaker,
            }
        )
    return rows


def _whole(rows, description):
    for row, (frames, _) in zip(rows, add_durations(rows, description, sample_rate=SAMPLE_RATE)):
        row.update(start=0, stop=frames)
    return rows


def prepare_voxceleb(
    data_folder,
    save_folder,
    verification_pairs_file,
    splits=["train", "dev", "test"],
    split_ratio=[90, 10],
    seg_dur=3.0,
    amp_th=5e-04,
    split_speaker=False,
    random_segment=False,
    skip_prep=False,
):
    """Writes the VoxCeleb1 speaker-verification manifests.

    Arguments
    ---------
    data_folder : str
        Folder holding ``wav/`` (VoxCeleb1 dev and test parts merged, as SpeechBrain expects).
    save_folder : str
        Where ``train.csv``, ``dev.csv``, ``enrol.csv``, ``test.csv`` (and the options JSON) go.
    verification_pairs_file : str
        Trial list; its speakers are excluded from training.
    splits : list of str
        Among ``train``, ``dev`` (training speakers) and ``test`` (writes ``enrol.csv`` and ``test.csv``).
    split_ratio : list of int
        Train / dev percentages of the training speakers' utterances (or speakers with ``split_speaker``).
    seg_dur : float
        Chunk length in seconds for train/dev (shorter utterances give no chunk).
    amp_th : float
        Chunks whose mean absolute amplitude is below this are dropped (0 disables; needs reading the audio).
    split_speaker : bool
        Split train/dev by speaker instead of by utterance.
    random_segment : bool
        Write whole train/dev utterances (the recipe crops at random) instead of chunks.
    skip_prep : bool
        Do nothing.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> root = mini.layout("voxceleb1", getfixture("tmp_path_factory").getbasetemp() / "mini")
    >>> tmp = getfixture("tmp_path")
    >>> prepare_voxceleb(root, tmp, os.path.join(root, "meta", "veri_test2.txt"), splits=["test"])
    >>> sorted(name for name in os.listdir(tmp) if name.endswith(".csv"))
    ['enrol.csv', 'test.csv']
    """
    if skip_prep:
        return
    unknown = sorted(set(splits) - {"train", "dev", "test"})
    if unknown:
        raise ValueError(f"unknown VoxCeleb split(s) {unknown}; choose among train, dev, test")
    if len(split_ratio) != 2 or sum(split_ratio) != 100:
        raise ValueError(f"split_ratio must be two percentages summing to 100, got {split_ratio}")
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    verification_pairs_file = os.path.abspath(verification_pairs_file)
    options = {
        "data_folder": data_folder,
        "verification_pairs_file": verification_pairs_file,
        "splits": list(splits),
        "split_ratio": list(split_ratio),
        "seg_dur": seg_dur,
        "amp_th": amp_th,
        "split_speaker": split_speaker,
        "random_segment": random_segment,
    }
    manifests = [
        name for split in splits for name in (["enrol.csv", "test.csv"] if split == "test" else [split + ".csv"])
    ]
    if already_prepared(save_folder, OPTIONS_FILE, options, manifests):
        return
    wav_folder = os.path.join(data_folder, "wav")
    require_folder(wav_folder, "VoxCeleb wav folder")
    trials = read_trials(verification_pairs_file)
    test_speakers = {path.split("/")[0] for _, enrol, test in trials for path in (enrol, test)}
    os.makedirs(save_folder, exist_ok=True)
    if "test" in splits:
        for name, column in (("enrol.csv", 1), ("test.csv", 2)):
            utterances = sorted({trial[column] for trial in trials})
            rows = []
            for utterance in utterances:
                wav = os.path.join(wav_folder, utterance)
                require_file(wav, f"trial without audio ({verification_pairs_file})")
                rows.append({"ID": utterance[: -len(".wav")], "wav": wav, "spk_id": utterance.split("/")[0]})
            write_csv(os.path.join(save_folder, name), COLUMNS, _whole(rows, f"VoxCeleb {name}"))
    training_splits = [split for split in splits if split != "test"]
    if training_splits:
        utterances = [u for u in _list_utterances(wav_folder) if u.split("/")[0] not in test_speakers]
        if not utterances:
            raise DatasetError(f"{wav_folder} holds no utterance of a speaker outside the trial list")
        for split, members in zip(("train", "dev"), _split(utterances, split_ratio, split_speaker)):
            if split not in training_splits:
                continue
            wavs = [os.path.join(wav_folder, utterance) for utterance in members]
            if random_segment:
                rows = _whole(
                    [
                        {"ID": u[: -len(".wav")].replace("/", "--"), "wav": w, "spk_id": u.split("/")[0]}
                        for u, w in zip(members, wavs)
                    ],
                    f"VoxCeleb {split}",
                )
            else:
                with ThreadPoolExecutor(min(32, 4 * (os.cpu_count() or 1))) as pool:
                    chunked = pool.map(_chunks, wavs, members, [seg_dur] * len(wavs), [amp_th] * len(wavs))
                    rows = [
                        row
                        for rows in tqdm(chunked, total=len(wavs), desc=f"VoxCeleb {split}", disable=len(wavs) < 100)
                        for row in rows
                    ]
            check_unique((row["ID"] for row in rows), f"VoxCeleb {split}")
            write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, rows)
    write_options(save_folder, OPTIONS_FILE, options)


def _split(utterances, split_ratio, split_speaker, seed=1234):
    """Train / dev lists of utterances, by utterance or by speaker, seeded."""
    rng = random.Random(seed)
    if split_speaker:
        speakers = sorted({utterance.split("/")[0] for utterance in utterances})
        rng.shuffle(speakers)
        train_speakers = set(speakers[: len(speakers) * split_ratio[0] // 100])
        return (
            [u for u in utterances if u.split("/")[0] in train_speakers],
            [u for u in utterances if u.split("/")[0] not in train_speakers],
        )
    shuffled = list(utterances)
    rng.shuffle(shuffled)
    cut = len(shuffled) * split_ratio[0] // 100
    return sorted(shuffled[:cut]), sorted(shuffled[cut:])
