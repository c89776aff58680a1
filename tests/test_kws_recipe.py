"""Keyword spotting on Speech Commands: the mini corpus in Speech Commands' layout, the mini recipe end to end with
a tiny model (loss falls, accuracy written, SpeechBrain's ``EncoderClassifier`` loads the run folder and classifies
files as the recipe did), and the paper-size YAMLs."""

import json
import os

import pytest

from summarymixing.data import mini
from summarymixing.data.manifest import read_csv
from summarymixing.data.speech_commands import COMMANDS, SILENCE, UNKNOWN, WORDS, prepare_speech_commands
from summarymixing.recipe_brain import read_training_cost

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_mini_corpus_in_speech_commands_layout(tmp_path_factory, tmp_path):
    root = mini.layout("speech_commands", tmp_path_factory.getbasetemp() / "mini")
    assert set(os.listdir(root)) >= {*WORDS, "_background_noise_", "validation_list.txt", "testing_list.txt"}
    prepare_speech_commands(root, tmp_path)
    train, valid, test = (read_csv(tmp_path / f"{split}.csv") for split in ("train", "valid", "test"))
    assert sum(row["label"] in COMMANDS for row in train) == 20 * 10 * 2  # 20 voices, each command twice
    assert sum(row["label"] in COMMANDS for row in valid) == sum(row["label"] in COMMANDS for row in test) == 60
    assert {row["label"] for row in test} == {*COMMANDS, SILENCE, UNKNOWN}
    speakers = [{row["spk_id"] for row in rows} - {SILENCE} for rows in (train, valid, test)]
    assert [len(group) for group in speakers] == [20, 3, 3] and not speakers[0] & (speakers[1] | speakers[2])
    assert all(float(row["duration"]) == 1.0 for row in train)


def test_mini_kws_recipe_trains_scores_and_exports(kws_run):
    output_folder = kws_run
    log = (output_folder / "train_log.txt").read_text().splitlines()
    losses = [float(line.split("train loss: ")[1].split(" ")[0]) for line in log]
    assert len(losses) == 3 and losses[-1] < losses[0]
    accuracy = json.loads((output_folder / "accuracy.json").read_text())["test"]
    assert 0 <= accuracy <= 100 and read_training_cost(output_folder)["epochs"] == 3

    from summarymixing.kws.inference import load_classifier

    classifier = load_classifier(str(output_folder))
    predictions = json.loads((output_folder / "predictions_test.json").read_text())
    clips = [row for row in read_csv(output_folder / "test.csv") if row["label"] != SILENCE][:3]
    for row in clips:  # whole 1 s clips: the recipe's batches hold no padding for them
        _, _, _, label = classifier.classify_file(row["wav"])
        assert label[0] == predictions[row["ID"]]


@pytest.mark.parametrize(
    "name,parameters",
    [("speech_commands_conformer_summarymixing", 2_840_092), ("speech_commands_conformer_mhsa", 3_083_740)],
)
def test_the_paper_size_yamls_build(name, parameters, one_thread, tmp_path):
    from summarymixing.experiment import load

    overrides = {"data_folder": "/nonexistent", "output_folder": str(tmp_path)}
    hparams = load(os.path.join(REPO, "hparams", "kws", f"{name}.yaml"), overrides)
    assert hparams["kws"]["classifier"][0].out_features == 12
    attention = "SummaryMixing" if "summarymixing" in name else "RelPosMHAXL"
    assert hparams["kws"]["attention_type"] == attention and hparams["output_folder"] == str(tmp_path)
    assert sum(p.numel() for p in hparams["kws"]["model"].parameters()) == parameters
