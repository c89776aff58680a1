#!/usr/bin/env python3
"""Streaming transcription with a transducer trained by ``recipes/transducer/train.py``.

Loads the run folder with ``speechbrain.inference.ASR.StreamingASR`` (its ``inference.yaml``), reads the audio with
soundfile (torchaudio 2.11 has no streaming reader), feeds it chunk by chunk, and prints the transcript as each
chunk arrives, then the final one.

    python recipes/transducer/transcribe.py RUN_DIR AUDIO [--chunk-ms 640] [--left-chunks 32]

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import os
import sys

import soundfile
import torch
import torchaudio
from speechbrain.inference.ASR import StreamingASR
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig


def read_mono(path, sample_rate):
    """Reads an audio file with soundfile as a mono float32 tensor at ``sample_rate``."""
    try:
        audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise SystemExit(f"transcribe.py: cannot read audio file {path}: {error}") from error
    waveform = torch.from_numpy(audio).mean(dim=1)
    if file_rate != sample_rate:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    return waveform


def stream_transcribe(asr, waveform, config):
    """Yields the text decoded after each chunk (the final ones flush the feature extractor's lookahead).

    Arguments
    ---------
    asr : speechbrain.inference.ASR.StreamingASR
        The loaded model.
    waveform : torch.Tensor
        Mono audio ``[samples]`` at the model's sample rate.
    config : DynChunkTrainConfig
        Chunk size (encoder frames) and left context (chunks).

    Yields
    ------
    str
        Text decoded from each chunk (possibly empty).
    """
    chunk_samples = asr.get_chunk_size_frames(config)
    flush_chunks = asr.hparams.fea_streaming_extractor.get_recommended_final_chunk_count(chunk_samples)
    context = asr.make_streaming_context(config)
    padded_length = -(-len(waveform) // chunk_samples) * chunk_samples + flush_chunks * chunk_samples
    padded = torch.nn.functional.pad(waveform, (0, padded_length - len(waveform)))
    for chunk in padded.split(chunk_samples):
        yield asr.transcribe_chunk(context, chunk.unsqueeze(0))[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="output_folder of a training run (holds inference.yaml)")
    parser.add_argument("audio", help="audio file soundfile can read (wav, flac, ogg)")
    parser.add_argument("--chunk-ms", type=int, default=640, help="chunk size in milliseconds (default 640)")
    parser.add_argument("--left-chunks", type=int, default=None, help="left context in chunks (default unlimited)")
    parser.add_argument("--frame-ms", type=int, default=40, help="encoder frame duration in ms (default 40)")
    args = parser.parse_args(argv)

    if not os.path.isfile(os.path.join(args.run_dir, "inference.yaml")):
        raise SystemExit(f"transcribe.py: {args.run_dir}/inference.yaml not found; is it a finished training run?")
    if args.chunk_ms <= 0 or args.chunk_ms % args.frame_ms:
        raise SystemExit(f"transcribe.py: --chunk-ms {args.chunk_ms} must be a positive multiple of {args.frame_ms}")
    asr = StreamingASR.from_hparams(
        source=os.path.abspath(args.run_dir),
        hparams_file="inference.yaml",
        savedir=os.path.join(os.path.abspath(args.run_dir), "inference"),
    )
    waveform = read_mono(args.audio, asr.hparams.sample_rate)
    config = DynChunkTrainConfig(args.chunk_ms // args.frame_ms, args.left_chunks)

    transcript = ""
    chunk_seconds = args.chunk_ms / 1000
    for index, text in enumerate(stream_transcribe(asr, waveform, config)):
        transcript += text
        print(f"[{(index + 1) * chunk_seconds:6.2f} s] {transcript.strip()}", flush=True)
    print(transcript.strip())
    return transcript.strip()


if __name__ == "__main__":
    main(sys.argv[1:])
