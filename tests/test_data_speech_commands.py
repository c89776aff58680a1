"""Speech Commands v2 preparation on a small tree in the real layout: word folders, the official split lists,
``_background_noise_``, the official 12-class test set."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.dataio.dataio import read_audio

from summarymixing.data.manifest import DatasetError, read_csv
from summarymixing.data.speech_commands import COMMANDS, SILENCE, UNKNOWN, WORDS, prepare_speech_commands

RATE = 16000


def clip(path, seconds=0.25, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    samples = np.random.default_rng(seed).integers(-8000, 8000, int(seconds * RATE), dtype=np.int16)
    sf.write(path, samples, RATE, subtype="PCM_16")
    return samples


@pytest.fixture
def speech_commands(tmp_path):
    """Every word with 10 clips of 5 speakers; speaker 0 is listed for validation, speaker 1 for testing."""
    root = tmp_path / "speech_commands_v0.02"
    validation, testing = [], []
    for seed, word in enumerate(WORDS):
        for speaker in range(5):
            for number in range(2):
                name = f"{word}/{speaker:08x}_nohash_{number}.wav"
                clip(str(root / name), seed=seed)
                (validation if speaker == 0 else testing if speaker == 1 else []).append(name)
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    noise = {"white_noise": clip(str(root / "_background_noise_" / "white_noise.wav"), 3.0, 1)}
    clip(str(root / "_background_noise_" / "short.wav"), 0.5, 2)
    return root, noise


def test_twelve_classes_follow_the_lists_and_draw_unknown_and_silence(speech_commands, tmp_path):
    root, noise = speech_commands
    prepare_speech_commands(str(root), str(tmp_path / "out"), percentage_unknown=20, percentage_silence=10)
    train, valid, test = (read_csv(tmp_path / "out" / f"{split}.csv") for split in ("train", "valid", "test"))
    assert {row["spk_id"] for row in valid} - {SILENCE} == {"00000000"}
    assert {row["spk_id"] for row in test} - {SILENCE} == {"00000001"}
    assert not {row["ID"] for row in train} & {row["ID"] for row in valid + test}
    commands = [row for row in train if row["label"] in COMMANDS]
    assert len(commands) == 10 * 3 * 2  # every command clip of the three training speakers
    assert sum(row["label"] == UNKNOWN for row in train) == 12 and sum(row["label"] == SILENCE for row in train) == 6
    assert {row["label"] for row in train} == {*COMMANDS, SILENCE, UNKNOWN}
    silence = next(row for row in valid if row["label"] == SILENCE)
    start, stop = int(silence["start"]), int(silence["stop"])
    assert silence["wav"].endswith("white_noise.wav") and stop - start == RATE  # the 0.5 s recording is too short
    excerpt = read_audio({"file": silence["wav"], "start": start, "stop": stop})
    assert torch.equal(excerpt, torch.from_numpy(noise["white_noise"][start:stop] / 32768.0).float())
    assert len(read_csv(tmp_path / "out" / "noise.csv")) == 2


def test_thirty_five_classes_and_the_official_test_set(speech_commands, tmp_path):
    root, _ = speech_commands
    prepare_speech_commands(str(root), str(tmp_path / "all"), num_classes=35)
    train = read_csv(tmp_path / "all" / "train.csv")
    assert {row["label"] for row in train} == set(WORDS) and len(train) == 35 * 3 * 2
    official = tmp_path / "speech_commands_test_set_v0.02"
    for label in ("yes", SILENCE, UNKNOWN):
        clip(str(official / label / f"abcdef01_nohash_{len(label)}.wav"))
    prepare_speech_commands(str(root), str(tmp_path / "official"), test_folder=str(official))
    test = read_csv(tmp_path / "official" / "test.csv")
    assert sorted(row["label"] for row in test) == sorted(["yes", SILENCE, UNKNOWN])
    with pytest.raises(ValueError, match="needs num_classes=12"):
        prepare_speech_commands(str(root), str(tmp_path / "bad"), num_classes=35, test_folder=str(official))


def test_errors_name_the_problem(speech_commands, tmp_path):
    root, _ = speech_commands
    with open(root / "testing_list.txt", "a") as listing:
        listing.write("yes/ffffffff_nohash_9.wav\n")
    with pytest.raises(DatasetError, match="testing_list.txt lists 1 clip.*yes/ffffffff_nohash_9.wav"):
        prepare_speech_commands(str(root), str(tmp_path / "out"))
    os.rename(root / "marvin", root / "marvn")
    with pytest.raises(DatasetError, match=r"lacks the word folder\(s\) \['marvin'\]"):
        prepare_speech_commands(str(root), str(tmp_path / "out"))
