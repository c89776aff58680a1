"""Speed and memory of SummaryMixing Conformer encoders against RelPosMHAXL: training steps and streaming.

Run ``python -m summarymixing.benchmarks.encoder`` (full protocol, tens of minutes on one core) or add ``--quick``
(under a minute, small model and short lengths only, for smoke tests).

What is measured, with ``summarymixing.TransformerASR`` Conformer encoders (input 640 features, as after the
recipes' CNN front end; no decoder; dropout 0), batch 1, one thread by default:

* Training step: forward + backward of ``encode`` on an utterance of 5 s to 160 s of 40 ms frames, for
  SummaryMixing and for SpeechBrain's RelPosMHAXL, each plain and with dynamic chunk training (16-frame chunks,
  unlimited left context: SummaryMixing uses its chunked summary, RelPosMHAXL SpeechBrain's [T, T] mask). Time is
  the minimum over rounds in which every variant runs once (the CPU time of this process with one thread, see the
  cell benchmark); peak memory is the largest total of tensors alive during the step above what was alive before,
  from ``torch.profiler`` allocation events (the CPU analogue of ``max_memory_allocated``). A variant is skipped
  at lengths whose memory, extrapolated from the previous length (quadratically for RelPosMHAXL, linearly for
  SummaryMixing), exceeds ``--max-gb``: the large model does not fit the longest lengths on a small machine.
  The growth exponent is the least-squares slope of log(time) on log(T) over T >= 1000 frames (40 s).
* Streaming: ``encode_streaming`` of 640 ms chunks (16 frames) from the start of a stream, timing every chunk;
  reported is the median over the 8 chunks that end at 10 s, 1 min and 10 min, and the real-time factor (chunk
  time / 0.64 s). SummaryMixing streams with unlimited left context for the whole 10 minutes. RelPosMHAXL keeps
  32 chunks of left context (SpeechBrain's streaming re-runs attention over those 528 frames for each chunk); its
  window is full after 20 s, after which every chunk costs the same, so it is streamed to 1 min only and its
  10 min figure is that same measurement (marked ``=1min``).

Models: ``small`` is 4 layers, d_model 256, d_ffn 1024, 4 heads; ``large`` is the transducer paper's 12 layers,
d_model 512, d_ffn 2048 with 4 heads for SummaryMixing (its recipe) and 8 for RelPosMHAXL (SpeechBrain's recipe).
SummaryMixing uses the ASR paper's mode by default (local and summary branches of one d_model hidden layer,
LayerNorm); ``--mode SummaryMixing-fast`` gives the streaming transducer paper's.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import math
import os
import statistics
import time

import torch
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.benchmarks.cell import fit_exponent, peak_memory
from summarymixing.transformer_asr import TransformerASR

FRAME_SECONDS = 0.04
INPUT_SIZE = 640
MODELS = {
    "small": dict(num_encoder_layers=4, d_model=256, d_ffn=1024, heads={"SummaryMixing": 4, "RelPosMHAXL": 4}),
    "large": dict(num_encoder_layers=12, d_model=512, d_ffn=2048, heads={"SummaryMixing": 4, "RelPosMHAXL": 8}),
}
ROUNDS = {"small": 3, "large": 1}
"""Timed rounds per length (after the profiled warm-up run): one for the large model keeps the full run within
about ten minutes of CPU time."""
FULL_SECONDS = [5, 10, 20, 40, 80, 100, 160]
QUICK_SECONDS = [5, 10, 20]
TRAINING_CHUNKS = DynChunkTrainConfig(16, None)
STREAM_CHUNK = 16
STREAM_POSITIONS = {"10 s": 10, "1 min": 60, "10 min": 600}
QUICK_STREAM_POSITIONS = {"10 s": 10, "1 min": 60}
RELPOS_LEFT_CHUNKS = 32
RELPOS_STREAM_SECONDS = 60
TARGETS = (
    "targets: >= 3x faster than RelPosMHAXL at 40 s and >= 10x at 160 s; <= 25% of its peak memory at >= 100 s; "
    "time exponent <= 1.1; DCT step <= 1.1x plain step; streaming chunk time at 10 min <= 1.1x at 10 s"
)


def make_model(size, attention_type, mode="SummaryMixing"):
    """A Conformer ``TransformerASR`` encoder of the given size and mixer (``mode``: SummaryMixing's)."""
    config = dict(MODELS[size])
    heads = config.pop("heads")[attention_type]
    if attention_type == "SummaryMixing":
        config["mode"] = mode
    torch.manual_seed(0)
    return TransformerASR(
        tgt_vocab=10, input_size=INPUT_SIZE, nhead=heads, num_decoder_layers=0, dropout=0.0,
        encoder_module="conformer", normalize_before=True, causal=False, attention_type=attention_type, **config,
    )  # fmt: skip


def training_variants(size, mode):
    """Name -> (model, dynamic chunk configuration) for the training-step table."""
    variants = {}
    for attention_type in ("SummaryMixing", "RelPosMHAXL"):
        model = make_model(size, attention_type, mode).train()
        variants[attention_type] = (model, None)
        variants[f"{attention_type}+DCT"] = (model, TRAINING_CHUNKS)
    return variants


def step_peak_memory(step):
    """Peak bytes allocated during ``step`` above what was allocated just before it.

    The profiler's running total of allocated bytes (read by ``peak_memory``) also carries blocks counted in
    earlier profiled runs and freed while no profiler ran (e.g. the gradients of an earlier step), so only its rise
    during ``step`` is meaningful: the total reached by a one-element allocation just before is subtracted.
    """
    baseline = peak_memory(lambda: torch.empty(1))
    return peak_memory(step) - baseline


def measure_training(size, mode, seconds, rounds, clock, max_bytes, budget_s):
    """Times (s) and peak memories (bytes) per variant and length; None where a variant was skipped because its
    memory, extrapolated from the previous length (quadratically for RelPosMHAXL, linearly otherwise), exceeds
    ``max_bytes``."""
    variants = training_variants(size, mode)
    results = {name: {"time": [], "memory": []} for name in variants}
    for length_s in seconds:
        frames = round(length_s / FRAME_SECONDS)
        features = torch.randn(1, frames, INPUT_SIZE)
        steps = {}
        for name, (model, config) in variants.items():
            memories = results[name]["memory"]
            if memories:
                growth = frames / round(seconds[len(memories) - 1] / FRAME_SECONDS)
                if memories[-1] is None or memories[-1] * growth ** (2 if name.startswith("RelPos") else 1) > max_bytes:
                    continue

            def step(model=model, config=config):
                model.zero_grad(set_to_none=True)
                encoded = model.encode(features, dynchunktrain_config=config)
                encoded.backward(torch.ones_like(encoded))

            steps[name] = step
        for model, _ in variants.values():
            model.zero_grad(set_to_none=True)
        memory = {name: step_peak_memory(step) for name, step in steps.items()}  # also the warm-up run
        best = {name: math.inf for name in steps}
        start = time.perf_counter()
        for round_ in range(rounds):
            if round_ >= 2 and time.perf_counter() - start > budget_s:
                break
            for name, step in steps.items():
                begin = clock()
                step()
                best[name] = min(best[name], clock() - begin)
        for name in variants:
            results[name]["time"].append(None if best.get(name, math.inf) == math.inf else best[name])
            results[name]["memory"].append(memory.get(name))
        print(f"  {size}: {length_s:g} s done (load {os.getloadavg()[0]:.2f})", flush=True)
    return results


def print_training(size, seconds, results):
    """Prints the training-step table of one model; returns the numbers the targets check."""
    sm, mhsa = results["SummaryMixing"], results["RelPosMHAXL"]

    def fmt(value, scale, digits=0, suffix=""):
        return "skipped" if value is None else f"{value * scale:.{digits}f}{suffix}"

    headers = ["len (s)", "frames", "SM ms", "MHSA ms", "speed-up", "SM MiB", "MHSA MiB", "mem ratio",
               "SM DCT/plain", "MHSA DCT/plain"]  # fmt: skip
    config = MODELS[size]
    print(f"\n{size} Conformer ({config['num_encoder_layers']} layers, d_model {config['d_model']}): "
          "training step (forward + backward), batch 1")  # fmt: skip
    print("  ".join(f"{h:>10}" for h in headers))
    summary = {"speedup": {}, "memory": {}, "dct": []}
    for i, length_s in enumerate(seconds):
        speedup = quotient(mhsa["time"][i], sm["time"][i])
        ratio = quotient(sm["memory"][i], mhsa["memory"][i])
        sm_dct = quotient(results["SummaryMixing+DCT"]["time"][i], sm["time"][i])
        mhsa_dct = quotient(results["RelPosMHAXL+DCT"]["time"][i], mhsa["time"][i])
        summary["speedup"][length_s], summary["memory"][length_s] = speedup, ratio
        if sm_dct is not None:
            summary["dct"].append(sm_dct)
        cells = [f"{length_s:g}", round(length_s / FRAME_SECONDS), fmt(sm["time"][i], 1e3), fmt(mhsa["time"][i], 1e3),
                 fmt(speedup, 1, 2, "x"), fmt(sm["memory"][i], 2**-20), fmt(mhsa["memory"][i], 2**-20),
                 fmt(ratio, 100, 0, "%"), fmt(sm_dct, 1, 2), fmt(mhsa_dct, 1, 2)]  # fmt: skip
        print("  ".join(f"{c:>10}" for c in cells))
    frames = [round(s / FRAME_SECONDS) for s in seconds]
    exponents = {name: fit_exponent(frames, results[name]["time"]) for name in results}
    print("time exponent (T >= 1000 frames): " + ", ".join(f"{n} {e:.3f}" for n, e in exponents.items()))
    summary["exponent"] = exponents["SummaryMixing"]
    return summary


def quotient(numerator, denominator):
    """numerator / denominator, None if either was not measured."""
    return None if numerator is None or denominator is None else numerator / denominator


def time_stream(model, config, positions_s, stop_s, clock):
    """Per-chunk times (s) of streaming random features up to ``stop_s``; median of the 8 chunks ending at each
    position."""
    context = model.make_streaming_context(config)
    chunk_seconds = STREAM_CHUNK * FRAME_SECONDS
    chunk_times = []
    with torch.no_grad():
        for _ in range(round(stop_s / chunk_seconds)):
            chunk = torch.randn(1, STREAM_CHUNK, INPUT_SIZE)
            begin = clock()
            model.encode_streaming(chunk, context)
            chunk_times.append(clock() - begin)
    return {
        name: statistics.median(chunk_times[max(0, round(s / chunk_seconds) - 8) : round(s / chunk_seconds)])
        for name, s in positions_s.items()
        if s <= stop_s
    }


def measure_streaming(size, mode, positions_s, clock):
    """Per-chunk times of SummaryMixing (unlimited left context) and RelPosMHAXL (32 chunks of left context)."""
    sm = make_model(size, "SummaryMixing", mode).eval()
    mhsa = make_model(size, "RelPosMHAXL").eval()
    end = max(positions_s.values())
    sm_times = time_stream(sm, DynChunkTrainConfig(STREAM_CHUNK, None), positions_s, end, clock)
    print(f"  {size}: SummaryMixing streamed {end} s (load {os.getloadavg()[0]:.2f})", flush=True)
    mhsa_stop = min(end, RELPOS_STREAM_SECONDS)
    mhsa_times = time_stream(mhsa, DynChunkTrainConfig(STREAM_CHUNK, RELPOS_LEFT_CHUNKS), positions_s, mhsa_stop, clock)
    print(f"  {size}: RelPosMHAXL streamed {mhsa_stop} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return sm_times, mhsa_times, mhsa_stop


def print_streaming(size, positions_s, sm_times, mhsa_times, mhsa_stop):
    """Prints the streaming table of one model; returns SummaryMixing's last/first chunk-time ratio."""
    chunk_seconds = STREAM_CHUNK * FRAME_SECONDS
    print(f"\n{size} Conformer: streaming, {chunk_seconds * 1000:.0f} ms chunks; SummaryMixing unlimited left "
          f"context, RelPosMHAXL {RELPOS_LEFT_CHUNKS} chunks")  # fmt: skip
    print("  ".join(f"{h:>12}" for h in ["position", "SM ms/chunk", "SM RTF", "MHSA ms/chunk", "MHSA RTF"]))
    for name, position in positions_s.items():
        measured_at = name if position <= mhsa_stop else "1 min"
        mhsa = mhsa_times[measured_at]
        note = "" if position <= mhsa_stop else " (=1min)"
        cells = [name, f"{sm_times[name] * 1e3:.1f}", f"{sm_times[name] / chunk_seconds:.4f}",
                 f"{mhsa * 1e3:.1f}{note}", f"{mhsa / chunk_seconds:.4f}"]  # fmt: skip
        print("  ".join(f"{c:>12}" for c in cells))
    names = list(positions_s)
    return sm_times[names[-1]] / sm_times[names[0]]


def print_targets(training, streaming):
    """Checks the measured numbers against the issue's targets."""
    print("\n" + TARGETS)
    for size in dict.fromkeys([*training, *streaming]):
        checks = training_checks(training[size]) if size in training else []
        if size in streaming:
            checks.append(("streaming chunk time last / 10 s", streaming[size], 1.1, "<="))
        for name, value, target, sense in checks:
            met = value >= target if sense == ">=" else value <= target
            print(f"  {size:5s} {name:34s} {value:8.3f}  (target {sense} {target})  {'met' if met else 'MISSED'}")


def training_checks(summary):
    """(name, value, target, sense) of the training-step targets that were measured."""
    checks = []
    for length_s, target in ((40, 3.0), (160, 10.0)):
        if summary["speedup"].get(length_s) is not None:
            checks.append((f"speed-up at {length_s} s", summary["speedup"][length_s], target, ">="))
    long = [r for s, r in summary["memory"].items() if s >= 100 and r is not None]
    if long:
        checks.append(("max memory ratio at >= 100 s", max(long), 0.25, "<="))
    if summary["dct"]:
        checks.append(("SummaryMixing time exponent", summary["exponent"], 1.1, "<="))
        checks.append(("max SummaryMixing DCT / plain", max(summary["dct"]), 1.1, "<="))
    return checks


def main(argv=None):
    """Parses the command line and runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small model, 5-20 s, streaming to 1 min (< 1 min)")
    parser.add_argument("--sizes", nargs="+", choices=list(MODELS), help="models (default small large)")
    parser.add_argument("--seconds", type=float, nargs="+", help=f"utterance lengths (default {FULL_SECONDS})")
    parser.add_argument("--rounds", type=int,
                        help=f"max timed rounds per length (default {ROUNDS}, quick 1; 0: peak memory only)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--max-gb", type=float, default=6.0,
                        help="skip a variant where its extrapolated peak memory exceeds this (default 6)")
    parser.add_argument("--mode", default="SummaryMixing", help="SummaryMixing mode (default SummaryMixing)")
    parser.add_argument("--no-streaming", action="store_true", help="skip the streaming table")
    parser.add_argument("--no-training", action="store_true", help="skip the training-step table")
    args = parser.parse_args(argv)
    sizes = args.sizes or (["small"] if args.quick else ["small", "large"])
    seconds = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    positions = QUICK_STREAM_POSITIONS if args.quick else STREAM_POSITIONS

    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    print(f"SummaryMixing mode {args.mode}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"clock: {clock.__name__}, "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    training, streaming = {}, {}
    for size in sizes:
        if not args.no_training:
            rounds = args.rounds if args.rounds is not None else (1 if args.quick else ROUNDS[size])
            results = measure_training(size, args.mode, seconds, rounds, clock, args.max_gb * 2**30, budget_s=120)
            training[size] = print_training(size, seconds, results)
        if not args.no_streaming:
            sm_times, mhsa_times, mhsa_stop = measure_streaming(size, args.mode, positions, clock)
            streaming[size] = print_streaming(size, positions, sm_times, mhsa_times, mhsa_stop)
    print_targets(training, streaming)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
