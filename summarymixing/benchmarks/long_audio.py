"""Long recordings with the paper-size streaming transducers: peak memory and real-time factor against the length
of the recording (1, 10, 60 minutes), SummaryMixing vs RelPosMHAXL self-attention, side by side.

Each point decodes one WAV file of the given length as users decode it, in a fresh process (its memory alone):

- **segments**: ``transcribe.py``'s default path: the file read block by block
  (:class:`summarymixing.data.audio.AudioStream`), streamed chunk by chunk through
  :class:`summarymixing.transducer.streaming.TranscriptionStream` with ``EndpointRules()`` (a fresh encoder and
  decoder after each pause), unlimited left context;
- **whole**: the same with no endpoints (``transcribe.py --no-endpoints``): the recording is one utterance, the
  encoder's streaming state carries over the whole file, unlimited left context (``whole-32``: 32 chunks);
- **offline**: the whole file read at once, the front end, the full-context encoder and the search in one pass (the
  WER table's full-context column), until memory runs out.

Both models are the paper configurations (``hparams/transducer/librispeech_{summarymixing,mhsa}.yaml``), built as a
run folder's ``inference.yaml`` builds them, random weights, greedy search calibrated to write about 4 tokens per
second (:func:`summarymixing.benchmarks.decoding.calibrate_blank`), 640 ms chunks. The recording is noise bursts of
2-12 s (the calibration's level) separated by 0.3-1.5 s of near silence, so the endpoint rules cut it as they cut
speech. The real-time factor is this process's CPU time on one thread (default) over the audio's duration; the
memory is the process's peak resident set size while decoding (model and libraries included) and, streamed, its
growth after the first 10 s of audio. A point stops when its CPU time passes ``--budget`` seconds (it then reports
how far it got, and the longer recordings of its model and mode are not run); a point over ``--memory-limit`` GB
stops with "out of memory".

    python -m summarymixing.benchmarks.long_audio                          # 1, 10, 60 min; every mode; both models
    python -m summarymixing.benchmarks.long_audio --minutes 1 --modes segments offline   # a few minutes
    python -m summarymixing.benchmarks.long_audio --jobs 2                 # two points at a time (two cores)

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile
import torch
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.benchmarks.decoding import MODELS, build_asr, calibrate_blank
from summarymixing.benchmarks.steps import SAMPLE_RATE
from summarymixing.benchmarks.timing import (
    Target,
    positive_float,
    positive_int,
    resident_memory,
    resident_memory_peak_reset,
)
from summarymixing.data.audio import AudioStream
from summarymixing.transducer.decoding import decode_masked
from summarymixing.transducer.segments import EndpointRules

MODES = {"segments": (True, None), "whole": (False, None), "whole-32": (False, 32), "offline": None}
"""Each mode's (endpoints, left context in chunks); ``offline``: one full-context pass."""
CHUNK_MS = 640
RSS_EVERY_S = 10
"""Seconds of audio between two samples of the resident set size."""
WARM_UP = "warm_up.wav"
"""10 s decoded before each measurement, next to the recordings."""


def write_recording(path, minutes, seed=0):
    """A 16 kHz 16-bit WAV of ``minutes``: noise bursts of 2-12 s at the calibration's level, 0.3-1.5 s of near
    silence (-80 dB) between them; written block by block.

    Example
    -------
    >>> import tempfile, soundfile
    >>> path = tempfile.mkstemp(suffix=".wav")[1]
    >>> write_recording(path, 0.5)
    >>> soundfile.info(path).frames
    480000
    """
    generator = np.random.default_rng(seed)
    remaining, speech = int(minutes * 60 * SAMPLE_RATE), True
    with soundfile.SoundFile(path, "w", SAMPLE_RATE, 1, "PCM_16") as wav:
        while remaining > 0:
            seconds = generator.uniform(2.0, 12.0) if speech else generator.uniform(0.3, 1.5)
            samples = min(remaining, int(seconds * SAMPLE_RATE))
            wav.write(generator.standard_normal(samples) * (0.1 if speech else 1e-4))
            remaining, speech = remaining - samples, not speech


def decode_streamed(asr, path, config, endpoint, clock, budget_s, rss):
    """Streams ``path`` as ``transcribe.py`` does; returns (audio seconds decoded, segments, whether it finished), and
    appends the resident set size after each :data:`RSS_EVERY_S` of audio to ``rss``. Stops past ``budget_s``."""
    stream, begin, fed, segments = asr.stream(config, endpoint, name=path), clock(), 0, []
    for block in AudioStream(path, SAMPLE_RATE):
        for piece in block.split(stream.chunk_samples):
            segments += stream.feed(piece)
            fed += piece.numel()
            if fed // (RSS_EVERY_S * SAMPLE_RATE) > len(rss):
                rss.append(resident_memory("VmRSS"))
                if clock() - begin > budget_s:
                    return fed / SAMPLE_RATE, segments, False
    segments += stream.finish()
    return fed / SAMPLE_RATE, segments, True


def decode_offline(asr, path):
    """The whole file in one full-context pass; returns the tokens."""
    wav = torch.from_numpy(soundfile.read(path, dtype="float32")[0])[None]
    with torch.no_grad():
        frames, lengths = asr.mods.front_end(wav, torch.ones(1))
        return decode_masked(asr.mods.enc, asr.mods.proj_enc, asr.searcher, frames, lengths, None)[0]


