"""Speed and memory of SummaryMixing Conformer encoders against RelPosMHAXL: training steps and streaming.

Run ``python -m summarymixing.benchmarks.encoder`` (full protocol, tens of minutes on one core) or add ``--quick``
(under a minute, small model and short lengths only, for smoke tests).

What is measured, with ``summarymixing.TransformerASR`` Conformer encoders (input 640 features, as after the
recipes' CNN front end; no decoder), batch 1, one thread by default:

* Training step: forward + backward of ``encode`` on an utterance of 5 s to 160 s of 40 ms frames, for SummaryMixing
  and for SpeechBrain's RelPosMHAXL, each plain and with dynamic chunk training (16-frame chunks, unlimited left
  context: SummaryMixing uses its chunked summary, RelPosMHAXL SpeechBrain's [T, T] mask), and for the same encoder
  with no token mixing (``NoMixer``: every layer's mixer returns zeros), which is the cost both models share
  (feed-forward modules, convolution modules, LayerNorms, input projection; the LayerNorm before the mixer still
  runs forward but, unused, needs no backward: it counts as the mixer's). From it the tables derive the ceiling
  (RelPosMHAXL / no mixer: the speed-up or memory ratio of a mixer that cost nothing) and the mixers' own ratios
  (each model minus no mixer). Our encoders' feed-forward modules recompute their activation in the backward pass
  (``summarymixing.encoders.feed_forward``); both models are also measured with SpeechBrain's own feed-forward modules
  (``SB-FFN`` columns), the plain SpeechBrain layers. Time is the minimum over rounds in which every variant runs
  once (the CPU time of this process with one thread, see the cell benchmark); peak memory is the largest total of
  tensors alive during the step above what was alive before, from ``torch.profiler`` allocation events (the CPU
  analogue of ``max_memory_allocated``). A variant is skipped at lengths whose memory, extrapolated from the
  previous length (quadratically for RelPosMHAXL, linearly otherwise), exceeds ``--max-gb``: the large model does
  not fit the longest lengths on a small machine. The growth exponent is the least-squares slope of log(time) on
  log(T) over T >= 1000 frames (40 s).
* Streaming: ``encode_streaming`` of 640 ms chunks (16 frames) from the start of a stream, timing every chunk;
  reported is the median over the 8 chunks that end at 10 s, 1 min and 10 min, and the real-time factor (chunk
  time / 0.64 s). SummaryMixing streams with unlimited left context for the whole 10 minutes. RelPosMHAXL keeps
  32 chunks of left context (SpeechBrain's streaming re-runs attention over those 528 frames for each chunk); its
  window is full after 20 s, after which every chunk costs the same, so it is streamed to 1 min only and its
  10 min figure is that same measurement (marked ``=1min``).

Models (printed above each table): ``small`` is the issue's 4 layers of d_model 256 with the rest of SpeechBrain's
small Conformer recipe (LibriSpeech ``conformer_small.yaml``: d_ffn 1024, 4 heads, kernel 31, dropout 0.0) and of
SpeechBrain's ``TransformerASR`` defaults (Swish in the Conformer modules, which SpeechBrain 1.1.2 runs as
``torch.nn.SiLU``; RelPosEncXL for RelPosMHAXL); d_model 256 / 4 heads / d_ffn 1024 are also the Conformer (M)
layer of Gulati et al. (2020). ``large`` is the transducer paper's 12 layers, d_model 512, d_ffn 2048 with 4
heads for SummaryMixing (its recipe) and 8 for RelPosMHAXL (SpeechBrain's recipe). ``--dropout 0.1`` gives
SpeechBrain's default training dropout; ``--d-ffn`` and ``--mhsa-heads`` change one more setting, to see how the
ratios depend on it (a smaller d_ffn shrinks the shared cost, more RelPosMHAXL heads cost it more time). SummaryMixing
uses the ASR paper's mode by default (local and summary branches of one d_model hidden layer, LayerNorm);
``--mode SummaryMixing-fast`` gives the streaming transducer paper's.

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
from speechbrain.nnet.attention import PositionalwiseFeedForward
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.benchmarks.timing import (
    NoMixer,
    Target,
    add_target_arguments,
    fit_exponent,
    positive_float,
    positive_int,
)
from summarymixing.encoders.feed_forward import ActivationRecomputingFeedForward
from summarymixing.encoders.transformer_asr import TransformerASR

FRAME_SECONDS = 0.04
INPUT_SIZE = 640
MODELS = {
    "small": dict(
        num_encoder_layers=4, d_model=256, d_ffn=1024, kernel_size=31, heads={"SummaryMixing": 4, "RelPosMHAXL": 4}
    ),
    "large": dict(
        num_encoder_layers=12, d_model=512, d_ffn=2048, kernel_size=31, heads={"SummaryMixing": 4, "RelPosMHAXL": 8}
    ),
}
NO_MIXER = "no mixer"
SPEECHBRAIN_FFN = "SB-FFN"
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


def make_model(size, attention_type, mode="SummaryMixing", dropout=0.0, speechbrain_feed_forward=False):
    """A Conformer ``TransformerASR`` encoder of the given size and mixer (``mode``: SummaryMixing's);
    ``attention_type`` ``NO_MIXER`` gives the SummaryMixing encoder with ``NoMixer`` in every layer, and
    ``speechbrain_feed_forward`` puts back SpeechBrain's own feed-forward modules (the plain SpeechBrain layer
    around the mixer)."""
    config = dict(MODELS[size])
    heads = config.pop("heads")
    torch.manual_seed(0)
    model = TransformerASR(
        tgt_vocab=10, input_size=INPUT_SIZE, nhead=heads.get(attention_type, heads["SummaryMixing"]),
        num_decoder_layers=0, dropout=dropout, encoder_module="conformer", normalize_before=True, causal=False,
        attention_type="RelPosMHAXL" if attention_type == "RelPosMHAXL" else "SummaryMixing",
        **({} if attention_type == "RelPosMHAXL" else {"mode": mode}), **config,
    )  # fmt: skip
    if attention_type == NO_MIXER:
        for layer in model.encoder.layers:
            layer.mha_layer = NoMixer()
    if speechbrain_feed_forward:
        for module in model.modules():
            if isinstance(module, ActivationRecomputingFeedForward):
                module.__class__ = PositionalwiseFeedForward
    return model


def describe(size, dropout):
    """One line with the configuration of a model size, as the tables' header."""
    config = MODELS[size]
    heads = config["heads"]
    return (
        f"{config['num_encoder_layers']} layers, d_model {config['d_model']}, d_ffn {config['d_ffn']}, kernel "
        f"{config['kernel_size']}, heads SM {heads['SummaryMixing']} / MHSA {heads['RelPosMHAXL']}, Swish "
        f"(SpeechBrain's Conformer default), dropout {dropout:g}, batch 1, input {INPUT_SIZE} features"
    )


