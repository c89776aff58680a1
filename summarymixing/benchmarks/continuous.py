"""Continuous speech with a trained transducer run: a test set decoded sentence by sentence, then as one recording
(its sentences joined by pauses) without endpoints and cut into segments, side by side.

    python -m summarymixing.benchmarks.continuous results/transducer/mini/2026 [--pause 0.5] [--chunks-ms 320 640]
    python -m summarymixing.benchmarks.continuous results/transducer/mini/2026 --minutes 20   # a 20-minute recording

Each cell is the WER (%) of the run's search (greedy or its beam search) on the run's first test manifest; the
recording is streamed through ``summarymixing.transducer.streaming.TranscriptionStream`` (the path of
``transcribe.py``) one utterance at a time. Segments use ``EndpointRules()``, ``transcribe.py``'s defaults.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import glob
import os
import random
import sys

import torch
from speechbrain.dataio.dataio import read_audio
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
from speechbrain.utils.metric_stats import ErrorRateStats

from summarymixing.benchmarks.timing import positive_float, positive_int
from summarymixing.data.manifest import read_csv
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.transducer.segments import EndpointRules


def word_error_rate(hypothesis, reference):
    """The WER (%) of one hypothesis string against one reference string."""
    stats = ErrorRateStats()
    stats.append(["all"], [hypothesis.split()], [reference.split()])
    return stats.summarize("error_rate")


def stream_text(asr, config, waveforms, pause_s, endpoint):
    """The transcript of ``waveforms`` streamed as one recording, ``pause_s`` of silence after each."""
    stream = asr.stream(config, endpoint)
    segments, pause = [], torch.zeros(int(pause_s * asr.hparams.sample_rate))
    for waveform in waveforms:
        segments += stream.feed(waveform) + stream.feed(pause)
    segments += stream.finish()
    return " ".join(segment.text for segment in segments if segment.text)


def recording_order(durations, pause_s, minutes, seed=0):
    """The order of the sentences in the recording: each once in the manifest's order, or with ``minutes``, the
    whole set again and again, shuffled each time (``seed``), until the recording is at least that long.

    Example
    -------
    >>> recording_order([2.0, 3.0], 0.5, None)
    [0, 1]
    >>> len(recording_order([2.0, 3.0], 0.5, 1.0))  # 60 s of 2.5 s and 3.5 s sentences
    20
    """
    if minutes is None:
        return list(range(len(durations)))
    generator, order, total = random.Random(seed), [], 0.0
    while total < 60 * minutes:
        cycle = list(range(len(durations)))
        generator.shuffle(cycle)
        order += cycle
        total += sum(durations) + pause_s * len(durations)
    return order


def measure(run_dir, chunk_ms, left_chunks, pause_s, minutes=None):
    """The table's rows: per chunk size, WER sentence by sentence, as one recording without and with segments."""
    asr = StreamingTransducerASR.from_hparams(source=run_dir, savedir=os.path.join(run_dir, "inference"))
    manifest = sorted(glob.glob(os.path.join(run_dir, "test*.csv")))[0]
    rows = read_csv(manifest)
    waveforms = [read_audio(row["wav"]) for row in rows]
    sample_rate = asr.hparams.sample_rate
    order = recording_order([len(waveform) / sample_rate for waveform in waveforms], pause_s, minutes)
    reference = " ".join(rows[index]["wrd"] for index in order)
    recording = [waveforms[index] for index in order]
    frame_ms = 1000 * asr.mods.front_end.frame_samples / sample_rate
    table = []
    for chunk in chunk_ms:
        config = DynChunkTrainConfig(int(chunk // frame_ms), left_chunks)
        sentences = [stream_text(asr, config, [waveform], 0.0, None) for waveform in waveforms]
        one_by_one = " ".join(sentences[index] for index in order)
        joined = stream_text(asr, config, recording, pause_s, None)
        segmented = stream_text(asr, config, recording, pause_s, EndpointRules())
        table.append((chunk, *(word_error_rate(text, reference) for text in (one_by_one, joined, segmented))))
    seconds = sum(len(waveform) / sample_rate + pause_s for waveform in recording)
    return os.path.basename(manifest), seconds, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a transducer run folder")
    parser.add_argument("--pause", type=positive_float, default=0.5, help="seconds between sentences (default 0.5)")
    parser.add_argument("--chunks-ms", type=positive_int, nargs="+", default=[320, 640, 1280])
    parser.add_argument("--left-chunks", type=positive_int, default=None, help="default unlimited")
    parser.add_argument(
        "--minutes", type=positive_float, help="repeat the test set (shuffled each time) into a recording this long"
    )
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    manifest, seconds, table = measure(args.run_dir, args.chunks_ms, args.left_chunks, args.pause, args.minutes)
    left = "unlimited" if args.left_chunks is None else f"{args.left_chunks} chunks"
    print(f"WER (%) on {manifest}, left context {left}, sentences joined by {args.pause:g} s of silence into one "
          f"recording of {seconds / 60:.1f} min\n")  # fmt: skip
    print("| chunk | sentence by sentence | one recording, no endpoints | one recording, segments |")
    print("|---|---|---|---|")
    for chunk, *wers in table:
        print(f"| {chunk} ms | " + " | ".join(f"{wer:.1f}" for wer in wers) + " |")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
