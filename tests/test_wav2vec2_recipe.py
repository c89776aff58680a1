"""Mini wav2vec 2.0 pre-training on the bundled corpus (Libri-Light layout): it learns, reloads and resumes.

300 optimiser steps of the mini configuration (4 segments of 2..8 s per step, 3.4 epochs) on one thread: about
35 s of CPU time. One thread because the machine is shared: with two, waiting threads spin and the same run
costs several times the CPU time when the cores are busy.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from summarymixing.wav2vec2 import load_pretrained

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end

ROOT = Path(__file__).resolve().parents[1]
HPARAMS = ROOT / "hparams" / "wav2vec2" / "mini.yaml"
STEPS = 300
CHANCE = 1 / 101


def recipe():
    spec = importlib.util.spec_from_file_location("wav2vec2_train", ROOT / "recipes" / "wav2vec2" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_log(run_folder):
    """The step-wise training lines and the validation lines of train_log.txt, as dicts."""
    train, valid = [], []
    for line in (run_folder / "train_log.txt").read_text().splitlines():
        values = {key: float(value) for key, value in re.findall(r"(?:train |valid )?(\w+): ([-\d.e+]+)", line)}
        (valid if "valid loss" in line else train).append(values)
    return train, valid


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    """Pre-trains the mini model for STEPS optimiser steps; returns the run folder and the trained Brain."""
    folder = tmp_path_factory.mktemp("wav2vec2") / "run"
    argv = [str(HPARAMS), f"--output_folder={folder}", f"--optimizer_step_limit={STEPS}", "--noprogressbar"]
    return folder, recipe().main(argv)


def mean(lines, name):
    return sum(line[name] for line in lines) / len(lines)


def test_mini_pretraining_learns(run):
    folder, _ = run
    train, valid = read_log(folder)
    assert [line["step"] for line in train] == list(range(10, STEPS + 1, 10))
    first, last = train[0], train[-3:]  # the first 10 steps; the last 30
    assert mean(last, "loss") < first["loss"] - 0.8
    assert first["accuracy"] < 5 * CHANCE
    assert mean(last, "accuracy") > 10 * CHANCE
    assert len(valid) >= 3  # one line per epoch
    assert valid[-1]["loss"] < valid[0]["loss"]
    assert valid[-1]["accuracy"] > max(valid[0]["accuracy"], 5 * CHANCE)
    # the 2 x 32 codebooks have not collapsed to a few codes
    assert mean(last, "prob_perplexity") > 16 and mean(last, "code_perplexity") > 12
    assert valid[-1]["code_perplexity"] > 12
    for name in ("lr", "temperature", "code_perplexity", "contrastive_loss", "diversity_loss"):
        assert name in first


def test_reloaded_checkpoint_gives_identical_hidden_states(run):
    folder, brain = run
    wavs, wav_lens = torch.randn(2, 24000), torch.tensor([1.0, 0.75])
    brain.modules.eval()
    with torch.no_grad():
        latents, frame_lens = brain.modules.wav2vec2.frontend(wavs, wav_lens)
        _, expected = brain.modules.wav2vec2.context_encoder(latents, frame_lens)
    trainable = load_pretrained(folder, freeze=False).eval()
    with torch.no_grad():
        assert torch.equal(trainable(wavs, wav_lens), expected)
    frozen = load_pretrained(folder)  # parameters without grad: PyTorch may pick other kernels (1e-6 apart)
    assert frozen.num_hidden == 3 and frozen.hidden_size == 64
    torch.testing.assert_close(frozen(wavs, wav_lens), expected, rtol=1e-5, atol=1e-5)


def test_interrupted_run_resumes_from_its_checkpoint(run, one_thread):
    folder, _ = run
    argv = [str(HPARAMS), f"--output_folder={folder}", f"--optimizer_step_limit={STEPS + 10}", "--noprogressbar"]
    brain = recipe().main(argv)
    train, _ = read_log(folder)
    assert [line["step"] for line in train][-2:] == [STEPS, STEPS + 10]
    assert brain.optimizer_step == STEPS + 10


def test_ddp_pretraining_with_two_processes(tmp_path):
    """Two gloo processes pre-train a few steps (layer drop and the quantiser leave parameters without gradient
    in some steps: find_unused_parameters) and rank 0 writes a checkpoint that loads."""
    folder = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "recipes" / "wav2vec2" / "train.py"), str(HPARAMS), f"--output_folder={folder}",
               "--optimizer_step_limit=6", "--distributed_backend=gloo", "--device=cpu", "--noprogressbar"]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cost = [json.loads(line) for line in (folder / "training_cost.jsonl").read_text().splitlines()]
    assert cost and cost[-1]["devices"] == 2
    assert load_pretrained(folder)(torch.randn(1, 16000)).shape[0] == 3