def training_variants(size, mode, dropout):
    """Name -> (model, dynamic chunk configuration) for the training-step table."""
    variants = {}
    for attention_type in ("SummaryMixing", "RelPosMHAXL"):
        model = make_model(size, attention_type, mode, dropout).train()
        variants[attention_type] = (model, None)
        variants[f"{attention_type}+DCT"] = (model, TRAINING_CHUNKS)
    variants[NO_MIXER] = (make_model(size, NO_MIXER, mode, dropout).train(), None)
    for attention_type in ("SummaryMixing", "RelPosMHAXL"):
        model = make_model(size, attention_type, mode, dropout, speechbrain_feed_forward=True).train()
        variants[f"{attention_type}/{SPEECHBRAIN_FFN}"] = (model, None)
    return variants


def measure_training(size, mode, dropout, seconds, rounds, target, max_bytes, budget_s):
    """Times (s) and peak memories (bytes) per variant and length; None where a variant was skipped because its
    memory, extrapolated from the previous length (quadratically for RelPosMHAXL, linearly otherwise), exceeds
    ``max_bytes``."""
    variants = training_variants(size, mode, dropout)
    encoders = {name: target.compiled(target.prepare(model).encode) for name, (model, _) in variants.items()}
    results = {name: {"time": [], "memory": []} for name in variants}
    clock = target.clock()
    for length_s in seconds:
        frames = round(length_s / FRAME_SECONDS)
        features = torch.randn(1, frames, INPUT_SIZE, device=target.device)
        steps = {}
        for name, (model, config) in variants.items():
            memories = results[name]["memory"]
            if memories:
                growth = frames / round(seconds[len(memories) - 1] / FRAME_SECONDS)
                if memories[-1] is None or memories[-1] * growth ** (2 if name.startswith("RelPos") else 1) > max_bytes:
                    continue

            def step(model=model, encode=encoders[name], config=config, features=features):
                model.zero_grad(set_to_none=True)
                with target.autocast():
                    encoded = encode(features, dynchunktrain_config=config)
                encoded.backward(torch.ones_like(encoded))

            steps[name] = step
        for model, _ in variants.values():
            model.zero_grad(set_to_none=True)
        memory = {name: target.peak_memory(step) for name, step in steps.items()}  # also the warm-up run
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


