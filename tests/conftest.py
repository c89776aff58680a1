"""Fixtures shared by the test modules: thread control, and the tiny mini-corpus runs, each trained once per
session (``mini_runs.py``) and reused by every test that transcribes, decodes, loads or resumes it."""

import mini_runs
import pytest
import torch


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
    output_folder = tmp_path_factory.mktemp("lm") / "run"
    mini_runs.run(mini_runs.LM, output_folder, {**mini_runs.TINY_LM, "number_of_epochs": 4})
    return output_folder


@pytest.fixture(scope="session")
def asr_run(tmp_path_factory, lm_run):
    """A tiny CTC + attention run (3 epochs) decoding with ``lm_run``: ``(folder, output)``."""
    output_folder = tmp_path_factory.mktemp("asr") / "run"
    options = {**mini_runs.TINY_ASR, "number_of_epochs": 3, "lm_folder": str(lm_run)}
    return output_folder, mini_runs.run(mini_runs.ASR, output_folder, options)


@pytest.fixture(scope="session")
def transducer_run(tmp_path_factory):
    """The tiny transducer trained to write its 16 training sentences, with its WER table and exported folder:
    ``(folder, output)``."""
    output_folder = tmp_path_factory.mktemp("transducer") / "run"
    return output_folder, mini_runs.run(mini_runs.TRANSDUCER, output_folder, mini_runs.session_transducer_options())


@pytest.fixture(scope="session")
def rnn_lm_run(transducer_run, tmp_path_factory):
    """A tiny RNN LM (3 epochs) on the mini transcripts with the transducer run's tokenizer."""
    output_folder, _ = transducer_run
    lm_folder = tmp_path_factory.mktemp("rnnlm") / "run"
    options = {
        "tokenizer_file": str(output_folder / "tokenizer.ckpt"),
        "number_of_epochs": 3,
        "lm": mini_runs.TINY_RNN_LM,
    }
    mini_runs.run(mini_runs.RNN_LM, lm_folder, options)
    return lm_folder


@pytest.fixture(scope="session")
def kws_run(tmp_path_factory):
    """A tiny keyword spotter (3 epochs) with its exported ``EncoderClassifier`` folder."""
    output_folder = tmp_path_factory.mktemp("kws") / "run"
    mini_runs.run(mini_runs.KWS, output_folder, mini_runs.TINY_KWS)
    return output_folder


@pytest.fixture(scope="session")
def slu_run(tmp_path_factory):
    """A tiny direct SLU run (3 epochs) with its exported ``EncoderDecoderASR`` folder."""
    output_folder = tmp_path_factory.mktemp("slu") / "run"
    mini_runs.run(mini_runs.SLU, output_folder, mini_runs.TINY_SLU)
    return output_folder


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
