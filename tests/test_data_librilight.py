"""Libri-Light layout of the mini corpus and VAD-segment preparation."""

import json
import os
import shutil

import pytest

from summarymixing.data import mini
from summarymixing.data.librilight import prepare_librilight, training_segments
from summarymixing.data.manifest import DatasetError, read_csv


@pytest.fixture(scope="module")
def librilight(tmp_path_factory):
    return mini.layout("librilight", tmp_path_factory.getbasetemp() / "mini")


def _files(root):
    for directory, _, names in os.walk(os.path.join(root, "small")):
        for name in sorted(names):
            if name.endswith(".json"):
                yield os.path.join(directory, name)


def test_layout_has_flac_and_voice_activity_json_per_file(librilight):
    pool, ids = mini.pool_by_id(), mini.layout_ids(librilight)
    jsons = list(_files(librilight))
    assert len(jsons) == len(ids)
    assert sum(len(members) for members in ids.values()) == len(mini.pool_rows("en", "train"))
    for path in jsons:
        with open(path) as handle:
            metadata = json.load(handle)
        assert {"speaker", "book_meta", "snr", "voice_activity"} <= set(metadata)
        assert os.path.basename(os.path.dirname(os.path.dirname(path))) == metadata["speaker"]
        assert os.path.isfile(path[: -len(".json")] + ".flac")
        members = ids[os.path.basename(path)[: -len(".json")]]
        lengths = [offset - onset for onset, offset in metadata["voice_activity"]]
        expected = [pool[member]["duration"] - 2 * mini.PAD_SECONDS for member in members]
        assert lengths == pytest.approx(expected, abs=2e-3)


@pytest.mark.parametrize("bounds", [(2.0, 8.0), (10.0, 30.0)])
def test_segments_respect_bounds_and_voice_activity(librilight, tmp_path, bounds):
    low, high = bounds
    prepare_librilight(librilight, tmp_path, min_duration=low, max_duration=high)
    rows = read_csv(tmp_path / "small.csv")
    assert list(rows[0]) == ["ID", "duration", "wav", "start", "stop", "spk_id"]
    assert len({row["ID"] for row in rows}) == len(rows) > 10
    onsets, offsets = {}, {}
    for path in _files(librilight):
        with open(path) as handle:
            voice_activity = json.load(handle)["voice_activity"]
        flac = path[: -len(".json")] + ".flac"
        onsets[flac] = {round(onset * 16000) for onset, _ in voice_activity}
        offsets[flac] = {round(offset * 16000) for _, offset in voice_activity}
    for row in rows:
        start, stop = int(row["start"]), int(row["stop"])
        assert low <= float(row["duration"]) <= high
        assert float(row["duration"]) == pytest.approx((stop - start) / 16000)
        assert start in onsets[row["wav"]] and stop in offsets[row["wav"]]
        assert row["wav"].endswith(".flac") and row["spk_id"] in row["wav"]
    covered = sum(float(row["duration"]) for row in rows)
    speech = sum(row["duration"] - 0.2 for row in mini.pool_rows("en", "train"))
    assert covered >= 0.8 * speech


def test_training_segments_cut_long_activity_and_drop_short_leftovers():
    assert training_segments([[0, 65]], 10, 30) == [(0, 30), (30, 60)]
    assert training_segments([[0, 3], [40, 45]], 4, 30) == [(40, 45)]
    with pytest.raises(ValueError, match="min_duration <= max_duration"):
        training_segments([], 30, 10)


def test_second_call_is_a_no_op_and_changed_bounds_rewrite(librilight, tmp_path):
    prepare_librilight(librilight, tmp_path, min_duration=2.0, max_duration=8.0)
    written = os.path.getmtime(tmp_path / "small.csv")
    prepare_librilight(librilight, tmp_path, min_duration=2.0, max_duration=8.0)
    assert os.path.getmtime(tmp_path / "small.csv") == written
    prepare_librilight(librilight, tmp_path, min_duration=3.0, max_duration=8.0)
    assert min(float(row["duration"]) for row in read_csv(tmp_path / "small.csv")) >= 3.0


def test_errors_name_the_file_and_the_problem(librilight, tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match="subset 'medium'"):
        prepare_librilight(librilight, tmp_path / "a", subsets=["medium"])
    copy = tmp_path / "librilight"
    shutil.copytree(librilight, copy)
    first = next(_files(copy))
    metadata = json.loads(open(first).read())
    metadata["voice_activity"][-1][1] += 100
    open(first, "w").write(json.dumps(metadata))
    with pytest.raises(DatasetError, match=f"{os.path.basename(first)}: voice activity ends at"):
        prepare_librilight(copy, tmp_path / "a", min_duration=2, max_duration=8)
    metadata["voice_activity"] = [[3, 2]]
    open(first, "w").write(json.dumps(metadata))
    with pytest.raises(DatasetError, match="not a sorted"):
        prepare_librilight(copy, tmp_path / "a", min_duration=2, max_duration=8)
    os.remove(first)
    with caplog.at_level("WARNING"):
        prepare_librilight(copy, tmp_path / "b", min_duration=2, max_duration=8)
    assert "1 .flac files have no .json voice-activity file and are left out" in caplog.text
    open(first, "w").write(json.dumps(metadata))
    os.remove(first[: -len(".json")] + ".flac")
    with pytest.raises(DatasetError, match="metadata without audio .*flac is missing"):
        prepare_librilight(copy, tmp_path / "a", min_duration=2, max_duration=8)
    assert not os.path.exists(tmp_path / "a" / "small.csv")
