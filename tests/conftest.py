"""Fixtures shared by the test modules: thread control, and the tiny mini-corpus runs, each trained once per
session (``mini_runs.py``) and reused by every test that transcribes, decodes, loads or resumes it.

The README runs the suite in two processes (pytest-xdist, ``-n 2 --dist loadfile``: a module's tests stay in one
process); the trained runs are then shared by both, the first process that needs one trains it while the other
waits, and each process runs torch on one thread (two processes with two threads each on two cores crawl)."""

import json
import os

import mini_runs
import pytest
import torch
from filelock import FileLock

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
"""This process's name (``gw0``, ``gw1``) when the suite runs in several processes; None in a single process."""


def pytest_configure(config):
    if XDIST_WORKER:
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"  # and the recipes and scripts that tests start


def shared_run(tmp_path_factory, name, train):
    """``(folder, train(folder))``, trained once per session whatever the number of processes: the first caller
    trains it under a file lock in the folder all the session's processes share; the others wait and reuse it.
    ``train`` returns something JSON can hold (a recipe's output)."""
    root = tmp_path_factory.getbasetemp()
    if XDIST_WORKER:
        root = root.parent  # the session's folder; each process has its own below it
    folder, done = root / name / "run", root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            done.write_text(json.dumps(train(folder)))
    return folder, json.loads(done.read_text())


@pytest.fixture(scope="module")
def one_thread():
    """Runs torch on one thread from the first test that asks for it to the end of its module, then restores the
    thread count: on a shared 2-core machine, recipes and big model builds crawl when their threads compete."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lm_run(tmp_path_factory):
    """A tiny Transformer LM (``recipes/lm``, 4 epochs) on the mini transcripts: the ASR run's LM and tokenizer."""
    options = {**mini_runs.TINY_LM, "number_of_epochs": 4}
    return shared_run(tmp_path_factory, "lm", lambda folder: mini_runs.run(mini_runs.LM, folder, options))[0]


@pytest.fixture(scope="session")
def asr_run(tmp_path_factory, lm_run):
    """A tiny CTC + attention run (3 epochs) decoding with ``lm_run``: ``(folder, output)``."""
    options = {**mini_runs.TINY_ASR, "number_of_epochs": 3, "lm_folder": str(lm_run)}
    return shared_run(tmp_path_factory, "asr", lambda folder: mini_runs.run(mini_runs.ASR, folder, options))


@pytest.fixture(scope="session")
def transducer_run(tmp_path_factory):
    """The tiny transducer trained to write its 16 training sentences, with its WER table and exported folder:
    ``(folder, output)``."""
    options = mini_runs.session_transducer_options()
    return shared_run(
        tmp_path_factory, "transducer", lambda folder: mini_runs.run(mini_runs.TRANSDUCER, folder, options)
    )


@pytest.fixture(scope="session")
def rnn_lm_run(transducer_run, tmp_path_factory):
    """A tiny RNN LM (3 epochs) on the mini transcripts with the transducer run's tokenizer."""
    output_folder, _ = transducer_run
    options = {
        "tokenizer_file": str(output_folder / "tokenizer.ckpt"),
        "number_of_epochs": 3,
        "lm": mini_runs.TINY_RNN_LM,
    }
    return shared_run(tmp_path_factory, "rnnlm", lambda folder: mini_runs.run(mini_runs.RNN_LM, folder, options))[0]


@pytest.fixture(scope="session")
def kws_run(tmp_path_factory):
    """A tiny keyword spotter (3 epochs) with its exported ``EncoderClassifier`` folder."""
    train = lambda folder: mini_runs.run(mini_runs.KWS, folder, mini_runs.TINY_KWS)  # noqa: E731
    return shared_run(tmp_path_factory, "kws", train)[0]


@pytest.fixture(scope="session")
def slu_run(tmp_path_factory):
    """A tiny direct SLU run (3 epochs) with its exported ``EncoderDecoderASR`` folder."""
    train = lambda folder: mini_runs.run(mini_runs.SLU, folder, mini_runs.TINY_SLU)  # noqa: E731
    return shared_run(tmp_path_factory, "slu", train)[0]


TRAINED_RUNS = {"lm_run", "asr_run", "transducer_run", "rnn_lm_run", "kws_run", "slu_run"}
"""The session fixtures that train a mini run: a test that uses one is ``slow``."""


def pytest_collection_modifyitems(config, items):
    """Tests that use a trained mini run are marked ``slow``; tests marked ``cuda`` are skipped, with the reason, on
    a machine without a CUDA device."""
    for item in items:
        if TRAINED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run with pytest -m cuda on a GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
