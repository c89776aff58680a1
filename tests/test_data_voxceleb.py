"""VoxCeleb1 layout of the mini corpus and speaker-verification manifests."""

import os
import shutil

import pytest

from summarymixing.data import mini
from summarymixing.data.manifest import DatasetError, read_csv
from summarymixing.data.voxceleb import prepare_voxceleb, read_trials


@pytest.fixture(scope="module")
def voxceleb(tmp_path_factory):
    return mini.layout("voxceleb1", tmp_path_factory.getbasetemp() / "mini")


def _trials(root):
    return os.path.join(root, "meta", "veri_test2.txt")


def test_trial_list_is_balanced_over_unseen_speakers(voxceleb):
    trials = read_trials(_trials(voxceleb))
    ids, pool = mini.layout_ids(voxceleb), mini.pool_by_id()
    assert sum(label for label, _, _ in trials) * 2 == len(trials) > 100
    for label, enrol, test in trials:
        speakers = [pool[ids[path[: -len(".wav")]]]["speaker"] for path in (enrol, test)]
        assert (speakers[0] == speakers[1]) == bool(label)
        assert all(pool[ids[path[: -len(".wav")]]]["split"] != "train" for path in (enrol, test))
        assert os.path.isfile(os.path.join(voxceleb, "wav", enrol)) and enrol.split("/")[0].startswith("id1027")


def test_manifests_hold_out_trial_speakers_and_match_the_pool(voxceleb, tmp_path):
    prepare_voxceleb(voxceleb, tmp_path, _trials(voxceleb), seg_dur=1.0)
    ids, pool = mini.layout_ids(voxceleb), mini.pool_by_id()
    train, dev = read_csv(tmp_path / "train.csv"), read_csv(tmp_path / "dev.csv")
    enrol, test = read_csv(tmp_path / "enrol.csv"), read_csv(tmp_path / "test.csv")
    assert list(train[0]) == ["ID", "duration", "wav", "start", "stop", "spk_id"]
    held_out = {row["spk_id"] for row in enrol + test}
    assert not held_out & {row["spk_id"] for row in train + dev}
    assert {row["spk_id"] for row in train} == {
        mini.voxceleb_speakers()[r["speaker"]] for r in mini.pool_rows("en", "train")
    }
    for row in train + dev:
        assert int(row["stop"]) - int(row["start"]) == 16000 and float(row["duration"]) == 1.0
        source = pool[ids[os.path.relpath(row["wav"], os.path.join(voxceleb, "wav"))[: -len(".wav")]]]
        assert int(row["stop"]) <= source["duration"] * 16000 + 1
    assert len(train) + len(dev) == sum((r["stop"] - r["start"]) // 16000 for r in mini.pool_rows("en", "train"))
    for row in enrol + test:
        source = pool[ids[row["ID"]]]
        assert float(row["duration"]) == pytest.approx(source["duration"], abs=1e-3)
        assert int(row["start"]) == 0 and int(row["stop"]) == round(float(row["duration"]) * 16000)


def test_random_segment_and_speaker_split(voxceleb, tmp_path):
    prepare_voxceleb(
        voxceleb,
        tmp_path,
        _trials(voxceleb),
        splits=["train", "dev"],
        random_segment=True,
        split_speaker=True,
        split_ratio=[80, 20],
    )
    train, dev = read_csv(tmp_path / "train.csv"), read_csv(tmp_path / "dev.csv")
    assert len(train) + len(dev) == len(mini.pool_rows("en", "train"))
    assert not {row["spk_id"] for row in train} & {row["spk_id"] for row in dev}
    assert len({row["spk_id"] for row in dev}) == 4
    written = os.path.getmtime(tmp_path / "train.csv")
    prepare_voxceleb(
        voxceleb,
        tmp_path,
        _trials(voxceleb),
        splits=["train", "dev"],
        random_segment=True,
        split_speaker=True,
        split_ratio=[80, 20],
    )
    assert os.path.getmtime(tmp_path / "train.csv") == written


def test_amplitude_threshold_drops_silent_chunks(voxceleb, tmp_path):
    prepare_voxceleb(voxceleb, tmp_path, _trials(voxceleb), splits=["dev"], seg_dur=1.0, amp_th=1.0)
    assert read_csv(tmp_path / "dev.csv") == []


def test_errors_name_the_file_and_the_problem(voxceleb, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 id10270/a/00001.wav\n")
    with pytest.raises(DatasetError, match="bad.txt line 1: expected 'label enrol test'"):
        prepare_voxceleb(voxceleb, tmp_path / "a", bad)
    with pytest.raises(DatasetError, match="verification trial list: .*nothing.txt is missing"):
        prepare_voxceleb(voxceleb, tmp_path / "a", tmp_path / "nothing.txt")
    copy = tmp_path / "vox"
    shutil.copytree(voxceleb, copy)
    enrol = read_trials(_trials(copy))[0][1]
    os.remove(copy / "wav" / enrol)
    with pytest.raises(DatasetError, match=f"trial without audio .*veri_test2.txt.*{enrol}"):
        prepare_voxceleb(copy, tmp_path / "a", _trials(copy), splits=["test"])
    with pytest.raises(FileNotFoundError, match="VoxCeleb wav folder"):
        prepare_voxceleb(tmp_path, tmp_path / "a", _trials(copy))
