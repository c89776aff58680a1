"""The transducer recipe end to end on a slice of the mini corpus with a tiny model.

One short training run (module fixture) is checked for falling loss, the WER files, checkpoints and the exported
run folder; ``transcribe.py`` on every test utterance gives exactly the table's streamed hypotheses, in greedy and
in beam search with an RNN LM trained by the LM recipe on the run's tokenizer; a 2-process DDP run, a bf16 run and
a kill-and-resume run use the same tiny setup.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import soundfile

from summarymixing.lm.folder import load_lm_folder
from summarymixing.recipe_brain import read_training_cost
from summarymixing.transducer.wer_table import FULL_CONTEXT

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "recipes", "transducer", "train.py")
TRANSCRIBE = os.path.join(REPO, "recipes", "transducer", "transcribe.py")
HPARAMS = os.path.join(REPO, "hparams", "transducer", "mini.yaml")
LM_TRAIN = os.path.join(REPO, "recipes", "lm", "train.py")
LM_HPARAMS = os.path.join(REPO, "hparams", "lm", "transducer_mini_rnnlm.yaml")

# A tiny model on 96 training / 16 dev / 16 test utterances, fixed batches; one chunk size, two left contexts.
TINY = {
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


def recipe_command(output_folder, epochs, **overrides):
    """The training command line; non-string override values are written as JSON, which YAML reads."""
    options = {**TINY, "number_of_epochs": epochs, "number_of_ctc_epochs": epochs, **overrides}
    options["transducer"] = {**TINY["transducer"], **overrides.get("transducer", {})}
    return [TRAIN, HPARAMS, f"--output_folder={output_folder}", "--noprogressbar"] + [
        f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in options.items()
    ]


def run_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_recipe(output_folder, epochs, **overrides):
    result = subprocess.run(
        [sys.executable] + recipe_command(output_folder, epochs, **overrides),
        cwd=REPO, env=run_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def audio_seconds(manifest):
    """Seconds of audio in a manifest's first ``select_n_sentences`` rows (the run's training set)."""
    with open(manifest) as rows:
        header = rows.readline().strip().split(",")
        durations = [float(row.strip().split(",")[header.index("duration")]) for row in rows]
    return sum(durations[: TINY["select_n_sentences"][0]])


def epoch_stats(output_folder):
    """(epoch, optimiser steps, train loss) per line of train_log.txt."""
    stats = []
    with open(os.path.join(output_folder, "train_log.txt")) as log:
        for line in log:
            fields = dict(part.split(": ") for part in line.replace(" - ", ", ").strip().split(", "))
            stats.append((int(fields["epoch"]), int(fields["steps"]), float(fields["train loss"])))
    return stats


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    output_folder = tmp_path_factory.mktemp("transducer") / "run"
    log = run_recipe(output_folder, epochs=3)
    return output_folder, log


def test_training_loss_falls_and_outputs_exist(trained_run):
    output_folder, log = trained_run
    stats = epoch_stats(output_folder)
    assert [epoch for epoch, _, _ in stats] == [1, 2, 3]
    assert stats[-1][2] < 0.8 * stats[0][2], stats

    with open(os.path.join(output_folder, "wer.json")) as wer_file:
        wers = json.load(wer_file)
    expected = {FULL_CONTEXT} | {
        f"chunk640ms_left{left}_{mode}" for left in ("2", "inf") for mode in ("masked", "streamed", "streamed_rtf")
    }
    assert set(wers) == expected
    assert all(0 <= value <= 100 * 10 for value in wers.values())
    assert all(0 < wers[f"chunk640ms_left{left}_streamed_rtf"] < 10 for left in ("2", "inf"))
    assert "| full context |" in open(os.path.join(output_folder, "wer.md")).read()
    assert "| setting |" in log  # the table is printed

    cost = read_training_cost(output_folder)
    assert cost["epochs"] == 3 and cost["steps"] == stats[-1][1] and cost["devices"] == 1
    assert cost["wall_s"] > 0 and cost["peak_memory_bytes"] > 2**20
    assert abs(cost["audio_s"] - 3 * audio_seconds(output_folder / "train.csv")) < 1.0

    checkpoints = [name for name in os.listdir(output_folder / "save") if name.startswith("CKPT+")]
    assert 1 <= len(checkpoints) <= 3  # the best 2 by WER plus possibly the most recent
    assert "Averaged 2 checkpoint(s)" in open(output_folder / "log.txt").read()  # exactly avg_checkpoints
    for name in ("inference.yaml", "model.ckpt", "normalize.ckpt", "tokenizer.ckpt"):
        assert os.path.isfile(output_folder / name), name


def transcribe_test_set(output_folder, left, *options):
    """transcribe.py on every test utterance of a run folder: ``({utterance: transcript}, the WER table's
    hypotheses)``."""
    with open(output_folder / "test-clean.csv") as manifest:
        rows = [line.split(",") for line in manifest.read().splitlines()[1:]]
    audio = {row[0]: row[2] for row in rows}
    transcripts = output_folder / f"transcripts_{left}.json"
    command = [sys.executable, TRANSCRIBE, str(output_folder), *audio.values(), "--quiet", "--json", str(transcripts)]
    command += ["--chunk-ms", "640"] + ([] if left is None else ["--left-chunks", left]) + list(options)
    result = subprocess.run(command, cwd=REPO, env=run_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(transcripts) as transcripts_file:
        transcribed = json.load(transcripts_file)
    with open(output_folder / "hypotheses_test-clean.json") as hypotheses_file:
        table = json.load(hypotheses_file)
    return {utterance: transcribed[path] for utterance, path in audio.items()}, table


def test_transcribe_gives_the_tables_streamed_hypotheses(trained_run):
    """The table's streamed column is the path users run: transcribe.py's transcript of every test utterance is
    the table's streamed hypothesis, and the masked decoding of the whole utterance gives the same words."""
    output_folder, _ = trained_run
    for left in ("2", None):
        transcribed, table = transcribe_test_set(output_folder, left)
        key = f"chunk640ms_left{'inf' if left is None else left}"
        assert transcribed == table[f"{key}_streamed"]
        assert table[f"{key}_streamed"] == table[f"{key}_masked"]


