"""What a training command refuses before it writes into a run folder or trains: another model's folder, a folder
in use by another training, counts and weights that cannot be meant, test settings and LM folders that would
fail only after the last epoch. Each is refused with one line naming the key, the folder or the process."""

import json
import shutil
import subprocess
import time

import pytest
from mini_runs import (
    ASR,
    KWS,
    REPO,
    TINY_ASR,
    TRANSDUCER,
    command,
    environment,
    run,
    session_transducer_options,
    transducer_options,
)

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


def refused(result, *phrases):
    """The run failed, saying each of ``phrases`` in one line, without a traceback."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert all(phrase in result.stderr for phrase in phrases), result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_a_rerun_with_another_model_is_refused_before_the_folder_changes(transducer_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(transducer_run[0], folder, ignore=shutil.ignore_patterns("inference"))
    saved = {name: (folder / name).read_bytes() for name in ("hyperparams.yaml", "wer.json", "export.json")}
    options = session_transducer_options()
    options["transducer"]["d_model"] = 16
    refused(run(TRANSDUCER, folder, options, check=False), "holds another model than the one this YAML builds")
    assert {name: (folder / name).read_bytes() for name in saved} == saved


def test_a_second_training_into_a_busy_folder_is_refused_naming_the_first(tmp_path):
    folder = tmp_path / "run"
    first = subprocess.Popen(
        command(TRANSDUCER, folder, transducer_options(2)), cwd=REPO, env=environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (folder / ".run.lock").is_file() or not (folder / ".run.lock").read_text():
            assert first.poll() is None, "the first training ended early"
            time.sleep(0.2)
        holder = json.loads((folder / ".run.lock").read_text())
        second = run(TRANSDUCER, folder, transducer_options(2), check=False)
        refused(second, f"is in use by process {first.pid}", "recipes/transducer/train.py")
        assert holder["pid"] == first.pid
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize(
    "script, option, phrase",
    [(KWS, "--number_of_epochs=-1", "--number_of_epochs=-1: must be at least 1"),
     (KWS, "--output_folder=", "output_folder is empty"),
     (ASR, "--asr={lm_weight: .nan}", "--asr.lm_weight=nan: must be a finite number >= 0")],
)  # fmt: skip
def test_values_that_cannot_be_meant_are_refused_before_anything_is_written(script, option, phrase, tmp_path):
    arguments = [a for a in command(script, tmp_path / "run", {}) if not a.startswith("--output_folder")]
    result = subprocess.run(
        [*arguments, option], cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=300
    )
    refused(result, phrase)
    assert not list(tmp_path.iterdir())


def test_test_settings_are_checked_before_training(tmp_path):
    options = transducer_options(1, test_chunk_sizes_ms=[100])
    refused(run(TRANSDUCER, tmp_path / "run", options, check=False), "test_chunk_sizes_ms: 100 ms")
    assert not (tmp_path / "run" / "train_log.txt").exists()


def test_an_asr_lm_folder_holding_an_rnn_lm_is_refused_before_training(rnn_lm_run, tmp_path):
    options = {**TINY_ASR, "number_of_epochs": 1, "lm_folder": str(rnn_lm_run)}
    refused(run(ASR, tmp_path / "run", options, check=False), "lm_folder:", "holds another LM")
    assert not (tmp_path / "run" / "train_log.txt").exists()
