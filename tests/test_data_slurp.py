"""SLURP layout of the mini corpus and preparation."""

import ast
import json
import os
import shutil

import pytest

from summarymixing.data import mini
from summarymixing.data.manifest import DatasetError, read_csv
from summarymixing.data.slurp import prepare_slurp


@pytest.fixture(scope="module")
def slurp(tmp_path_factory):
    root = mini.layout("slurp", tmp_path_factory.getbasetemp() / "mini")
    save = tmp_path_factory.mktemp("slurp_csv")
    prepare_slurp(root, save)
    return root, save


def test_layout_groups_recordings_per_sentence(slurp):
    root, _ = slurp
    with open(os.path.join(root, "dataset", "slurp", "test.jsonl")) as handle:
        records = [json.loads(line) for line in handle]
    assert len({record["sentence"] for record in records}) == len(records)
    assert sum(len(record["recordings"]) for record in records) == len(mini.pool_rows("en", "test"))
    for record in records:
        assert record["intent"] == f"{record['scenario']}_{record['action']}"
        for recording in record["recordings"]:
            assert os.path.isfile(os.path.join(root, "slurp_real", recording["file"]))


def test_manifests_match_the_pool(slurp):
    root, save = slurp
    ids, pool = mini.layout_ids(root), mini.pool_by_id()
    counts = {}
    for split, pool_split in [
        ("train_real", "train"),
        ("train_synthetic", "train"),
        ("devel", "dev"),
        ("test", "test"),
    ]:
        rows = read_csv(save / f"{split}-type=direct.csv")
        counts[split] = len(rows)
        for row in rows:
            source = pool[ids[row["ID"]]]
            assert source["split"] == pool_split and row["transcript"] == source["text"].upper()
            assert (row["scenario"], row["action"], row["intent"]) == (
                source["scenario"],
                source["action"],
                source["intent"],
            )
            assert float(row["duration"]) == pytest.approx(source["duration"], abs=1e-3)
            semantics = ast.literal_eval(row["semantics"].replace("|", ","))
            assert (semantics["scenario"], semantics["action"]) == (source["scenario"], source["action"])
            for entity in semantics["entities"]:
                assert f"[{entity['type']} : {entity['filler']}]" in source["annotation"]
            assert len(semantics["entities"]) == source["annotation"].count("[")
    assert counts["train_real"] + counts["train_synthetic"] == len(mini.pool_rows("en", "train"))
    assert counts["train_synthetic"] > 0


def test_second_call_is_a_no_op(slurp):
    root, save = slurp
    written = os.path.getmtime(save / "test-type=direct.csv")
    prepare_slurp(root, save)
    assert os.path.getmtime(save / "test-type=direct.csv") == written


def test_errors_name_the_file_and_the_problem(slurp, tmp_path):
    root, _ = slurp
    with pytest.raises(ValueError, match="unknown SLURP split"):
        prepare_slurp(root, tmp_path, ["dev"])
    copy = tmp_path / "SLURP"
    shutil.copytree(os.path.join(root, "dataset"), copy / "dataset")
    os.makedirs(copy / "slurp_real")
    with pytest.raises(DatasetError, match="transcript without audio .*test.jsonl line 1"):
        prepare_slurp(copy, tmp_path / "a", ["test"])
    records = [json.loads(line) for line in (copy / "dataset" / "slurp" / "test.jsonl").read_text().splitlines()]
    (copy / "dataset" / "slurp" / "test.jsonl").write_text('{"sentence": "hello"}\n')
    with pytest.raises(DatasetError, match=r"test.jsonl line 1: a SLURP record needs the key\(s\) \['recordings'"):
        prepare_slurp(copy, tmp_path / "a", ["test"])
    without_tokens = {key: value for key, value in records[0].items() if key != "tokens"}
    (copy / "dataset" / "slurp" / "test.jsonl").write_text(json.dumps(without_tokens) + "\n")
    with pytest.raises(DatasetError, match=r"test.jsonl line 1: a SLURP record needs the key\(s\) \['tokens'\]"):
        prepare_slurp(copy, tmp_path / "a", ["test"])
    without_file = {**records[0], "recordings": [{"wer": 0.0}]}
    (copy / "dataset" / "slurp" / "test.jsonl").write_text(json.dumps(without_file) + "\n")
    with pytest.raises(DatasetError, match="test.jsonl line 1: a recording without a 'file'"):
        prepare_slurp(copy, tmp_path / "a", ["test"])
    (copy / "dataset" / "slurp" / "test.jsonl").write_text(json.dumps(records))
    with pytest.raises(DatasetError, match="test.jsonl holds a JSON array; SLURP files are JSON Lines"):
        prepare_slurp(copy, tmp_path / "a", ["test"])
    os.remove(copy / "dataset" / "slurp" / "devel.jsonl")
    with pytest.raises(FileNotFoundError, match="split 'devel' not found"):
        prepare_slurp(copy, tmp_path / "a", ["devel"])
