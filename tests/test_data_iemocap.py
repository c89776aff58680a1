"""IEMOCAP layout of the mini corpus and emotion manifests."""

import json
import os
import shutil

import pytest
import soundfile as sf

from summarymixing.data import mini
from summarymixing.data.iemocap import prepare_iemocap, read_emo_evaluation
from summarymixing.data.manifest import DatasetError

STYLE_TO_EMOTION = {"neutral": "neu", "happy": "hap", "sad": "sad", "angry": "ang"}


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    return mini.layout("iemocap", tmp_path_factory.getbasetemp() / "mini")


def _prepare(root, folder, **options):
    paths = [folder / f"{name}.json" for name in ("train", "valid", "test")]
    prepare_iemocap(root, *paths, **options)
    return [json.load(open(path)) for path in paths]


def test_layout_has_sessions_label_files_and_wavs(iemocap):
    assert sorted(name for name in os.listdir(iemocap) if name.startswith("Session")) == [
        f"Session{i}" for i in range(1, 6)
    ]
    label_file = os.path.join(iemocap, "Session1", "dialog", "EmoEvaluation", "Ses01F_impro01.txt")
    with open(label_file) as handle:
        assert handle.readline().startswith("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]")
    labels = read_emo_evaluation(label_file)
    assert set(labels.values()) == {"neu", "hap", "sad", "ang"}
    turn = sorted(labels)[0]
    info = sf.info(os.path.join(iemocap, "Session1", "sentences", "wav", "Ses01F_impro01", turn + ".wav"))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "WAV")


def test_leave_one_session_out_matches_the_pool(iemocap, tmp_path):
    train, valid, test = _prepare(iemocap, tmp_path, different_speakers=True, test_spk_id=3)
    ids, pool = mini.layout_ids(iemocap), mini.pool_by_id()
    actors = {speaker: (session, sex) for session, sex, speaker in mini.iemocap_speakers()}
    assert len(train) + len(valid) + len(test) == sum(row["speaker"] in actors for row in mini.pool_rows("en"))
    assert {item["spk_id"] for item in test.values()} == {3} and {item["spk_id"] for item in valid.values()} == {4}
    assert all(item["spk_id"] not in (3, 4) for item in train.values())
    for manifest in (train, valid, test):
        for turn, item in manifest.items():
            source = pool[ids[turn]]
            assert item["emo"] == STYLE_TO_EMOTION[source["style"]]
            assert item["length"] == pytest.approx(source["duration"], abs=1e-3)
            session, sex = actors[source["speaker"]]
            assert turn.startswith(f"Ses{session:02d}") and turn.rsplit("_", 1)[1][0] == sex


def test_random_split_follows_the_ratio_and_the_seed(iemocap, tmp_path):
    train, valid, test = _prepare(iemocap, tmp_path / "a", split_ratio=[80, 10, 10], seed=3)
    total = len(train) + len(valid) + len(test)
    assert len(train) == total * 80 // 100 and len(valid) == total * 10 // 100
    again = _prepare(iemocap, tmp_path / "b", split_ratio=[80, 10, 10], seed=3)
    assert again == [train, valid, test]
    written = os.path.getmtime(tmp_path / "a" / "train.json")
    _prepare(iemocap, tmp_path / "a", split_ratio=[80, 10, 10], seed=3)
    assert os.path.getmtime(tmp_path / "a" / "train.json") == written


def test_excited_merges_into_happy_and_other_labels_are_dropped(iemocap, tmp_path):
    copy = tmp_path / "IEMOCAP"
    shutil.copytree(iemocap, copy)
    label_file = copy / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    text = label_file.read_text()
    text = text.replace("_F000\tneu\t", "_F000\texc\t").replace("_M000\tneu\t", "_M000\tfru\t")
    label_file.write_text(text)
    train, valid, test = _prepare(copy, tmp_path, split_ratio=[100, 0, 0])
    assert train["Ses01F_impro01_F000"]["emo"] == "hap" and "Ses01F_impro01_M000" not in train


def test_errors_name_the_file_and_the_problem(iemocap, tmp_path):
    with pytest.raises(FileNotFoundError, match="no Session1..Session5"):
        _prepare(tmp_path, tmp_path / "a")
    copy = tmp_path / "IEMOCAP"
    shutil.copytree(iemocap, copy)
    wav = copy / "Session2" / "sentences" / "wav" / "Ses02F_impro01" / "Ses02F_impro01_F000.wav"
    sf.write(wav, [], 16000)
    with pytest.raises(DatasetError, match="empty audio .*Ses02F_impro01_F000.wav"):
        _prepare(copy, tmp_path / "a")
    wav.unlink()
    with pytest.raises(DatasetError, match="label without audio .*Ses02F_impro01.txt, turn Ses02F_impro01_F000"):
        _prepare(copy, tmp_path / "a")
    with pytest.raises(ValueError, match="test_spk_id must be 1..10"):
        _prepare(iemocap, tmp_path / "a", different_speakers=True, test_spk_id=11)
    assert not os.path.exists(tmp_path / "a" / "train.json")
