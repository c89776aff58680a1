"""The transducer recipe end to end on a slice of the mini corpus with a tiny model.

One short training run (the session's ``transducer_run``) is checked for falling loss, the WER files, checkpoints
and the exported run folder; ``transcribe.py`` on every test utterance gives exactly the table's streamed
hypotheses, in greedy and in beam search with an RNN LM trained by the LM recipe on the run's tokenizer; a
2-process DDP run, a bf16 run and a kill-and-resume run use the same tiny setup.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import soundfile
from mini_runs import (
    REPO,
    TRANSDUCER,
    command,
    environment,
    run,
    session_transducer_options,
    transcribe,
    transducer_options,
)

from summarymixing.lm.folder import load_lm_folder
from summarymixing.recipe_brain import read_training_cost
from summarymixing.transducer.wer_table import FULL_CONTEXT

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


def run_recipe(output_folder, epochs, **overrides):
    return run(TRANSDUCER, output_folder, transducer_options(epochs, **overrides))


def audio_seconds(manifest):
    """Seconds of audio in a manifest's first ``select_n_sentences`` rows (the run's training set)."""
    with open(manifest) as rows:
        header = rows.readline().strip().split(",")
        durations = [float(row.strip().split(",")[header.index("duration")]) for row in rows]
    return sum(durations[: session_transducer_options()["select_n_sentences"][0]])


def epoch_stats(output_folder):
    """(epoch, optimiser steps, train loss) per line of train_log.txt."""
    stats = []
    with open(os.path.join(output_folder, "train_log.txt")) as log:
        for line in log:
            fields = dict(part.split(": ") for part in line.replace(" - ", ", ").strip().split(", "))
            stats.append((int(fields["epoch"]), int(fields["steps"]), float(fields["train loss"])))
    return stats


def test_training_loss_falls_and_outputs_exist(transducer_run):
    output_folder, log = transducer_run
    stats = epoch_stats(output_folder)
    assert [epoch for epoch, _, _ in stats] == list(range(1, 61))
    assert stats[-1][2] < 0.5 * stats[0][2], stats

    with open(os.path.join(output_folder, "wer.json")) as wer_file:
        wers = json.load(wer_file)
    expected = {FULL_CONTEXT} | {
        f"chunk640ms_left{left}_{mode}"
        for left in ("2", "inf")
        for mode in ("masked", "streamed", "streamed_rtf", "continuous", "continuous_rtf")
    }
    assert set(wers) == expected
    assert all(0 <= value <= 100 * 10 for value in wers.values())
    assert all(0 < wers[f"chunk640ms_left{left}_streamed_rtf"] < 10 for left in ("2", "inf"))
    assert "| full context |" in open(os.path.join(output_folder, "wer.md")).read()
    assert "| setting |" in log  # the table is printed

    cost = read_training_cost(output_folder)
    assert cost["epochs"] == 60 and cost["steps"] == stats[-1][1] and cost["devices"] == 1
    assert cost["wall_s"] > 0 and cost["peak_memory_bytes"] > 2**20
    # the audio trained on: each utterance once per epoch, about half of them joined with another after a pause and
    # some led by silence (the mini YAML's joined_utterances)
    seen, utterances = cost["audio_s"] / 60, audio_seconds(output_folder / "train.csv")
    assert 1.2 * utterances < seen < 2.2 * utterances

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
    arguments = [*audio.values(), "--quiet", "--no-endpoints", "--json", transcripts, "--chunk-ms", "640"]
    arguments += ([] if left is None else ["--left-chunks", left]) + list(options)
    result = transcribe(output_folder, *arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(transcripts) as transcripts_file:
        transcribed = json.load(transcripts_file)
    with open(output_folder / "hypotheses_test-clean.json") as hypotheses_file:
        table = json.load(hypotheses_file)
    return {utterance: transcribed[path] for utterance, path in audio.items()}, table


def test_transcribe_gives_the_tables_streamed_hypotheses(transducer_run):
    """The table's streamed column is the path users run: transcribe.py's transcript of every test utterance is
    the table's streamed hypothesis, and the masked decoding of the whole utterance gives the same words."""
    output_folder, _ = transducer_run
    for left in ("2", None):
        transcribed, table = transcribe_test_set(output_folder, left)
        key = f"chunk640ms_left{'inf' if left is None else left}"
        assert transcribed == table[f"{key}_streamed"]
        assert table[f"{key}_streamed"] == table[f"{key}_masked"]


def test_the_rnn_lm_recipe_trains_on_the_transducers_tokenizer(transducer_run, rnn_lm_run):
    output_folder, _ = transducer_run
    losses = [float(line.split("valid loss: ")[1].split(",")[0]) for line in open(rnn_lm_run / "train_log.txt")]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    lm = load_lm_folder(str(rnn_lm_run), tokenizer_file=str(output_folder / "tokenizer.ckpt"))
    assert type(lm).__name__ == "RNNLM" and lm.return_hidden
    with pytest.raises(ValueError, match="differs from"):
        load_lm_folder(str(rnn_lm_run), tokenizer_file=str(rnn_lm_run / "lm.yaml"))


