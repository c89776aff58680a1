"""AISHELL-1 and TED-LIUM 2 preparation on small trees in each corpus's on-disk layout.

AISHELL-1: per-speaker ``.tar.gz`` archives (as distributed) and unpacked folders, the transcript file, recordings
without transcripts; interrupted unpacking, unsafe archives. TED-LIUM 2: talks as NIST SPHERE files with STM
segment files; every kept segment, read back through the recipes' dataset code, is exactly the audio it names.
"""

import csv
import io
import os
import tarfile

import numpy as np
import pytest
import soundfile as sf
import torch

from summarymixing.data.aishell import prepare_aishell
from summarymixing.data.manifest import DatasetError
from summarymixing.data.speech_text import speech_text_datasets
from summarymixing.data.tedlium2 import prepare_tedlium2

RATE = 16000


def rows(path):
    with open(path, encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def wav_bytes(seconds, seed):
    buffer = io.BytesIO()
    audio = np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * RATE))
    sf.write(buffer, audio, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def add_to_tar(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def aishell(tmp_path):
    """data_aishell with S0002 (train) and S0724 (dev) as archives, S0764 (test) unpacked; S0002W0003 untranscribed."""
    root = tmp_path / "data_aishell"
    os.makedirs(root / "wav")
    for split, speaker in [("train", "S0002"), ("dev", "S0724")]:
        with tarfile.open(root / "wav" / f"{speaker}.tar.gz", "w:gz") as tar:
            for number in (1, 2, 3):
                add_to_tar(tar, f"{split}/{speaker}/BAC009{speaker}W000{number}.wav", wav_bytes(0.5, number))
    os.makedirs(root / "wav" / "test" / "S0764")
    for number in (1, 2):
        (root / "wav" / "test" / "S0764" / f"BAC009S0764W000{number}.wav").write_bytes(wav_bytes(0.25, number))
    os.makedirs(root / "transcript")
    lines = [f"BAC009S0002W000{n} 而 对 楼市 成交\n" for n in (1, 2)]
    lines += [f"BAC009S0724W000{n} 也 成为 地方\n" for n in (1, 2, 3)]
    lines += [f"BAC009S0764W000{n} 甚至 出现  交易\n" for n in (1, 2)]
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text("".join(lines), encoding="utf-8")
    return root


def test_aishell_unpacks_archives_keeps_them_and_writes_the_manifests(aishell, tmp_path, caplog):
    prepare_aishell(str(aishell), str(tmp_path / "out"))
    train, dev, test = (rows(tmp_path / "out" / f"{split}.csv") for split in ("train", "dev", "test"))
    assert [row["ID"] for row in train] == ["BAC009S0002W0001", "BAC009S0002W0002"]
    assert "1 recordings have no transcript" in caplog.text
    assert len(dev) == 3 and len(test) == 2
    assert test[0]["wrd"] == "甚至 出现 交易" and test[0]["spk_id"] == "S0764"
    assert float(train[0]["duration"]) == 0.5 and os.path.isfile(train[0]["wav"])
    assert sorted(os.listdir(aishell / "wav")) == ["S0002.tar.gz", "S0724.tar.gz", "dev", "test", "train"]
    prepare_aishell(str(aishell), str(tmp_path / "out"), remove_compressed_wavs=True)  # prepared: nothing to do
    assert os.path.isfile(aishell / "wav" / "S0002.tar.gz")


def test_aishell_resumes_an_interrupted_unpacking_and_removes_archives_on_request(aishell, tmp_path):
    os.makedirs(aishell / "wav" / ".unpacking-S0002" / "train" / "S0002")  # killed while unpacking S0002
    prepare_aishell(str(aishell), str(tmp_path / "out"), remove_compressed_wavs=True)
    assert sorted(os.listdir(aishell / "wav")) == ["dev", "test", "train"]
    assert len(os.listdir(aishell / "wav" / "train" / "S0002")) == 3


def test_aishell_errors_name_the_problem(aishell, tmp_path):
    with tarfile.open(aishell / "wav" / "S0999.tar.gz", "w:gz") as tar:
        add_to_tar(tar, "../../escaped.wav", wav_bytes(0.1, 0))
    with pytest.raises(DatasetError, match="S0999.tar.gz"):
        prepare_aishell(str(aishell), str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "escaped.wav")
    os.remove(aishell / "wav" / "S0999.tar.gz")
    os.remove(aishell / "transcript" / "aishell_transcript_v0.8.txt")
    with pytest.raises(DatasetError, match="AISHELL-1 transcript file: .*aishell_transcript_v0.8.txt is missing"):
        prepare_aishell(str(aishell), str(tmp_path / "out"))


TALKS = {  # talk -> [(start s, end s, words)], in the STM's order
    "AlGore_2009": [(0.5, 2.0, "we 've got to act now ."), (2.0, 2.4, "too short"),
                    (2.6, 4.1, "ignore_time_segment_in_scoring"), (4.1, 5.9, "it 's time")],
    "JaneDoe_2010X": [(0.0, 1.5, "hello"), (1.5, 3.25, "thank you all")],
}  # fmt: skip


@pytest.fixture
def tedlium(tmp_path):
    """TEDLIUM_release2 with the same two talks in every split (int16 audio, so reading back is exact)."""
    root = tmp_path / "TEDLIUM_release2"
    audio = {}
    for split in ("train", "dev", "test"):
        os.makedirs(root / split / "sph")
        os.makedirs(root / split / "stm")
        for seed, (talk, segments) in enumerate(TALKS.items()):
            samples = np.random.default_rng(seed).integers(-8000, 8000, int(6.0 * RATE), dtype=np.int16)
            sf.write(root / split / "sph" / f"{talk}.sph", samples, RATE, format="NIST", subtype="PCM_16")
            audio[talk] = samples
            lines = [f"{talk} 1 {talk} {start} {end} <o,f0,male> {words}\n" for start, end, words in segments]
            (root / split / "stm" / f"{talk}.stm").write_text("".join(lines))
    return root, audio


def test_tedlium_segments_are_read_in_place_exactly(tedlium, tmp_path):
    root, audio = tedlium
    prepare_tedlium2(str(root), str(tmp_path / "out"))
    test = rows(tmp_path / "out" / "test.csv")
    assert [(row["ID"], row["wrd"]) for row in test] == [
        ("AlGore_2009-0", "we've got to act now"),
        ("AlGore_2009-3", "it's time"),
        ("JaneDoe_2010X-1", "thank you all"),
    ]
    assert (test[1]["start"], test[1]["stop"], test[1]["duration"]) == ("65600", "94400", "1.8")

    class Words:
        def encode_as_ids(self, text):
            return [len(word) for word in text.split()]

    out = tmp_path / "out"
    hparams = {
        "data_folder": str(root), "train_csv": str(out / "train.csv"), "valid_csv": str(out / "dev.csv"),
        "test_csv": [str(out / "test.csv")], "sorting": "random", "avoid_if_longer_than": 100.0, "bos_index": 1,
        "dynamic_batching": False, "train_dataloader_opts": {"batch_size": 1},
    }  # fmt: skip
    _, _, tests, _ = speech_text_datasets(hparams, Words(), eos_index=2)
    for item in tests["test"]:
        row = next(row for row in test if row["ID"] == item["id"])
        talk = item["id"].rsplit("-", 1)[0]
        expected = torch.from_numpy(audio[talk][int(row["start"]) : int(row["stop"])] / 32768.0).float()
        assert torch.equal(item["sig"], expected), item["id"]


def test_tedlium_segment_past_the_recording_is_cut_or_refused(tedlium, tmp_path):
    root, _ = tedlium
    stm = root / "dev" / "stm" / "JaneDoe_2010X.stm"
    stm.write_text("JaneDoe_2010X 1 JaneDoe_2010X 4.0 6.3 <o,f0,male> slightly past the end\n")
    prepare_tedlium2(str(root), str(tmp_path / "cut"))
    assert rows(tmp_path / "cut" / "dev.csv")[-1]["stop"] == str(6 * RATE)
    stm.write_text("JaneDoe_2010X 1 JaneDoe_2010X 4.0 9.0 <o,f0,male> far past the end\n")
    with pytest.raises(DatasetError, match=r"JaneDoe_2010X-0 ends at 9.0 s, after the end of .*JaneDoe_2010X.sph"):
        prepare_tedlium2(str(root), str(tmp_path / "refused"))
    os.remove(root / "dev" / "sph" / "JaneDoe_2010X.sph")
    with pytest.raises(DatasetError, match="transcript without audio: .*JaneDoe_2010X.stm"):
        prepare_tedlium2(str(root), str(tmp_path / "missing"))
