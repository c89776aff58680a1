"""Direct SLU on SLURP: SLURP's metrics on hand-made cases with known answers, the preparation's merged training
manifest, and the mini recipe end to end with a tiny model (loss falls, ``slu.json``, the exported folder decodes
a file into a semantics string as the recipe did)."""

import json
import os

import pytest

from summarymixing.data import mini
from summarymixing.data.manifest import read_csv
from summarymixing.data.slurp import prepare_slurp
from summarymixing.recipe_brain import read_training_cost
from summarymixing.slu.metrics import SLURPScorer, char_distance, parse_semantics, word_distance

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frame(scenario, action, *entities):
    """A semantics string as the recipe writes it (commas as |)."""
    listed = [{"type": kind, "filler": filler} for kind, filler in entities]
    return str({"scenario": scenario, "action": action, "entities": listed}).replace(",", "|")


def test_slurp_metrics_on_cases_with_known_answers():
    scorer = SLURPScorer()
    gold = frame("alarm", "set", ("time", "seven am"), ("date", "monday"))
    scorer.append(["exact"], [gold], [gold])
    assert scorer.summarize() == {
        "scenario": 100.0, "action": 100.0, "intent": 100.0, "SLU-F1": 100.0, "word-F1": 100.0, "char-F1": 100.0,
    }  # fmt: skip
    scorer = SLURPScorer()
    scorer.append(
        ["wrong action, one entity of a wrong type", "garbled"],
        [frame("alarm", "query", ("time", "seven am"), ("place", "monday")), "{'scenario': 'alar"],
        [gold, frame("weather", "query", ("place", "paris"))],
    )
    summary = scorer.summarize()
    assert (summary["scenario"], summary["action"], summary["intent"]) == (50.0, 0.0, 0.0)
    # word and char alike: TP 1 (time), FP 1 (place: no gold place in the first), FN 2 (date; paris) -> F1 0.4
    assert summary["word-F1"] == pytest.approx(40.0) and summary["SLU-F1"] == pytest.approx(40.0)
    # a filler one word off: word distance 1/2, char distance 3/8, each counted as both FP and FN
    scorer = SLURPScorer()
    scorer.append(["near"], [frame("alarm", "set", ("time", "seven"))], [frame("alarm", "set", ("time", "seven am"))])
    summary = scorer.summarize()
    assert summary["word-F1"] == pytest.approx(100 * 1 / 1.5)
    assert summary["char-F1"] == pytest.approx(100 * 1 / 1.375)
    assert summary["SLU-F1"] == pytest.approx(100 * 2 / 2.875)
    # of two gold entities of one type, the closest filler is matched and used up
    scorer = SLURPScorer()
    two = frame("lists", "add", ("item", "milk"), ("item", "bread"))
    scorer.append(["two"], [frame("lists", "add", ("item", "bread"), ("item", "milk"))], [two])
    assert scorer.summarize()["SLU-F1"] == 100.0
    assert word_distance("a b", "a b c d") == 1.0 and char_distance("", "") == 0.0
    assert parse_semantics("[1, 2]") == {"scenario": None, "action": None, "entities": []}


def test_slurp_preparation_merges_the_training_splits(tmp_path):
    root = mini.layout("slurp", tmp_path / "mini")
    prepare_slurp(root, tmp_path / "csv", train_splits=["train_real", "train_synthetic"])
    real, synthetic, train = (read_csv(tmp_path / "csv" / f"{name}-type=direct.csv") for name in
                              ("train_real", "train_synthetic", "train"))  # fmt: skip
    assert [row["ID"] for row in train] == [row["ID"] for row in real + synthetic] and synthetic
    with pytest.raises(ValueError, match=r"train_splits \['train'\] are not among"):
        prepare_slurp(root, tmp_path / "bad", train_splits=["train"])


def test_mini_slu_recipe_trains_scores_and_exports(slu_run):
    output_folder = slu_run
    log = (output_folder / "train_log.txt").read_text().splitlines()
    losses = [float(line.split("train loss: ")[1].split(" ")[0]) for line in log]
    assert len(losses) == 3 and losses[-1] < losses[0]
    results = json.loads((output_folder / "slu.json").read_text())
    assert set(results["test-type=direct"]) == {"scenario", "action", "intent", "SLU-F1", "word-F1", "char-F1"}
    assert read_training_cost(output_folder)["epochs"] == 3

    from summarymixing.asr.inference import load_asr

    slu = load_asr(str(output_folder))
    hypotheses = json.loads((output_folder / "hypotheses_test-type=direct.json").read_text())
    rows = read_csv(output_folder / "test-type=direct.csv")[:2]
    for row in rows:  # SpeechBrain's EncoderDecoderASR writes the semantics string as the recipe decoded it
        assert " ".join(slu.transcribe_file(row["wav"]).split()) == hypotheses[row["ID"]]


@pytest.mark.parametrize(
    "name,parameters", [("slurp_conformer_summarymixing", 93_707_796), ("slurp_conformer_mhsa", 101_535_252)]
)
def test_the_slurp_yamls_build_the_paper_conformer_at_full_size(name, parameters, one_thread, tmp_path):
    from summarymixing.experiment import load

    overrides = {"data_folder": "/nonexistent", "output_folder": str(tmp_path)}
    hparams = load(os.path.join(REPO, "hparams", "slu", f"{name}.yaml"), overrides)
    assert sum(p.numel() for p in hparams["asr"]["model"].parameters()) == parameters
    assert hparams["ctc_weight"] == 0.3 and hparams["asr"]["ctc_weight_decode"] == 0.0
    assert hparams["tokenizer"].keywords["text_column"] == "semantics"
