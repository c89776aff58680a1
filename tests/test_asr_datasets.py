"""The CommonVoice, AISHELL-1 and TED-LIUM 2 paper YAMLs of the CTC + attention recipe, run end to end as a user
runs them (``recipes/asr/train.py <yaml> --data_folder=...``) on small trees in each corpus's on-disk layout, with
the models shrunk by command-line overrides: preparation, tokenizer, two epochs of training (the AISHELL-1 YAML's
switch to SGD included), decoding of dev and test, the results file and the training-cost log.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from summarymixing.data import mini
from summarymixing.recipe_brain import read_training_cost

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 16000
TINY = {
    "asr": {
        "output_neurons": 24, "d_model": 16, "num_encoder_layers": 1, "num_decoder_layers": 1, "d_ffn": 32,
        "csgu_linear_units": 32, "kernel_size": 3, "cnn_channels": [4, 4], "cnn_out_features": 80,
        "local_proj_hid_dim": [16], "summary_hid_dim": [16], "valid_beam_size": 2, "test_beam_size": 2,
    },
    "number_of_epochs": 2, "warmup_steps": 5, "valid_search_interval": 1, "avg_checkpoints": 1, "num_workers": 0,
    "dynamic_batching": False, "batch_size": 4, "grad_accumulation_factor": 1,
    "valid_dataloader_opts": {"batch_size": 4}, "test_dataloader_opts": {"batch_size": 4},
}  # fmt: skip


def train(yaml, output_folder, **options):
    options = {**TINY, **options, "output_folder": str(output_folder)}
    arguments = [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in options.items()]
    result = subprocess.run(
        [sys.executable, "recipes/asr/train.py", f"hparams/asr/{yaml}", "--noprogressbar", *arguments],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert read_training_cost(output_folder)["epochs"] == 2
    return result.stdout + result.stderr


def noise(seconds, seed):
    return np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * RATE))


def test_commonvoice_yaml_prepares_converts_trains_and_scores_dev_and_test(tmp_path):
    root = mini.layout("commonvoice", tmp_path / "mini")
    output_folder = tmp_path / "run"
    train(
        "commonvoice_branchformer_summarymixing_small.yaml", output_folder,
        data_folder=os.path.join(root, "cy"), language="cy", avoid_if_longer_than=30.0,
        asr={**TINY["asr"], "output_neurons": 40},  # Welsh letters, accented ones included
    )  # fmt: skip
    assert sorted(json.loads((output_folder / "wer.json").read_text())) == ["dev", "test"]
    assert os.listdir(output_folder / "wav") and str(output_folder / "wav") in (output_folder / "train.csv").read_text()


def test_aishell_yaml_unpacks_trains_in_two_stages_and_scores_characters(tmp_path):
    characters = "的一是在不了有和人这中大"
    root = tmp_path / "data_aishell"
    lines = []
    for split, speakers in {"train": ["S0002", "S0003"], "dev": ["S0724"], "test": ["S0764"]}.items():
        for speaker in speakers:
            os.makedirs(root / "wav" / split / speaker)
            for number in range(8):
                name = f"BAC009{speaker}W{number:04d}"
                sf.write(str(root / "wav" / split / speaker / f"{name}.wav"), noise(1.0, number), RATE)
                start = (number * 3 + len(lines)) % 7
                lines.append(f"{name} {characters[start : start + 2]} {characters[start + 2 : start + 5]}\n")
    os.makedirs(root / "transcript")
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text("".join(lines), encoding="utf-8")
    output_folder = tmp_path / "run"
    log = train(
        "aishell_branchformer_summarymixing_large.yaml", output_folder, data_folder=str(root), stage_one_epochs=1,
        asr={**TINY["asr"], "output_neurons": 20},  # 12 characters, some words
    )  # fmt: skip
    assert "Stage two: training continues with SGD" in log
    assert sorted(json.loads((output_folder / "cer.json").read_text())) == ["dev", "test"]


def test_tedlium_yaml_trains_on_segments_read_in_place_with_speed_perturbation(tmp_path):
    root = tmp_path / "TEDLIUM_release2"
    words = "so today i want to talk about the ideas that change how we think and live".split()
    for split in ("train", "dev", "test"):
        os.makedirs(root / split / "sph")
        os.makedirs(root / split / "stm")
        for talk_number in range(2 if split != "train" else 4):
            talk = f"Speaker{talk_number}_{split}"
            sf.write(root / split / "sph" / f"{talk}.sph", noise(12.0, talk_number), RATE, format="NIST")
            lines = [
                f"{talk} 1 {talk} {2.0 * n} {2.0 * n + 1.5} <o,f0,male> {' '.join(words[n : n + 4])}\n"
                for n in range(6)
            ]
            (root / split / "stm" / f"{talk}.stm").write_text("".join(lines))
    output_folder = tmp_path / "run"
    train("tedlium2_branchformer_summarymixing.yaml", output_folder, data_folder=str(root))
    assert sorted(json.loads((output_folder / "wer.json").read_text())) == ["dev", "test"]
    assert "start,stop" in (output_folder / "train.csv").read_text().splitlines()[0]
