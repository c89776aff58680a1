#!/usr/bin/env python3
"""Streaming transcription with a transducer trained by ``recipes/transducer/train.py``, of audio of any length.

Reads each audio file (or ``-``, standard input: a WAV stream or raw 16-bit 16 kHz mono PCM, e.g.
``ffmpeg -i talk.mp4 -f wav - | transcribe.py RUN_DIR -``) block by block, never holding it whole, feeds it to the
run folder's model chunk by chunk (``summarymixing.transducer.streaming.TranscriptionStream``, the path of the WER
table's streamed and continuous columns), and prints the open segment's text after each chunk and each segment when
an endpoint closes it.

    python recipes/transducer/transcribe.py RUN_DIR AUDIO [AUDIO ...] [--chunk-ms 640] [--left-chunks 32] \
        [--beam-size 10 [--lm-folder LM_RUN_DIR] [--lm-weight 0.5]] [--format txt|json|srt|vtt] [--output PATH]

Endpoints (on by default; ``--no-endpoints`` decodes each file as one utterance, as the WER table's streamed column):
a segment ends after ``--endpoint-silence`` seconds of silence once it holds speech, or after ``--max-segment``
seconds; only ``--leading-silence`` seconds of silence are kept before its speech; the next segment starts with a
fresh encoder and decoder (see ``summarymixing.transducer.streaming``). ``--format`` chooses what is written for
each file: ``txt`` (the transcript; with several files ``AUDIO<TAB>transcript``), ``json`` (segments with word
times), ``srt`` or ``vtt`` subtitles (cues split at endpoints or every ``--max-cue`` seconds); to standard output,
or with ``--output`` to a file (one audio) or a folder (one file per audio). ``--json FILE`` also writes
``{AUDIO: transcript}``. It decodes as the run's WER table did (greedy, or the run's beam search and LM);
``--beam-size N`` changes the search, with ``--lm-folder DIR`` (an RNN LM run of ``recipes/lm/train.py`` on this
model's tokenizer) fused at ``--lm-weight`` (default 0.5, as published).

The run folder is checked before it is loaded (its ``export.json``, and its YAML against the allow-list of the
callables our recipes build); ``--allow-any-code`` skips the YAML check for a folder you trust. An audio file that
cannot be read or transcribed is reported and the others are transcribed; the exit status is then 1.

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import json
import os
import sys

from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.data.audio import AudioStream
from summarymixing.run_folder import UnsafeYamlError, write_atomically
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.transducer.segments import EndpointRules, to_srt, to_vtt

FORMATS = {
    "txt": (".txt", lambda path, segments, cue: " ".join(s.text for s in segments if s.text) + "\n"),
    "json": (".json", lambda path, segments, cue: json.dumps(
        {"audio": path, "segments": [s.as_dict() for s in segments]}, ensure_ascii=False) + "\n"),
    "srt": (".srt", lambda path, segments, cue: to_srt(segments, cue)),
    "vtt": (".vtt", lambda path, segments, cue: to_vtt(segments, cue)),
}  # fmt: skip
"""What ``--format`` writes for one audio (its path, segments and longest cue): the file suffix and the text."""


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="output_folder of a training run (holds inference.yaml)")
    parser.add_argument("audio", nargs="+", help="audio files soundfile can read (wav, flac, ogg, mp3), or - (stdin)")
    parser.add_argument("--chunk-ms", type=int, default=640, help="chunk size in milliseconds (default 640)")
    parser.add_argument("--left-chunks", type=int, default=None, help="left context in chunks (default unlimited)")
    parser.add_argument("--beam-size", type=int, help="1: greedy; more: beam search (default: the run's search)")
    parser.add_argument("--lm-folder", help="an RNN LM run folder to fuse in beam search")
    parser.add_argument("--lm-weight", type=float, default=0.5, help="the LM's weight (default 0.5)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="txt", help="what is written (default txt)")
    parser.add_argument("--output", help="a file (one audio) or a folder (several) for --format, instead of stdout")
    parser.add_argument("--max-cue", type=float, default=7.0, help="srt / vtt: longest cue in seconds (default 7)")
    parser.add_argument("--no-endpoints", action="store_true", help="decode each file as one utterance")
    rules = EndpointRules()
    parser.add_argument(
        "--endpoint-silence",
        type=float,
        default=rules.silence_after_speech_s,
        help=f"seconds of silence that end a segment (default {rules.silence_after_speech_s})",
    )
    parser.add_argument(
        "--leading-silence",
        type=float,
        default=rules.leading_silence_s,
        help=f"seconds of silence kept before a segment's speech (default {rules.leading_silence_s})",
    )
    parser.add_argument("--max-segment", type=float, default=rules.max_segment_s,
                        help=f"longest segment in seconds (default {rules.max_segment_s})")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="print only the final transcripts")
    parser.add_argument("--json", help="also write {audio: transcript} to this file")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--allow-any-code", action="store_true", help="load the run folder's YAML unchecked")
    args = parser.parse_args(argv)
    if args.left_chunks is not None and args.left_chunks < 0:
        parser.error(f"--left-chunks must be >= 0, got {args.left_chunks}")
    if args.beam_size is not None and args.beam_size < 1:
        parser.error(f"--beam-size must be >= 1, got {args.beam_size}")
    if args.lm_folder is not None and (args.beam_size or 1) == 1:
        parser.error("--lm-folder needs beam search: give --beam-size above 1")
    if args.audio.count("-") > 1:
        parser.error("standard input (-) can be read once")
    for option, path in (("--json", args.json), ("--output", args.output if len(args.audio) == 1 else None)):
        if path is not None and (os.path.isdir(path) or not os.path.isdir(os.path.dirname(path) or ".")):
            parser.error(f"{option} {path}: give a file in an existing folder (it is written after the decoding)")
    if args.output is not None and len(args.audio) > 1 and not os.path.isdir(args.output):
        parser.error(f"--output {args.output}: with several audio files, give an existing folder")
    try:
        args.endpoint = None if args.no_endpoints else EndpointRules(
            silence_after_speech_s=args.endpoint_silence, leading_silence_s=args.leading_silence,
            max_segment_s=args.max_segment,
        )  # fmt: skip
    except ValueError as error:
        parser.error(str(error))
    return parser, args


def main(argv=None):
    parser, args = parse_arguments(argv)
    run_dir = os.path.abspath(args.run_dir)
    try:
        asr = StreamingTransducerASR.from_hparams(
            source=run_dir, savedir=os.path.join(run_dir, "inference"), allow_any_code=args.allow_any_code,
            run_opts={"device": args.device},
        )  # fmt: skip
        if args.beam_size is not None:
            asr.use_searcher(args.beam_size, args.lm_folder, args.lm_weight, os.path.join(run_dir, "tokenizer.ckpt"))
    except (FileNotFoundError, UnsafeYamlError, ValueError) as error:
        raise SystemExit(f"transcribe.py: {error}") from error
    frame_ms = 1000 * asr.mods.front_end.frame_samples / asr.hparams.sample_rate
    if args.chunk_ms <= 0 or args.chunk_ms % frame_ms:
        parser.error(f"--chunk-ms {args.chunk_ms} must be a positive multiple of the {frame_ms:g} ms encoder frame")
    config = DynChunkTrainConfig(int(args.chunk_ms // frame_ms), args.left_chunks)

    transcripts, failed = {}, []
    for path in args.audio:
        try:
            segments = transcribe(asr, path, config, args)
        except ValueError as error:  # report it and go on with the other files
            print(f"transcribe.py: {error}", file=sys.stderr, flush=True)
            failed.append(path)
            continue
        transcripts[path] = " ".join(segment.text for segment in segments if segment.text)
        write_output(path, segments, args)
    if args.json:
        write_atomically(args.json, json.dumps(transcripts, indent=1))
    if failed:
        raise SystemExit(
            f"transcribe.py: {len(failed)} of {len(args.audio)} files not transcribed: {', '.join(failed)}"
        )
    return transcripts


def transcribe(asr, path, config, args):
    """Streams one audio through the model, printing progress unless ``--quiet``; returns its segments."""
    stream = asr.stream(config, args.endpoint, name="standard input" if path == "-" else path)
    notices = lambda message: print(f"transcribe.py: {message}", file=sys.stderr, flush=True)  # noqa: E731
    segments, decoded_shown = [], 0.0
    for block in AudioStream(path, asr.hparams.sample_rate, notify=notices):
        for piece in block.split(stream.chunk_samples):  # a progress line per chunk
            closed = stream.feed(piece)
            segments += closed
            if args.quiet:
                continue
            for segment in closed:
                print(f"[{segment.start:7.2f} - {segment.end:7.2f} s] {segment.text}", flush=True)
            if stream.decoded_s > decoded_shown:
                decoded_shown = stream.decoded_s
                print(f"[{decoded_shown:7.2f} s] {stream.partial.text}", flush=True)
    segments += stream.finish()
    return segments


def write_output(path, segments, args):
    """The final transcript of one audio, in ``--format``, to stdout or ``--output``."""
    suffix, render = FORMATS[args.format]
    text = render(path, segments, args.max_cue)
    if args.output is None:
        if args.format == "txt" and len(args.audio) > 1:
            text = f"{path}\t{text}"
        print(text, end="", flush=True)
    elif len(args.audio) == 1:
        write_atomically(args.output, text)
    else:
        name = "stdin" if path == "-" else os.path.splitext(os.path.basename(path))[0]
        write_atomically(os.path.join(args.output, name + suffix), text)


if __name__ == "__main__":
    main(sys.argv[1:])
