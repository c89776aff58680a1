"""Continuous speech with the session's trained mini transducer: a stream without endpoints is the table's streamed
decoding; block sizes never change a transcript; endpoints cut a stream at its pauses, with word times inside the
audio; transcribe.py reads standard input and writes subtitles; the stream's state does not grow with its length."""

import json
import re
import subprocess

import pytest
import soundfile
import torch
from mini_runs import REPO, TRANSCRIBE, environment, transcribe
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.benchmarks import continuous
from summarymixing.data.manifest import read_csv
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.transducer.segments import EndpointRules

pytestmark = pytest.mark.slow  # decodes with a trained mini run


@pytest.fixture(scope="module")
def asr(transducer_run):
    folder, _ = transducer_run
    return StreamingTransducerASR.from_hparams(source=str(folder), savedir=str(folder / "inference"))


@pytest.fixture(scope="module")
def utterances(transducer_run):
    """Sentences the session's model learnt to write (its training set) and, separately, its test set."""
    folder, _ = transducer_run

    def read(name, count):
        rows = read_csv(folder / name)[:count]
        return rows, [torch.from_numpy(soundfile.read(row["wav"], dtype="float32")[0]) for row in rows]

    return read("train.csv", 6), read("test-clean.csv", 6)


def segments_of(asr, waveform, config, endpoint=None, block=None):
    stream = asr.stream(config, endpoint)
    segments = []
    for piece in waveform.split(block or waveform.numel()):
        segments += stream.feed(piece)
    return segments + stream.finish()


def test_a_stream_without_endpoints_is_the_tables_streamed_decoding(asr, utterances, transducer_run):
    folder, _ = transducer_run
    table = json.loads((folder / "hypotheses_test-clean.json").read_text())
    rows, audio = utterances[1]
    for left, name in ((None, "chunk640ms_leftinf_streamed"), (2, "chunk640ms_left2_streamed")):
        for row, waveform in zip(rows, audio):
            (segment,) = segments_of(asr, waveform, DynChunkTrainConfig(16, left))
            assert segment.text == table[name][row["ID"]] and segment.final


def test_block_sizes_never_change_a_transcript(asr, utterances):
    _, audio = utterances[0]
    waveform = torch.cat([torch.cat([a, torch.zeros(8000)]) for a in audio])
    rules = EndpointRules()
    config = DynChunkTrainConfig(16, None)
    expected = [s.as_dict() for s in segments_of(asr, waveform, config, rules)]
    for block in (1, 777, 10240, 48000):
        if block == 1:
            waveform_part = waveform[:20000]
            assert [s.as_dict() for s in segments_of(asr, waveform_part, config, rules, block)] == [
                s.as_dict() for s in segments_of(asr, waveform_part, config, rules)
            ]
            continue
        assert [s.as_dict() for s in segments_of(asr, waveform, config, rules, block)] == expected


def test_endpoints_cut_a_stream_at_its_pauses_with_times_inside_the_audio(asr, utterances):
    _, audio = utterances[0]
    silence = 3.0
    waveform = torch.cat([audio[0], torch.zeros(int(silence * 16000)), audio[1]])
    first_end, second_start = audio[0].numel() / 16000, audio[0].numel() / 16000 + silence
    segments = segments_of(asr, waveform, DynChunkTrainConfig(16, None), EndpointRules())
    assert len(segments) >= 2 and all(segment.final for segment in segments)
    words = [word for segment in segments for word in segment.words]
    assert all(0 <= word.start < word.end <= waveform.numel() / 16000 + 0.05 for word in words)
    assert [w for w in words if first_end + 0.5 < w.start < second_start - 0.1] == []  # nothing in the silence
    later = [w for w in words if w.start >= first_end + 0.5]
    assert later and later[0].start >= second_start - 0.1  # the second sentence starts after the silence
    assert segments[0].end <= segments[1].start + 1e-6


def test_transcribe_reads_standard_input_and_writes_subtitles(transducer_run, utterances, tmp_path):
    folder, _ = transducer_run
    _, audio = utterances[0]
    waveform = torch.cat([audio[0], torch.zeros(48000), audio[1]])
    soundfile.write(tmp_path / "talk.wav", waveform.numpy(), 16000, subtype="PCM_16")
    from_file = transcribe(folder, tmp_path / "talk.wav", "--quiet", "--format", "json")
    assert from_file.returncode == 0, from_file.stderr
    expected = json.loads(from_file.stdout)["segments"]
    for data in ((tmp_path / "talk.wav").read_bytes(), (waveform * 32767).round().to(torch.int16).numpy().tobytes()):
        piped = subprocess.run(
            ["python", TRANSCRIBE, str(folder), "-", "--quiet", "--format", "json"], input=data, cwd=REPO,
            env=environment(), capture_output=True, timeout=300,
        )  # fmt: skip
        assert piped.returncode == 0, piped.stderr.decode()
        assert json.loads(piped.stdout)["segments"] == expected
    result = transcribe(folder, tmp_path / "talk.wav", "--quiet", "--format", "srt", "--output", tmp_path / "t.srt")
    assert result.returncode == 0, result.stderr
    srt = (tmp_path / "t.srt").read_text()
    assert srt.startswith("1\n00:00:") and " --> " in srt or not any(s["words"] for s in expected)
    result = transcribe(folder, tmp_path / "talk.wav", "--quiet", "--format", "vtt")
    assert result.returncode == 0 and result.stdout.startswith("WEBVTT\n")
    result = transcribe(folder, tmp_path / "talk.wav", "--endpoint-silence", "-1")
    assert result.returncode == 2 and "silence_after_speech_s must be a number of seconds above 0" in result.stderr


def state_sizes(stream):
    """The numbers of elements of every tensor the stream holds (its context, decoder state, waiting frames and
    samples) and the lengths of its lists."""
    sizes, seen = [], set()

    def visit(value):
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, torch.Tensor):
            sizes.append(value.numel())
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module):
            visit(vars(value))

    for state in (stream.context, stream.decoder_state, stream.waiting, stream.level_samples):
        visit(state)
    return sizes + [len(stream.levels), len(stream.speech), len(stream.tokens)]


def test_the_state_of_a_long_stream_does_not_grow(asr):
    """Five minutes of faint noise, cut into segments: the stream never holds more after the first minute than during
    it (without endpoints the open segment's per-frame speech flags and tokens grow with the stream, by design)."""
    torch.manual_seed(0)
    for endpoint in (EndpointRules(),):
        stream = asr.stream(DynChunkTrainConfig(16, None), endpoint)
        sizes = []
        for _ in range(30):
            stream.feed(torch.randn(16000 * 10) * 0.01)
            sizes.append(sum(state_sizes(stream)))
        assert max(sizes[6:]) <= max(sizes[:6]), sizes
        stream.finish()


def test_the_continuous_benchmark_repeats_the_test_set_into_a_long_recording(transducer_run, capsys):
    folder, _ = transducer_run
    (row,) = continuous.main([str(folder), "--chunks-ms", "640", "--minutes", "0.5"])
    assert row[0] == 640 and all(0.0 <= wer <= 200.0 for wer in row[1:]), row
    out = capsys.readouterr().out
    assert "| 640 ms | " in out and float(re.search(r"recording of ([0-9.]+) min", out).group(1)) >= 0.5