def print_training(size, dropout, seconds, results):
    """Prints the training-step tables (time, memory) of one model; returns the numbers the targets check."""
    sm, mhsa, none = results["SummaryMixing"], results["RelPosMHAXL"], results[NO_MIXER]
    sm_sb, mhsa_sb = results[f"SummaryMixing/{SPEECHBRAIN_FFN}"], results[f"RelPosMHAXL/{SPEECHBRAIN_FFN}"]
    summary = {key: {} for key in ("speedup", "memory", "ceiling", "memory_floor", "speedup_sb", "memory_sb")}
    summary["dct"] = []
    time_rows, memory_rows = [], []
    for i, length_s in enumerate(seconds):
        label = [f"{length_s:g}", round(length_s / FRAME_SECONDS)]
        times = [sm["time"][i], mhsa["time"][i], none["time"][i]]
        memories = [sm["memory"][i], mhsa["memory"][i], none["memory"][i]]
        sb_times, sb_memories = [sm_sb["time"][i], mhsa_sb["time"][i]], [sm_sb["memory"][i], mhsa_sb["memory"][i]]
        numbers = {
            "speedup": quotient(times[1], times[0]),
            "ceiling": quotient(times[1], times[2]),
            "memory": quotient(memories[0], memories[1]),
            "memory_floor": quotient(memories[2], memories[1]),
            "speedup_sb": quotient(sb_times[1], sb_times[0]),
            "memory_sb": quotient(sb_memories[0], sb_memories[1]),
        }
        for key, value in numbers.items():
            summary[key][length_s] = value
        sm_dct = quotient(results["SummaryMixing+DCT"]["time"][i], times[0])
        mhsa_dct = quotient(results["RelPosMHAXL+DCT"]["time"][i], times[1])
        if sm_dct is not None:
            summary["dct"].append(sm_dct)
        time_rows.append(label + [fmt(t, 1e3) for t in times] + [
            fmt(numbers["speedup"], 1, 2, "x"), fmt(numbers["ceiling"], 1, 2, "x"),
            fmt(mixer_ratio(times[1], times[0], times[2]), 1, 1, "x"), fmt(sm_dct, 1, 2), fmt(mhsa_dct, 1, 2),
            *(fmt(t, 1e3) for t in sb_times), fmt(numbers["speedup_sb"], 1, 2, "x"),
        ])  # fmt: skip
        memory_rows.append(label + [fmt(m, 2**-20) for m in memories] + [
            fmt(numbers["memory"], 100, 0, "%"), fmt(numbers["memory_floor"], 100, 0, "%"),
            fmt(mixer_ratio(memories[0], memories[1], memories[2]), 100, 0, "%"),
            *(fmt(m, 2**-20) for m in sb_memories), fmt(numbers["memory_sb"], 100, 0, "%"),
        ])  # fmt: skip
    print(f"\n{size} Conformer ({describe(size, dropout)}): training step (forward + backward)")
    print_table(["len (s)", "frames", "SM ms", "MHSA ms", "none ms", "speed-up", "ceiling", "mixer s-up",
                 "SM DCT/pl", "MHSA DCT/pl", "SM SB-FFN", "MHSA SB-FFN", "s-up SB-FFN"], time_rows)  # fmt: skip
    print("  none = no mixer; speed-up = MHSA / SM; ceiling = MHSA / none (a mixer that cost nothing); "
          "mixer s-up = (MHSA - none) / (SM - none);\n  SB-FFN = both models with SpeechBrain's own "
          "feed-forward modules (plain SpeechBrain layers around the mixer)")  # fmt: skip
    print_table(["len (s)", "frames", "SM MiB", "MHSA MiB", "none MiB", "mem ratio", "floor", "mixer ratio",
                 "SM SB-FFN", "MHSA SB-FFN", "ratio SB-FFN"], memory_rows)  # fmt: skip
    print("  mem ratio = SM / MHSA peak memory; floor = none / MHSA; mixer ratio = (SM - none) / (MHSA - none)")
    frames = [round(s / FRAME_SECONDS) for s in seconds]
    exponents = {name: fit_exponent(frames, results[name]["time"]) for name in results}
    print("time exponent (T >= 1000 frames): " + ", ".join(f"{n} {e:.3f}" for n, e in exponents.items()))
    summary["exponent"] = exponents["SummaryMixing"]
    return summary


