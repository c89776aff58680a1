"""VoxPopuli layout of the mini corpus and ASR manifests."""

import os
import shutil

import pytest
import soundfile as sf

from summarymixing.data import mini
from summarymixing.data.manifest import DatasetError, read_csv
from summarymixing.data.voxpopuli import prepare_voxpopuli


@pytest.fixture(scope="module")
def voxpopuli(tmp_path_factory):
    root = mini.layout("voxpopuli", tmp_path_factory.getbasetemp() / "mini")
    return os.path.join(root, "transcribed_data", "en")


def test_layout_has_year_folders_of_ogg_and_asr_tsvs(voxpopuli):
    names = set(os.listdir(voxpopuli))
    assert {"asr_train.tsv", "asr_dev.tsv", "asr_test.tsv", "2019", "2020"} <= names
    with open(os.path.join(voxpopuli, "asr_test.tsv")) as handle:
        assert handle.readline().rstrip("\n").split("\t") == [
            "id",
            "raw_text",
            "normalized_text",
            "speaker_id",
            "split",
            "gender",
            "is_gold_transcript",
            "accent",
        ]
        segment = handle.readline().split("\t")[0]
    info = sf.info(os.path.join(voxpopuli, segment[:4], segment + ".ogg"))
    assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "OGG", "VORBIS")


def test_manifests_match_the_pool(voxpopuli, tmp_path):
    prepare_voxpopuli(voxpopuli, tmp_path)
    ids, pool = mini.layout_ids(os.path.dirname(os.path.dirname(voxpopuli))), mini.pool_by_id()
    expected = {split: len(mini.pool_rows("en", split)) for split in ("dev", "test")}
    expected["train"] = 20 * len({row["speaker"] for row in mini.pool_rows("en", "train")})
    speakers = {}
    for split, count in expected.items():
        rows = read_csv(tmp_path / f"{split}.csv")
        assert len(rows) == count
        for row in rows:
            source = pool[ids[row["ID"]]]
            assert source["split"] == split and row["wrd"] == source["text"]
            assert float(row["duration"]) == pytest.approx(source["duration"], abs=1e-3)
        speakers[split] = {row["spk_id"] for row in rows}
    assert not speakers["train"] & speakers["test"]
    written = os.path.getmtime(tmp_path / "train.csv")
    prepare_voxpopuli(voxpopuli, tmp_path)
    assert os.path.getmtime(tmp_path / "train.csv") == written


def test_long_segments_are_left_out(voxpopuli, tmp_path):
    prepare_voxpopuli(voxpopuli, tmp_path, remove_if_longer_than=2.0)
    rows = read_csv(tmp_path / "test.csv")
    assert rows and all(float(row["duration"]) < 2.0 for row in rows)
    assert len(rows) == sum(r["duration"] < 2.0 for r in mini.pool_rows("en", "test"))


def test_errors_name_the_file_and_the_problem(voxpopuli, tmp_path):
    with pytest.raises(FileNotFoundError, match="VoxPopuli dev split not found"):
        prepare_voxpopuli(voxpopuli, tmp_path / "a", dev_tsv_file=str(tmp_path / "none.tsv"))
    copy = tmp_path / "en"
    shutil.copytree(voxpopuli, copy)
    lines = (copy / "asr_test.tsv").read_text().splitlines(keepends=True)
    segment = lines[1].split("\t")[0]
    ogg = copy / segment[:4] / f"{segment}.ogg"
    ogg.write_bytes(b"OggS broken")
    with pytest.raises(DatasetError, match=f"unreadable audio .*{segment}.ogg"):
        prepare_voxpopuli(copy, tmp_path / "a")
    ogg.unlink()
    with pytest.raises(DatasetError, match=f"transcript without audio .*asr_test.tsv line 2.*{segment}.ogg"):
        prepare_voxpopuli(copy, tmp_path / "a")
    (copy / "asr_test.tsv").write_text("".join(lines[:1] + lines[2:] + lines[2:3]))
    with pytest.raises(DatasetError, match="duplicate id"):
        prepare_voxpopuli(copy, tmp_path / "a")
    assert not os.path.exists(tmp_path / "a" / "test.csv")
