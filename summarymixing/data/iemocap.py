"""IEMOCAP preparation for four-class emotion recognition (SpeechBrain's JSON manifests).

Reads ``Session{1..5}/dialog/EmoEvaluation/*.txt`` for the turn labels and ``Session*/sentences/wav/<dialog>/
<turn>.wav`` for the audio; keeps ``neu``, ``hap`` (with ``exc`` merged into it), ``sad`` and ``ang`` as usual,
and writes SpeechBrain's JSON manifests ``{turn: {"wav", "length", "emo", "spk_id"}}``::

    from summarymixing.data import mini
    prepare_iemocap(mini.layout("iemocap", "/tmp/mini"), "/tmp/mini/emo/train.json", "/tmp/mini/emo/valid.json",
                    "/tmp/mini/emo/test.json", different_speakers=True, test_spk_id=1)

Speakers are numbered 1-10 as Session1 F, Session1 M, Session2 F, ... With ``different_speakers`` the
``test_spk_id`` speaker is the test set and the other speaker of the same session the validation set
(leave-one-session-out); otherwise turns are split at random by ``split_ratio``.
"""

import json
import os
import random
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
    write_options,
)

OPTIONS_FILE = "opt_iemocap_prepare.json"
EMOTIONS = {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}
TURN = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(\S+)\t(\w+)\t\[")


def speaker_number(turn):
    """IEMOCAP speaker number 1-10 of a turn name (Session1 F = 1, Session1 M = 2, ...).

    Example
    -------
    >>> speaker_number("Ses01F_impro01_M003"), speaker_number("Ses05M_script02_2_F011")
    (2, 9)
    """
    session, sex = int(turn[3:5]), turn.rsplit("_", 1)[1][0]
    if sex not in "FM":
        raise DatasetError(f"IEMOCAP turn {turn!r}: cannot tell the speaker's sex from its name")
    return 2 * session - 1 + (sex == "M")


def read_emo_evaluation(path):
    """``{turn: emotion code}`` from one ``EmoEvaluation`` label file (all codes, unmerged)."""
    labels = {}
    for line in read_text(path).splitlines():
        match = TURN.match(line)
        if match:
            labels[match.group(3)] = match.group(4)
    return labels


def _read_sessions(data_folder):
    rows = []
    sessions = sorted(name for name in os.listdir(data_folder) if re.fullmatch(r"Session\d", name))
    if not sessions:
        raise FileNotFoundError(f"IEMOCAP sessions not found: {data_folder} holds no Session1..Session5 folders")
    for session in sessions:
        label_folder = os.path.join(data_folder, session, "dialog", "EmoEvaluation")
        require_folder(label_folder, f"IEMOCAP {session} label folder")
        for name in sorted(os.listdir(label_folder)):
            if not name.endswith(".txt"):
                continue
            path = os.path.join(label_folder, name)
            for turn, code in read_emo_evaluation(path).items():
                if code not in EMOTIONS:
                    continue
                wav = os.path.join(data_folder, session, "sentences", "wav", name[: -len(".txt")], turn + ".wav")
                require_file(wav, f"label without audio ({path}, turn {turn})")
                rows.append({"ID": turn, "wav": wav, "emo": EMOTIONS[code], "spk_id": speaker_number(turn)})
    check_unique((row["ID"] for row in rows), data_folder)
    return rows


def _split(rows, split_ratio, different_speakers, test_spk_id, seed):
    if different_speakers:
        if not 1 <= test_spk_id <= 10:
            raise ValueError(f"test_spk_id must be 1..10, got {test_spk_id}")
        valid_spk_id = test_spk_id + 1 if test_spk_id % 2 else test_spk_id - 1
        return (
            [row for row in rows if row["spk_id"] not in (test_spk_id, valid_spk_id)],
            [row for row in rows if row["spk_id"] == valid_spk_id],
            [row for row in rows if row["spk_id"] == test_spk_id],
        )
    if len(split_ratio) != 3 or sum(split_ratio) != 100:
        raise ValueError(f"split_ratio must be three percentages summing to 100, got {split_ratio}")
    shuffled = sorted(rows, key=lambda row: row["ID"])
    random.Random(seed).shuffle(shuffled)
    train_end = len(shuffled) * split_ratio[0] // 100
    valid_end = train_end + len(shuffled) * split_ratio[1] // 100
    return shuffled[:train_end], shuffled[train_end:valid_end], shuffled[valid_end:]


def _write_json(path, rows):
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(
            {row["ID"]: {key: row[key] for key in ("wav", "length", "emo", "spk_id")} for row in rows}, handle, indent=1
        )
    os.replace(temporary, path)


def prepare_iemocap(
    data_folder,
    save_json_train,
    save_json_valid,
    save_json_test,
    split_ratio=[80, 10, 10],
    different_speakers=False,
    test_spk_id=1,
    seed=12,
    skip_prep=False,
):
    """Writes the train / valid / test JSON manifests of IEMOCAP four-class emotion recognition.

    Arguments
    ---------
    data_folder : str
        ``IEMOCAP_full_release`` (holding ``Session1`` ... ``Session5``).
    save_json_train, save_json_valid, save_json_test : str
        Output JSON paths (the options JSON goes next to ``save_json_train``).
    split_ratio : list of int
        Train / valid / test percentages of the random split (``different_speakers=False``).
    different_speakers : bool
        Split by speaker: ``test_spk_id`` for test, its session partner for validation.
    test_spk_id : int
        1-10, see :func:`speaker_number`.
    seed : int
        Seed of the random split.
    skip_prep : bool
        Do nothing.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> root = mini.layout("iemocap", getfixture("tmp_path_factory").getbasetemp() / "mini")
    >>> tmp = getfixture("tmp_path")
    >>> prepare_iemocap(root, tmp / "train.json", tmp / "valid.json", tmp / "test.json", different_speakers=True)
    >>> sorted({item["emo"] for item in json.load(open(tmp / "test.json")).values()})
    ['ang', 'hap', 'neu', 'sad']
    """
    if skip_prep:
        return
    data_folder = os.path.abspath(data_folder)
    outputs = [os.path.abspath(path) for path in (save_json_train, save_json_valid, save_json_test)]
    save_folder = os.path.dirname(outputs[0])
    options = {
        "data_folder": data_folder,
        "outputs": outputs,
        "split_ratio": list(split_ratio),
        "different_speakers": different_speakers,
        "test_spk_id": test_spk_id,
        "seed": seed,
    }
    if already_prepared(save_folder, OPTIONS_FILE, options, outputs):
        return
    require_folder(data_folder, "IEMOCAP data_folder")
    rows = _read_sessions(data_folder)
    add_durations(rows, "IEMOCAP", key="length", sample_rate=SAMPLE_RATE)
    for path, split_rows in zip(outputs, _split(rows, split_ratio, different_speakers, test_spk_id, seed)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_json(path, split_rows)
    write_options(save_folder, OPTIONS_FILE, options)