def print_table(headers, rows):
    """Prints right-aligned columns."""
    print("  ".join(f"{h:>11}" for h in headers))
    for row in rows:
        print("  ".join(f"{c:>11}" for c in row))


def fmt(value, scale, digits=0, suffix=""):
    """``value * scale`` with ``digits`` decimals and a suffix, or "skipped" where it was not measured."""
    return "skipped" if value is None else f"{value * scale:.{digits}f}{suffix}"


def mixer_ratio(numerator, denominator, shared):
    """(numerator - shared) / (denominator - shared): the ratio of the mixers alone; None where not measured or
    where the denominator's own part is not positive (within timing noise of the shared cost)."""
    if None in (numerator, denominator, shared) or denominator <= shared:
        return None
    return (numerator - shared) / (denominator - shared)


def quotient(numerator, denominator):
    """numerator / denominator, None if either was not measured."""
    return None if numerator is None or denominator is None else numerator / denominator


def time_stream(model, config, positions_s, stop_s, target):
    """Per-chunk times (s) of streaming random features up to ``stop_s``; median of the 8 chunks ending at each
    position."""
    context = model.make_streaming_context(config)
    chunk_seconds = STREAM_CHUNK * FRAME_SECONDS
    chunk_times = []
    clock = target.clock()
    with torch.no_grad(), target.autocast():
        for _ in range(round(stop_s / chunk_seconds)):
            chunk = torch.randn(1, STREAM_CHUNK, INPUT_SIZE, device=target.device)
            begin = clock()
            model.encode_streaming(chunk, context)
            chunk_times.append(clock() - begin)
    return {
        name: statistics.median(chunk_times[max(0, round(s / chunk_seconds) - 8) : round(s / chunk_seconds)])
        for name, s in positions_s.items()
        if s <= stop_s
    }


