#!/usr/bin/env python3
"""Streaming transcription with a transducer trained by ``recipes/transducer/train.py``.

Loads the run folder with ``summarymixing.transducer.inference.StreamingTransducerASR`` (SpeechBrain's
``StreamingASR``, exact from audio: the path of the WER table's ``streamed`` column), reads each audio file with
soundfile, feeds it chunk by chunk and prints the transcript as each chunk arrives, then the final one.

    python recipes/transducer/transcribe.py RUN_DIR AUDIO [AUDIO ...] [--chunk-ms 640] [--left-chunks 32] \
        [--beam-size 10 [--lm-folder LM_RUN_DIR] [--lm-weight 0.5]]

With several files, each final line is ``AUDIO<TAB>transcript``; ``--json FILE`` also writes ``{AUDIO: transcript}``.
It decodes as the run's WER table did (greedy, or the run's beam search and LM); ``--beam-size N`` changes the
search, with ``--lm-folder DIR`` (an RNN LM run of ``recipes/lm/train.py`` on this model's tokenizer) fused at
``--lm-weight`` (default 0.5, as published). In beam search a chunk's text is what every hypothesis of the beam
agrees on; the end of the file settles the rest.
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

from summarymixing.data.audio import read_audio_file
from summarymixing.run_folder import UnsafeYamlError, write_atomically
from summarymixing.transducer.inference import StreamingTransducerASR


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="output_folder of a training run (holds inference.yaml)")
    parser.add_argument("audio", nargs="+", help="audio files soundfile can read (wav, flac, ogg, mp3)")
    parser.add_argument("--chunk-ms", type=int, default=640, help="chunk size in milliseconds (default 640)")
    parser.add_argument("--left-chunks", type=int, default=None, help="left context in chunks (default unlimited)")
    parser.add_argument("--beam-size", type=int, help="1: greedy; more: beam search (default: the run's search)")
    parser.add_argument("--lm-folder", help="an RNN LM run folder to fuse in beam search")
    parser.add_argument("--lm-weight", type=float, default=0.5, help="the LM's weight (default 0.5)")
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
    if args.json is not None and (os.path.isdir(args.json) or not os.path.isdir(os.path.dirname(args.json) or ".")):
        parser.error(f"--json {args.json}: give a file in an existing folder (it is written after the decoding)")
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
            waveform = read_audio_file(path, asr.hparams.sample_rate, asr.mods.front_end.min_samples)
        except ValueError as error:  # report it and go on with the other files
            print(f"transcribe.py: {error}", file=sys.stderr, flush=True)
            failed.append(path)
            continue
        transcript = ""
        for index, text in enumerate(asr.transcribe_waveform_streaming(waveform, config)):
            transcript += text
            if not args.quiet:
                print(f"[{(index + 1) * args.chunk_ms / 1000:6.2f} s] {transcript.strip()}", flush=True)
        transcripts[path] = " ".join(transcript.split())
        print(transcripts[path] if len(args.audio) == 1 else f"{path}\t{transcripts[path]}", flush=True)
    if args.json:
        write_atomically(args.json, json.dumps(transcripts, indent=1))
    if failed:
        raise SystemExit(
            f"transcribe.py: {len(failed)} of {len(args.audio)} files not transcribed: {', '.join(failed)}"
        )
    return transcripts


if __name__ == "__main__":
    main(sys.argv[1:])