@pytest.fixture(scope="module")
def rnn_lm_run(trained_run, tmp_path_factory):
    """A tiny RNN LM trained on the mini transcripts with the trained run's tokenizer."""
    output_folder, _ = trained_run
    lm_folder = tmp_path_factory.mktemp("rnnlm") / "run"
    lm = {"output_neurons": TINY["transducer"]["output_neurons"], "embedding_dim": 16, "rnn_neurons": 64,
          "dnn_neurons": 32}  # fmt: skip
    result = subprocess.run(
        [sys.executable, LM_TRAIN, LM_HPARAMS, f"--output_folder={lm_folder}", "--noprogressbar",
         f"--tokenizer_file={output_folder / 'tokenizer.ckpt'}", "--number_of_epochs=3", f"--lm={json.dumps(lm)}"],
        cwd=REPO, env=run_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return lm_folder


def test_the_rnn_lm_recipe_trains_on_the_transducers_tokenizer(trained_run, rnn_lm_run):
    output_folder, _ = trained_run
    losses = [float(line.split("valid loss: ")[1].split(",")[0]) for line in open(rnn_lm_run / "train_log.txt")]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    lm = load_lm_folder(str(rnn_lm_run), tokenizer_file=str(output_folder / "tokenizer.ckpt"))
    assert type(lm).__name__ == "RNNLM" and lm.return_hidden
    with pytest.raises(ValueError, match="differs from"):
        load_lm_folder(str(rnn_lm_run), tokenizer_file=str(rnn_lm_run / "lm.yaml"))


def test_beam_search_with_lm_masked_equals_streamed_equals_transcribe(trained_run, rnn_lm_run, tmp_path):
    """The trained run decoded again (no training: its epochs are done) with beam search and the RNN LM: the
    exported folder carries the search, and the masked, streamed and transcribe.py hypotheses are the same."""
    trained_folder, _ = trained_run
    output_folder = tmp_path / "beam"
    shutil.copytree(trained_folder, output_folder, ignore=shutil.ignore_patterns("inference"))  # links into the run
    log = run_recipe(output_folder, epochs=3, test_beam_size=4, lm_folder=str(rnn_lm_run), lm_weight=0.5)
    assert "beam 4, RNN LM weight 0.5 decoding" in log
    assert sorted(os.listdir(output_folder / "lm")) == ["lm.ckpt", "lm.yaml", "tokenizer.ckpt"]
    for left in ("2", None):
        transcribed, table = transcribe_test_set(output_folder, left)
        key = f"chunk640ms_left{'inf' if left is None else left}"
        assert transcribed == table[f"{key}_streamed"] == table[f"{key}_masked"]
    greedy_transcribed, _ = transcribe_test_set(output_folder, None, "--beam-size", "1")
    with open(trained_folder / "hypotheses_test-clean.json") as greedy_file:
        assert greedy_transcribed == json.load(greedy_file)["chunk640ms_leftinf_streamed"]


def test_streaming_transcription_prints_partial_results(trained_run):
    output_folder, _ = trained_run
    audio = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(output_folder / "mini_corpus" / "LibriSpeech" / "test-clean")
        for name in names
        if name.endswith(".flac")
    )[0]
    result = subprocess.run(
        [sys.executable, TRANSCRIBE, str(output_folder), audio, "--chunk-ms", "320"],
        cwd=REPO, env=run_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    partial_lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(partial_lines) == -(-soundfile.info(audio).frames // 5120)  # one line per 320 ms chunk
    assert partial_lines[-1].split("] ", 1)[-1].strip() == result.stdout.splitlines()[-1].strip()


def test_transcribe_refuses_bad_input(trained_run, tmp_path):
    output_folder, _ = trained_run

    def transcribe(*arguments, run_dir=output_folder):
        return subprocess.run(
            [sys.executable, TRANSCRIBE, str(run_dir), *map(str, arguments)], cwd=REPO, env=run_env(),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    result = transcribe("missing.wav", run_dir=tmp_path)
    assert result.returncode != 0 and "inference.yaml not found" in result.stderr
    for name, samples in (("empty.wav", []), ("one.wav", [0.1]), ("nan.wav", [float("nan")] * 8000)):
        soundfile.write(tmp_path / name, samples, 16000, subtype="FLOAT")
        result = transcribe(tmp_path / name)
        assert result.returncode != 0, name
        assert str(tmp_path / name) in result.stderr and ("fewer than" in result.stderr or "NaN" in result.stderr)
    (tmp_path / "text.wav").write_text("not audio")
    result = transcribe(tmp_path / "text.wav")
    assert result.returncode != 0 and "cannot read audio file" in result.stderr
    result = transcribe(tmp_path / "one.wav", "--chunk-ms", "100")
    assert result.returncode != 0 and "multiple of the 40 ms encoder frame" in result.stderr


def test_transcribe_refuses_a_run_folder_yaml_that_runs_code(trained_run, tmp_path):
    output_folder, _ = trained_run
    planted = tmp_path / "planted"
    inference = (output_folder / "inference.yaml").read_text()
    (tmp_path / "inference.yaml").write_text(f"pwned: !apply:os.system [touch {planted}]\n" + inference)
    result = subprocess.run(
        [sys.executable, TRANSCRIBE, str(tmp_path), "x.wav"], cwd=REPO, env=run_env(), capture_output=True, text=True
    )
    assert result.returncode != 0 and "!apply:os.system" in result.stderr and "--allow-any-code" in result.stderr
    assert not planted.exists()


def test_bf16_training_and_decoding(tmp_path):
    """bf16 autocast, with the chunked joint + loss (recomputed under the same autocast in the backward pass)."""
    output_folder = tmp_path / "bf16"
    run_recipe(
        output_folder, epochs=1, select_n_sentences=[32, 8, 8], test_left_contexts_chunks=[None],
        precision="bf16", eval_precision="bf16", transducer={"joint_chunk_frames": 4},
    )  # fmt: skip
    assert "Using training precision: `--precision=bf16`" in open(output_folder / "log.txt").read()
    with open(output_folder / "wer.json") as wer_file:
        keys = {FULL_CONTEXT} | {f"chunk640ms_leftinf_{column}" for column in ("masked", "streamed", "streamed_rtf")}
        assert set(json.load(wer_file)) == keys


def test_ddp_two_processes(tmp_path):
    """Two gloo processes, with the chunked joint + loss (the module DDP wraps computes its own backward)."""
    output_folder = tmp_path / "ddp"
    command = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] + recipe_command(
        output_folder, epochs=1, select_n_sentences=[32, 8, 8], test_left_contexts_chunks=[None],
        transducer={"joint_chunk_frames": 5},
    ) + ["--distributed_backend=gloo", "--device=cpu"]  # fmt: skip
    result = subprocess.run(
        [sys.executable] + command, cwd=REPO, env=run_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Only rank 0 writes: one train-log line per epoch, one table, one set of checkpoints.
    assert len(epoch_stats(output_folder)) == 1
    # 32 utterances, batch 8, two processes: 2 optimiser steps per process in the epoch.
    assert epoch_stats(output_folder)[0][1] == 2
    assert result.stdout.count("| full context |") == 1
    assert os.path.isfile(output_folder / "wer.json")


def checkpoint_metas(save_folder):
    """The CKPT.yaml texts of the checkpoints written so far (none while the folder does not exist)."""
    metas = []
    for name in os.listdir(save_folder) if save_folder.is_dir() else []:
        meta_file = save_folder / name / "CKPT.yaml"
        if name.startswith("CKPT+") and meta_file.is_file():
            metas.append(meta_file.read_text())
    return metas


def test_resume_after_kill(tmp_path):
    """Killing training after an intra-epoch checkpoint and rerunning the same command finishes the same epochs."""
    output_folder = tmp_path / "resume"
    overrides = {"ckpt_interval_steps": 2, "ckpt_interval_minutes": 0, "batch_size": 4, "number_of_ctc_epochs": 1}
    process = subprocess.Popen(
        [sys.executable] + recipe_command(output_folder, epochs=2, **overrides),
        cwd=REPO, env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    save = output_folder / "save"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and process.poll() is None:
            if any("brain_intra_epoch_ckpt" in meta for meta in checkpoint_metas(save)):
                break
            time.sleep(0.5)
        assert process.poll() is None, "training ended before an intra-epoch checkpoint was seen"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert not os.path.isfile(output_folder / "train_log.txt") or len(epoch_stats(output_folder)) < 2

    log = run_recipe(output_folder, epochs=2, **overrides)
    assert "Loading a checkpoint" in open(output_folder / "log.txt").read() or "Loading a checkpoint" in log
    stats = epoch_stats(output_folder)
    assert [epoch for epoch, _, _ in stats] == [1, 2]
    # 96 utterances in batches of 4: 24 optimiser steps per epoch, none lost or repeated across the kill.
    assert [steps for _, steps, _ in stats] == [24, 48]
    assert os.path.isfile(output_folder / "wer.json")
    # the cost log kept its lines across the kill: epoch 1 was finished by the resumed run (from its intra-epoch
    # checkpoint, so with fewer than its 24 steps), then epoch 2 ran whole
    with open(output_folder / "training_cost.jsonl") as log:
        records = [json.loads(line) for line in log]
    assert [(r["epoch"], r["resumed"]) for r in records] == [(1, True), (2, False)]
    assert 0 < records[0]["steps"] < 24 and records[1]["steps"] == 24
    total = read_training_cost(output_folder)
    assert total["steps"] == records[0]["steps"] + 24 and total["epochs"] == 2 and total["memory"] == "cpu_peak_rss"
