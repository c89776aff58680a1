"""The tiny mini-corpus runs that the tests share: their settings and how a recipe is run.

Each recipe is trained once per test session (the session fixtures of ``conftest.py``) and reused by every test
that transcribes, decodes, loads, exports or resumes it. A recipe runs as users run it: ``python recipes/<r>/train.py
hparams/<r>/<file>.yaml --option=value ...`` in a subprocess, on one thread.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_path(recipe, hparams):
    """``[recipes/<recipe>/train.py, hparams/<hparams>]``, absolute."""
    return [os.path.join(REPO, "recipes", recipe, "train.py"), os.path.join(REPO, "hparams", hparams)]


ASR = recipe_path("asr", "asr/mini.yaml")
LM = recipe_path("lm", "lm/mini.yaml")
RNN_LM = recipe_path("lm", "lm/transducer_mini_rnnlm.yaml")
TRANSDUCER = recipe_path("transducer", "transducer/mini.yaml")
KWS = recipe_path("kws", "kws/mini.yaml")
SLU = recipe_path("slu", "slu/mini.yaml")
TRANSCRIBE = os.path.join(REPO, "recipes", "transducer", "transcribe.py")

TINY_ASR = {
    "select_n_sentences": [96, 16, 16],
    "asr": {
        "output_neurons": 40, "d_model": 32, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1,
        "d_ffn": 64, "kernel_size": 7, "cnn_channels": [8, 8], "cnn_out_features": 80, "valid_beam_size": 2,
        "test_beam_size": 3, "lm_d_model": 32, "lm_nhead": 2, "lm_num_layers": 1, "lm_d_ffn": 64,
    },
    "dynamic_batching": False,
    "batch_size": 8,
    "lr": 0.003,
    "warmup_steps": 10,
    "valid_search_interval": 1,
    "avg_checkpoints": 2,
    "test_dataloader_opts": {"batch_size": 1},  # as EncoderDecoderASR.transcribe_file: no padding
}  # fmt: skip
TINY_LM = {"lm": {"vocab": 40, "d_model": 32, "nhead": 2, "num_layers": 1, "d_ffn": 64}, "warmup_steps": 10}

# A tiny transducer on 96 training / 16 dev / 16 test utterances, fixed batches; one chunk size, two left contexts.
TINY_TRANSDUCER = {
    "select_n_sentences": [96, 16, 16],
    "transducer": {
        "output_neurons": 40, "d_model": 32, "nhead": 2, "num_encoder_layers": 2, "d_ffn": 64, "kernel_size": 7,
        "cnn_channels": [8, 8], "cnn_out_features": 80, "dec_neurons": 32, "joint_dim": 32,
    },
    "dynamic_batching": False,
    "batch_size": 8,
    "lr": 0.003,
    "warmup_steps": 10,
    "total_steps": 60,
    "valid_search_interval": 1,
    "avg_checkpoints": 2,
    "test_chunk_sizes_ms": [640],
    "test_left_contexts_chunks": [2, None],
}  # fmt: skip


def session_transducer_options():
    """The session's transducer: the tiny model trained long enough on 16 sentences, joined by pauses and led by
    silence as the mini YAML trains (60 epochs of batches of 2, about 30 s on one thread), to write them and to
    write nothing in silence, so that the tests that stream it see words where there is speech."""
    return transducer_options(
        60, select_n_sentences=[16, 8, 8], batch_size=2, lr=0.004, warmup_steps=50, total_steps=5000,
        valid_search_interval=20, fea_augment=None,
        transducer={"d_model": 64, "d_ffn": 128, "dec_neurons": 64, "joint_dim": 64},
    )  # fmt: skip


TINY_RNN_LM = {"output_neurons": 40, "embedding_dim": 16, "rnn_neurons": 64, "dnn_neurons": 32}
TINY_KWS = {
    "kws": {"cnn_channels": [4, 4], "cnn_out_features": 40, "d_model": 16, "nhead": 2, "num_encoder_layers": 1,
            "d_ffn": 32},
    "number_of_epochs": 3, "lr": 0.005, "warmup_steps": 10,
}  # fmt: skip
TINY_SLU = {
    "asr": {
        "d_model": 32, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "d_ffn": 64,
        "cnn_channels": [8, 8], "cnn_out_features": 80, "valid_beam_size": 2, "test_beam_size": 2,
        "output_neurons": 40,
    },
    "number_of_epochs": 3, "lr": 0.003, "warmup_steps": 10, "valid_search_interval": 3, "avg_checkpoints": 1,
    "test_dataloader_opts": {"batch_size": 1},
}  # fmt: skip


def environment():
    """The recipes' environment: one thread (two trainings on two cores otherwise crawl), unbuffered output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def command(script, output_folder, options, launcher=()):
    """A recipe's command line; non-string option values are written as JSON, which YAML reads."""
    arguments = [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in options.items()]
    return [sys.executable, *launcher, *script, f"--output_folder={output_folder}", "--noprogressbar", *arguments]


def run(script, output_folder, options, launcher=(), check=True, timeout=900):
    """Runs a recipe; returns its output (stdout then stderr), or the completed process when ``check`` is False."""
    result = subprocess.run(
        command(script, output_folder, options, launcher), cwd=REPO, env=environment(), capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    if not check:
        return result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def transducer_options(epochs, **overrides):
    """The tiny transducer's options with ``epochs`` (CTC for all of them) and ``overrides``."""
    options = {**TINY_TRANSDUCER, "number_of_epochs": epochs, "number_of_ctc_epochs": epochs, **overrides}
    options["transducer"] = {**TINY_TRANSDUCER["transducer"], **overrides.get("transducer", {})}
    return options


def train_log(output_folder):
    """The epoch lines of ``train_log.txt`` as dicts of their fields (numbers as floats)."""
    lines = []
    with open(os.path.join(output_folder, "train_log.txt")) as log:
        for line in log:
            if line.startswith("epoch"):
                fields = dict(part.split(": ", 1) for part in line.replace(" - ", ", ").strip().split(", "))
                lines.append({key: float(value.split()[0]) for key, value in fields.items()})
    return lines


def transcribe(run_dir, *arguments, timeout=300):
    """``transcribe.py RUN_DIR ARGUMENTS...``: the completed process."""
    return subprocess.run(
        [sys.executable, TRANSCRIBE, str(run_dir), *map(str, arguments)], cwd=REPO, env=environment(),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
