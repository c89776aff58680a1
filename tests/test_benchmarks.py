"""Every benchmark runs end to end on the CPU in its smallest setting and prints its side-by-side table (the
timings themselves are not checked: speed is proven by running the benchmarks, never by timed tests)."""

import argparse

import pytest

from summarymixing.benchmarks import asr, cell, decoding, encoder, figure2, long_audio, transducer, wav2vec2
from summarymixing.benchmarks.timing import Target

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


@pytest.fixture(autouse=True)
def restore_threads(one_thread):
    """The benchmarks set torch's thread count (--threads 1); the module fixture restores it afterwards."""


def test_cell_benchmark_prints_every_table(capsys):
    cell.main(["--d-models", "32", "--lengths", "50", "100", "--repeats", "1", "--precision", "bf16"])
    out = capsys.readouterr().out
    assert "cpu (1 thread(s)), bf16" in out
    for title in ("training step time", "peak memory of the step", "cell share of measured bf16 matmul"):
        assert title in out


def test_encoder_benchmark_prints_training_and_streaming(capsys):
    encoder.main(["--quick", "--seconds", "2", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "training step (forward + backward)" in out and "streaming, 640 ms chunks" in out


def test_transducer_benchmark_times_the_recipes_step(capsys):
    results, flops = transducer.main(["--lengths", "1", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "the recipe's fit_batch" in out and "| 1 x 1 s | chunked |" in out and "| 1 x 1 s | packed |" in out
    assert set(results) == {"SummaryMixing", "RelPosMHAXL", "no mixer"}
    # the paper-size SummaryMixing transducer does fewer matmul FLOPs than self-attention, no mixer the fewest
    assert flops["no mixer"][1, 1] < flops["SummaryMixing"][1, 1] < flops["RelPosMHAXL"][1, 1]


def test_asr_benchmark_times_the_recipes_step(capsys):
    results = asr.main(["--encoders", "conformer", "--lengths", "1", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "conformer CTC + attention training step (the recipe's fit_batch)" in out and "| 1 x 1 s |" in out
    assert set(results["conformer"]) == {"SummaryMixing", "MHSA", "no mixer"}


def test_wav2vec2_benchmark_runs_each_model_in_its_own_process(capsys):
    wav2vec2.main(["--quick", "--num-layers", "1", "--lengths", "2"])
    out = capsys.readouterr().out
    assert "parameters: SummaryMixing" in out and "| 2 | " in out and "failed" not in out


def test_decoding_benchmark_runs_every_search_offline_and_streamed(capsys):
    results, shares = decoding.main(["--lengths", "2", "--chunks-ms", "640"])
    out = capsys.readouterr().out
    assert "| beam 10 + RNN LM | streamed 640 ms |" in out and "| greedy | offline |" in out
    assert len(results) == 2 * 3 * 2 and all(rtf > 0 for rtf, _ in results.values())
    # every part of every point is timed; the LM only where there is one, the encoder always
    assert set(shares) == set(results) and "| SummaryMixing | beam 10 + RNN LM | streamed 640 ms | 2 s |" in out
    for (_, search, _, _), point in shares.items():
        assert point["encoder"] > 0.05 and point["prediction network"] > 0 and point["joint network"] > 0, point
        assert (point["LM"] > 0) == search.endswith("LM") and abs(sum(point.values()) - 1) < 1e-9, point


def test_figure2_quick_measures_each_point_in_its_own_process_and_draws_the_panels(capsys, tmp_path):
    results = figure2.main(["--quick", "--models", "SummaryMixing", "--plot", str(tmp_path / "f2.png")])
    out = capsys.readouterr().out
    assert set(results) == {("SummaryMixing", "train", 5), ("SummaryMixing", "decode", 10)}
    assert not [point for point in results.values() if "error" in point], results
    assert "| SummaryMixing |" in out and "Decoding real-time factor" in out
    assert (tmp_path / "f2.png").stat().st_size > 10000
    # a point that fails is reported as such, and the others still print
    args = argparse.Namespace(rounds=1, threads=1, device="cpu", precision="fp32")
    assert "error" in figure2.run_point("no such model", "train", 1, args)


@pytest.mark.parametrize("model", sorted(set(figure2.MODELS) - {"SummaryMixing"}))
def test_the_other_figure2_mixers_train_at_paper_size(model):
    """The models the test above leaves out, in this process: a training step (its forward is the decoding's)."""
    point = figure2.measure_point(model, "train", 1, 1, Target("cpu"))
    assert point["seconds"] > 0 and point["peak_bytes"] > 0, (model, point)


def test_long_audio_benchmark_streams_a_recording_in_its_own_process(capsys):
    results = long_audio.main(["--minutes", "0.25", "--modes", "segments", "--models", "SummaryMixing"])
    point = results["SummaryMixing", "segments", 0.25]
    assert point["finished"] and point["decoded_s"] == 15 and point["segments"] > 1, point
    assert "| segments | SummaryMixing | " in capsys.readouterr().out


@pytest.mark.parametrize(
    "benchmark, options",
    [(figure2, ["--threads", "0"]), (figure2, ["--train-lengths", "-5"]), (decoding, ["--rounds", "two"]),
     (cell, ["--lengths", "100", "0"]), (long_audio, ["--minutes", "0"])],
)  # fmt: skip
def test_counts_and_lengths_below_one_are_refused_by_argparse(benchmark, options, capsys):
    with pytest.raises(SystemExit) as exit_:
        benchmark.main(options)
    assert exit_.value.code == 2 and f"argument {options[0]}: must be" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [(["--device", "cuda"], "no CUDA device"), (["--precision", "fp16"], "fp16 needs CUDA"),
     (["--device", "tpu"], "expected cpu or cuda")],
)  # fmt: skip
def test_a_target_the_machine_cannot_run_is_refused_in_one_line(options, message):
    if options[:2] == ["--device", "cuda"]:
        pytest.importorskip("torch").cuda.is_available() and pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit, match=message):
        cell.main(["--quick", *options])
    assert Target().describe().startswith("cpu (")
