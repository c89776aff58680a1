"""Audio read block by block: files of any format and rate, WAV or raw PCM from a pipe, the same samples as reading
the whole file, constant memory, and clear errors for what cannot be transcribed."""

import io

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from summarymixing.data.audio import AudioStream, StreamingResampler, read_wav_or_pcm


def signal(seconds, rate, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (int(seconds * rate), channels)).astype(np.float32)


@pytest.mark.parametrize("rate, subtype, channels", [(16000, "PCM_16", 1), (44100, "PCM_24", 2), (8000, "FLOAT", 1),
                                                     (22050, "PCM_16", 2)])  # fmt: skip
def test_a_file_streams_as_the_whole_file_reads(rate, subtype, channels, tmp_path):
    path = tmp_path / "a.flac" if subtype != "FLOAT" else tmp_path / "a.wav"
    soundfile.write(path, signal(2.3, rate, channels), rate, subtype=subtype)
    notes = []
    streamed = torch.cat(list(AudioStream(str(path), 16000, block_samples=1111, notify=notes.append)))
    audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    whole = torchaudio.functional.resample(torch.from_numpy(audio).mean(dim=1), file_rate, 16000)
    assert streamed.shape == whole.shape and float((streamed - whole).abs().max()) < 1e-5
    assert bool(notes) == (rate != 16000)


@pytest.mark.parametrize("subtype, bits", [("PCM_16", 16), ("PCM_24", 24), ("PCM_32", 32), ("FLOAT", 32),
                                           ("PCM_U8", 8)])  # fmt: skip
def test_a_wav_stream_from_a_pipe_reads_as_soundfile_reads_it(subtype, bits):
    audio = signal(0.7, 22050, 2)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 22050, format="WAV", subtype=subtype)
    expected, _ = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32", always_2d=True)
    blocks, rate, announced = read_wav_or_pcm(io.BytesIO(buffer.getvalue()), 16000, 1000, "pipe")
    samples = torch.cat(list(blocks))
    assert rate == 22050 and announced == len(audio)
    assert torch.allclose(samples, torch.from_numpy(expected.mean(axis=1)), atol=1e-6)


def test_a_wav_stream_of_unknown_length_and_raw_pcm(tmp_path):
    buffer = io.BytesIO()
    soundfile.write(buffer, signal(0.5, 16000), 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    data[data.index(b"data") + 4 : data.index(b"data") + 8] = b"\xff\xff\xff\xff"  # as ffmpeg writes to a pipe
    blocks, _, announced = read_wav_or_pcm(io.BytesIO(bytes(data)), 16000, 3000, "pipe")
    assert announced is None and sum(block.numel() for block in blocks) == 8000
    pcm = (np.arange(-100, 101, dtype=np.int16) * 100).tobytes() + b"\x01"  # ends mid-sample
    blocks, rate, _ = read_wav_or_pcm(io.BytesIO(pcm), 16000, 64, "raw")
    samples = torch.cat(list(blocks))
    assert rate == 16000 and samples.numel() == 201 and float(samples[0]) == pytest.approx(-10000 / 32768)


def test_bad_audio_is_refused_naming_it(tmp_path):
    soundfile.write(tmp_path / "nan.wav", np.concatenate([signal(1.0, 16000), np.full((800, 1), np.nan)]), 16000,
                    subtype="FLOAT")  # fmt: skip
    with pytest.raises(ValueError, match=r"nan\.wav: NaN or infinite samples at 1\.00 s"):
        list(AudioStream(str(tmp_path / "nan.wav"), 16000))
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 1)), 16000)
    with pytest.raises(ValueError, match=r"empty\.wav: no audio"):
        list(AudioStream(str(tmp_path / "empty.wav"), 16000))
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(ValueError, match=r"cannot read audio file .*text\.wav"):
        list(AudioStream(str(tmp_path / "text.wav"), 16000))
    with pytest.raises(ValueError, match="12-bit pcm WAV samples are not supported"):
        header = b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00" + b"\x00" * 6
        read_wav_or_pcm(io.BytesIO(header + b"\x0c\x00data\x00\x00\x00\x00"), 16000, 100, "pipe")


def test_a_truncated_file_gives_what_it_holds_and_says_so(tmp_path):
    soundfile.write(tmp_path / "cut.wav", signal(2.0, 16000), 16000, subtype="PCM_16")
    data = (tmp_path / "cut.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2 + 1])  # cut mid-sample
    notes = []
    samples = torch.cat(list(AudioStream(str(tmp_path / "cut.wav"), 16000, notify=notes.append)))
    assert 15000 < samples.numel() < 17000 and "ends after" in notes[0] and "2.00 s its header says" in notes[0]


def test_the_streaming_resampler_is_the_whole_signals_resampling():
    torch.manual_seed(0)
    for orig, new in [(44100, 16000), (8000, 16000), (48000, 16000), (11025, 16000)]:
        x = torch.randn(orig + 77)
        resampler = StreamingResampler(orig, new)
        streamed = torch.cat([resampler(block) for block in x.split(997)] + [resampler.flush()])
        whole = torchaudio.functional.resample(x, orig, new)
        assert streamed.shape == whole.shape and float((streamed - whole).abs().max()) < 1e-4, (orig, new)
        assert resampler.buffer.numel() < 20 * orig // 100  # it keeps a few groups, not the stream