def measure_point(model, mode, path, budget_s):
    """One decoding of the recording at ``path``; a dict of its real-time factor and memory."""
    target = Target("cpu")
    with tempfile.TemporaryDirectory() as folder:
        asr, _ = build_asr(MODELS[model], target, folder)
    calibrate_blank(asr, target)
    frame_ms = 1000 * asr.mods.front_end.frame_samples / SAMPLE_RATE
    clock, rss = target.clock(), []
    warm_up = os.path.join(os.path.dirname(path), WARM_UP)
    decode_streamed(asr, warm_up, DynChunkTrainConfig(int(CHUNK_MS // frame_ms), None), None, clock, budget_s, [])
    resident_memory_peak_reset()
    base, begin = resident_memory("VmRSS"), clock()
    if MODES[mode] is None:
        tokens = decode_offline(asr, path)
        seconds, decoded_s, finished, segments = clock() - begin, soundfile.info(path).duration, True, 1
        tokens = len(tokens)
    else:
        endpoints, left = MODES[mode]
        config = DynChunkTrainConfig(int(CHUNK_MS // frame_ms), left)
        decoded_s, segments, finished = decode_streamed(
            asr, path, config, EndpointRules() if endpoints else None, clock, budget_s, rss
        )
        seconds = clock() - begin
        tokens = sum(len(asr.hparams.tokenizer.encode(segment.text)) for segment in segments if segment.text)
        segments = len(segments)
    return {"rtf": seconds / decoded_s, "decoded_s": decoded_s, "finished": finished, "base": base,
            "peak": resident_memory("VmHWM"), "growth": (max(rss) - rss[0]) if len(rss) > 1 else 0,
            "tokens_per_s": tokens / decoded_s, "segments": segments}  # fmt: skip


def run_point(model, mode, path, args):
    """:func:`measure_point` in a fresh process limited to ``--memory-limit`` GB; ``{"error": ...}`` if it fails."""
    command = [sys.executable, "-m", "summarymixing.benchmarks.long_audio", "--point", model, mode, path,
               "--budget", str(args.budget), "--threads", str(args.threads)]  # fmt: skip
    limit = int(args.memory_limit * 2**30)

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=limit_memory)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["killed"])[-1]
        memory = "memory" in last.lower() or "alloc" in last.lower() or result.returncode < 0
        return {"error": "out of memory" if memory else last[:80]}
    return json.loads(lines[-1])


def cell_text(point, length_s):
    """A table cell: RTF, peak MB and growth, or why there is none."""
    if "error" in point:
        return point["error"]
    text = f"{point['rtf']:.3f} / {point['peak'] / 2**20:,.0f} / {point['growth'] / 2**20:+,.0f}"
    if not point["finished"]:
        text += f" (stopped at {point['decoded_s'] / 60:.1f} of {length_s / 60:g} min)"
    return text


def print_table(results, models, modes, minutes, threads):
    print(f"\nLong recordings, paper-size transducers, {CHUNK_MS} ms chunks, greedy, cpu ({threads} thread(s)), fp32")
    print(f"Each cell: real-time factor / peak RSS (MB) / RSS growth after the first {RSS_EVERY_S} s of audio (MB)\n")
    header = ["mode", "model"] + [f"{length:g} min" for length in minutes]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for mode in modes:
        for model in models:
            cells = [cell_text(results[model, mode, length], length * 60) for length in minutes]
            print(f"| {mode} | {model} | " + " | ".join(cells) + " |")
    print("\nTokens written per second (segments):")
    for (model, mode, length), point in sorted(results.items()):
        if "error" not in point:
            print(f"  {model}, {mode}, {length:g} min: {point['tokens_per_s']:.1f} ({point['segments']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=positive_float, nargs="+", default=[1, 10, 60], help="recording lengths")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--budget", type=positive_float, default=1200, help="CPU seconds per point (default 1200)")
    parser.add_argument("--memory-limit", type=positive_float, default=16, help="GB per point (default 16)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="points measured at once (default 1)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads per point (default 1)")
    parser.add_argument("--point", nargs=3, metavar=("MODEL", "MODE", "WAV"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.point:
        model, mode, path = args.point
        print(json.dumps(measure_point(model, mode, path, args.budget)))
        return None
    with tempfile.TemporaryDirectory() as folder:
        write_recording(os.path.join(folder, WARM_UP), 10 / 60, seed=1)
        recordings = {}
        for length in args.minutes:
            recordings[length] = os.path.join(folder, f"{length:g}min.wav")
            write_recording(recordings[length], length)
        chains = [(model, mode) for mode in args.modes for model in args.models]

        def run_chain(chain):
            """The chain's lengths in increasing order; past a point that stopped or failed, the longer ones are
            not run (they would stop or fail the same way)."""
            points, reason = {}, None
            for length in sorted(args.minutes):
                if reason is not None:
                    points[(*chain, length)] = {"error": reason}
                    continue
                began = time.perf_counter()
                point = points[(*chain, length)] = run_point(*chain, recordings[length], args)
                print(f"  {chain[0]}, {chain[1]}, {length:g} min ({time.perf_counter() - began:.0f} s): {point}",
                      flush=True)  # fmt: skip
                if "error" in point or not point["finished"]:
                    reason = f"not run: {length:g} min " + ("failed" if "error" in point else "stopped")
            return points

        results = {}
        with ThreadPoolExecutor(args.jobs) as pool:
            for points in pool.map(run_chain, chains):
                results.update(points)
    print_table(results, args.models, args.modes, args.minutes, args.threads)
    return results


if __name__ == "__main__":
    main()