def measure_streaming(size, mode, positions_s, target):
    """Per-chunk times of SummaryMixing (unlimited left context) and RelPosMHAXL (32 chunks of left context), in
    eager mode (streaming carries Python state between chunks; ``--compile`` applies to the training steps)."""
    sm = make_model(size, "SummaryMixing", mode).to(target.device).eval()
    mhsa = make_model(size, "RelPosMHAXL").to(target.device).eval()
    end = max(positions_s.values())
    sm_times = time_stream(sm, DynChunkTrainConfig(STREAM_CHUNK, None), positions_s, end, target)
    print(f"  {size}: SummaryMixing streamed {end} s (load {os.getloadavg()[0]:.2f})", flush=True)
    mhsa_stop = min(end, RELPOS_STREAM_SECONDS)
    mhsa_config = DynChunkTrainConfig(STREAM_CHUNK, RELPOS_LEFT_CHUNKS)
    mhsa_times = time_stream(mhsa, mhsa_config, positions_s, mhsa_stop, target)
    print(f"  {size}: RelPosMHAXL streamed {mhsa_stop} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return sm_times, mhsa_times, mhsa_stop


def print_streaming(size, positions_s, sm_times, mhsa_times, mhsa_stop):
    """Prints the streaming table of one model; returns SummaryMixing's last/first chunk-time ratio."""
    chunk_seconds = STREAM_CHUNK * FRAME_SECONDS
    print(f"\n{size} Conformer ({describe(size, 0.0)}, evaluation mode): streaming, {chunk_seconds * 1000:.0f} ms "
          f"chunks; SummaryMixing unlimited left context, RelPosMHAXL {RELPOS_LEFT_CHUNKS} chunks")  # fmt: skip
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
            print(f"  {size:5s} {name:43s} {value:8.3f}  (target {sense} {target})  {'met' if met else 'MISSED'}")
        for name, value, target, sense in training_ceilings(training.get(size)):
            reachable = value >= target if sense == ">=" else value <= target
            print(f"  {size:5s} {name:43s} {value:8.3f}  (a mixer that cost nothing: target "
                  f"{'reachable' if reachable else 'UNREACHABLE'} with this encoder)")  # fmt: skip


def training_checks(summary):
    """(name, value, target, sense) of the training-step targets that were measured, with our feed-forward
    modules and with SpeechBrain's (``SB-FFN``)."""
    checks = []
    for suffix, label in (("", ""), ("_sb", f" ({SPEECHBRAIN_FFN})")):
        for length_s, target in ((40, 3.0), (160, 10.0)):
            if summary["speedup" + suffix].get(length_s) is not None:
                checks.append((f"speed-up at {length_s} s{label}", summary["speedup" + suffix][length_s], target, ">="))
        long = [r for s, r in summary["memory" + suffix].items() if s >= 100 and r is not None]
        if long:
            checks.append((f"max memory ratio at >= 100 s{label}", max(long), 0.25, "<="))
    if summary["dct"]:
        checks.append(("SummaryMixing time exponent", summary["exponent"], 1.1, "<="))
        checks.append(("max SummaryMixing DCT / plain", max(summary["dct"]), 1.1, "<="))
    return checks


def training_ceilings(summary):
    """(name, value, target, sense) of the best any mixer could do in the training-step targets: RelPosMHAXL
    against the encoder with no mixer."""
    if summary is None:
        return []
    ceilings = []
    for length_s, target in ((40, 3.0), (160, 10.0)):
        if summary["ceiling"].get(length_s) is not None:
            ceilings.append((f"ceiling speed-up at {length_s} s", summary["ceiling"][length_s], target, ">="))
    long = [r for s, r in summary["memory_floor"].items() if s >= 100 and r is not None]
    if long:
        ceilings.append(("floor memory ratio at >= 100 s", max(long), 0.25, "<="))
    return ceilings


def main(argv=None):
    """Parses the command line and runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small model, 5-20 s, streaming to 1 min (< 1 min)")
    parser.add_argument("--sizes", nargs="+", choices=list(MODELS), help="models (default small large)")
    parser.add_argument("--seconds", type=positive_float, nargs="+", help=f"utterance lengths (default {FULL_SECONDS})")
    parser.add_argument(
        "--rounds",
        type=positive_int,
        help=f"max timed rounds per length (default {ROUNDS}, quick 1; 0: peak memory only)",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--max-gb",
        type=positive_float,
        default=6.0,
        help="skip a variant where its extrapolated peak memory exceeds this (default 6)",
    )
    parser.add_argument("--mode", default="SummaryMixing", help="SummaryMixing mode (default SummaryMixing)")
    parser.add_argument(
        "--dropout",
        type=positive_float,
        default=0.0,
        help="dropout of every model (default 0.0 as SpeechBrain's conformer_small; its default 0.1)",
    )
    parser.add_argument("--d-ffn", type=positive_int, help="feed-forward size of every model (default: the size's)")
    parser.add_argument("--mhsa-heads", type=positive_int, help="RelPosMHAXL heads (default: the size's)")
    parser.add_argument("--no-streaming", action="store_true", help="skip the streaming table")
    parser.add_argument("--no-training", action="store_true", help="skip the training-step table")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    sizes = args.sizes or (["small"] if args.quick else ["small", "large"])
    seconds = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    positions = QUICK_STREAM_POSITIONS if args.quick else STREAM_POSITIONS

    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    print(
        f"SummaryMixing mode {args.mode}; {target.describe()}, clock: {target.clock().__name__}, "
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    training, streaming = {}, {}
    for size in sizes:
        if args.d_ffn:
            MODELS[size]["d_ffn"] = args.d_ffn
        if args.mhsa_heads:
            MODELS[size]["heads"]["RelPosMHAXL"] = args.mhsa_heads
        if not args.no_training:
            rounds = args.rounds if args.rounds is not None else (1 if args.quick else ROUNDS[size])
            results = measure_training(
                size, args.mode, args.dropout, seconds, rounds, target, args.max_gb * 2**30, budget_s=120
            )
            training[size] = print_training(size, args.dropout, seconds, results)
        if not args.no_streaming:
            sm_times, mhsa_times, mhsa_stop = measure_streaming(size, args.mode, positions, target)
            streaming[size] = print_streaming(size, positions, sm_times, mhsa_times, mhsa_stop)
    print_targets(training, streaming)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