def test_beam_search_with_lm_masked_equals_streamed_equals_transcribe(transducer_run, rnn_lm_run, tmp_path):
    """The trained run decoded again (no training: its epochs are done) with beam search and the RNN LM: the
    exported folder carries the search, and the masked, streamed and transcribe.py hypotheses are the same."""
    trained_folder, _ = transducer_run
    output_folder = tmp_path / "beam"
    shutil.copytree(trained_folder, output_folder, ignore=shutil.ignore_patterns("inference"))  # links into the run
    options = {**session_transducer_options(), "test_beam_size": 4, "lm_folder": str(rnn_lm_run), "lm_weight": 0.5}
    log = run(TRANSDUCER, output_folder, options)
    assert "beam 4, RNN LM weight 0.5 decoding" in log
    assert sorted(os.listdir(output_folder / "lm")) == ["export.json", "lm.ckpt", "lm.yaml", "tokenizer.ckpt"]
    for left in ("2", None):
        transcribed, table = transcribe_test_set(output_folder, left)
        key = f"chunk640ms_left{'inf' if left is None else left}"
        assert transcribed == table[f"{key}_streamed"] == table[f"{key}_masked"]
    greedy_transcribed, _ = transcribe_test_set(output_folder, None, "--beam-size", "1")
    with open(trained_folder / "hypotheses_test-clean.json") as greedy_file:
        assert greedy_transcribed == json.load(greedy_file)["chunk640ms_leftinf_streamed"]


def test_streaming_transcription_prints_partial_results(transducer_run):
    output_folder, _ = transducer_run
    audio = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(output_folder / "mini_corpus" / "LibriSpeech" / "test-clean")
        for name in names
        if name.endswith(".flac")
    )[0]
    result = transcribe(output_folder, audio, "--chunk-ms", "320", "--no-endpoints")
    assert result.returncode == 0, result.stderr[-3000:]
    partial_lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    times = [float(line[1:].split(" s]")[0]) for line in partial_lines]
    # one line per encoded 320 ms chunk (the first waits for the front end's look-ahead)
    assert all(abs(later - earlier - 0.32) < 1e-6 for earlier, later in zip(times, times[1:]))
    assert len(times) >= soundfile.info(audio).frames // 5120 - 1
    final = result.stdout.splitlines()[-1].strip()
    assert all(final.startswith(line.split("] ", 1)[-1].strip()) for line in partial_lines)


def test_transcribe_refuses_bad_input(transducer_run, tmp_path):
    output_folder, _ = transducer_run
    result = transcribe(tmp_path, "missing.wav")
    assert result.returncode != 0 and "export.json not found" in result.stderr
    bad = {"empty.wav": "no audio", "one.wav": "fewer than", "nan.wav": "NaN", "text.wav": "cannot read audio file"}
    for name, samples in (("empty.wav", []), ("one.wav", [0.1]), ("nan.wav", [float("nan")] * 8000)):
        soundfile.write(tmp_path / name, samples, 16000, subtype="FLOAT")
    (tmp_path / "text.wav").write_text("not audio")
    result = transcribe(output_folder, *(tmp_path / name for name in bad))  # each reported, the others go on
    assert result.returncode != 0
    for name, reason in bad.items():
        assert any(str(tmp_path / name) in line and reason in line for line in result.stderr.splitlines()), name
    result = transcribe(output_folder, tmp_path / "one.wav", "--chunk-ms", "100")
    assert result.returncode != 0 and "multiple of the 40 ms encoder frame" in result.stderr


def test_bf16_training_and_decoding(tmp_path):
    """bf16 autocast, with the chunked joint + loss (recomputed under the same autocast in the backward pass)."""
    output_folder = tmp_path / "bf16"
    run_recipe(
        output_folder, epochs=1, select_n_sentences=[32, 8, 8], test_left_contexts_chunks=[None],
        precision="bf16", eval_precision="bf16", transducer={"joint_chunk_frames": 4, "joint_packed": False},
    )  # fmt: skip
    assert "Using training precision: `--precision=bf16`" in open(output_folder / "log.txt").read()
    with open(output_folder / "wer.json") as wer_file:
        columns = ("masked", "streamed", "streamed_rtf", "continuous", "continuous_rtf")
        keys = {FULL_CONTEXT} | {f"chunk640ms_leftinf_{column}" for column in columns}
        assert set(json.load(wer_file)) == keys


def test_ddp_two_processes(tmp_path):
    """Two gloo processes, with the chunked joint + loss (the module DDP wraps computes its own backward)."""
    output_folder = tmp_path / "ddp"
    options = transducer_options(
        1, select_n_sentences=[32, 8, 8], test_left_contexts_chunks=[None],
        transducer={"joint_chunk_frames": 5, "joint_packed": False}, distributed_backend="gloo", device="cpu",
    )  # fmt: skip
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = run(TRANSDUCER, output_folder, options, launcher=launcher, check=False, timeout=600)
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
        command(TRANSDUCER, output_folder, transducer_options(2, **overrides)),
        cwd=REPO, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
