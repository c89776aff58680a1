"""Audio as the models take it: read from a file (downmixed, resampled), checked for what cannot be transcribed.

Every loader of this package (the ASR, SLU and KWS run folders, the streaming transducer, ``transcribe.py``)
refuses audio that is too short for its front end or holds NaN or infinite samples with an error naming the file,
instead of decoding garbage.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
import sys

import numpy
import soundfile
import torch
import torchaudio


def check_waveform(waveform, min_samples, name):
    """Raises a ValueError naming ``name`` for audio too short to transcribe or with non-finite samples.

    Arguments
    ---------
    waveform : torch.Tensor
        Mono audio [samples].
    min_samples : int
        The shortest audio the model takes.
    name : str
        The file (or what the audio is) for the message.

    Example
    -------
    >>> check_waveform(torch.zeros(400), 320, "a.wav")
    >>> check_waveform(torch.zeros(1), 320, "a.wav")
    Traceback (most recent call last):
    ...
    ValueError: a.wav: 1 samples of audio, fewer than the 320 the model needs
    >>> check_waveform(torch.full((400,), float("nan")), 320, "a.wav")
    Traceback (most recent call last):
    ...
    ValueError: a.wav: 400 of 400 samples are NaN or infinite
    """
    if waveform.numel() < min_samples:
        raise ValueError(f"{name}: {waveform.numel()} samples of audio, fewer than the {min_samples} the model needs")
    bad = int((~torch.isfinite(waveform)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} of {waveform.numel()} samples are NaN or infinite")


def shortest_audio(encode, sample_rate, limit_s=1.0):
    """The fewest samples ``encode`` takes: found by bisection on silence, for models whose front end says
    nothing of its own limit (SpeechBrain's Fbank and CNN front ends fail on audio shorter than their padding).

    Arguments
    ---------
    encode : callable
        ``encode(wavs [1, samples])``; raises (RuntimeError, ValueError, IndexError) on audio too short.
    sample_rate : int
        Samples per second.
    limit_s : float
        Longest audio tried.

    Returns
    -------
    int

    Example
    -------
    >>> def encode(wavs):
    ...     return torch.nn.functional.pad(wavs, (200, 200), mode="reflect")
    >>> shortest_audio(encode, 16000)
    201
    """
    low, high = 1, int(limit_s * sample_rate)
    with torch.no_grad():
        while low < high:
            middle = (low + high) // 2
            try:
                encode(torch.zeros(1, middle))
                high = middle
            except (RuntimeError, ValueError, IndexError):
                low = middle + 1
    return low


class StreamingResampler:
    """Resamples a stream given block by block into exactly the samples that ``torchaudio.functional.resample``
    gives for the whole signal at once (up to float rounding), holding only a few milliseconds of it.

    torchaudio's resampler maps each group of ``orig / g`` input samples (``g`` the rates' greatest common
    divisor) to ``new / g`` output samples, each a windowed-sinc sum over a few groups around it. So the output
    of a group needs only the groups within ``margin`` of it: this class resamples a window of whole groups around
    the ones it can finish (the true start of the stream on its left, so its zero padding is the whole signal's)
    and keeps the outputs of the middle.

    Arguments
    ---------
    orig_freq : int
        The stream's sample rate.
    new_freq : int
        The rate wanted.

    Example
    -------
    >>> signal = torch.randn(44100)
    >>> resampler = StreamingResampler(44100, 16000)
    >>> streamed = torch.cat([resampler(block) for block in signal.split(1234)] + [resampler.flush()])
    >>> whole = torchaudio.functional.resample(signal, 44100, 16000)
    >>> streamed.shape == whole.shape, bool((streamed - whole).abs().max() < 1e-5)
    (True, True)
    """

    LOWPASS_FILTER_WIDTH = 6
    ROLLOFF = 0.99
    """torchaudio's defaults, which the window's margin is computed from."""

    def __init__(self, orig_freq, new_freq):
        divisor = math.gcd(int(orig_freq), int(new_freq))
        self.orig_freq, self.new_freq = int(orig_freq), int(new_freq)
        self.group_in, self.group_out = self.orig_freq // divisor, self.new_freq // divisor
        reach = self.LOWPASS_FILTER_WIDTH / (self.ROLLOFF * min(self.group_in, self.group_out))
        self.margin = math.ceil(reach) + 2
        """Groups on each side that a group's outputs depend on (with room to spare)."""
        self.buffer = torch.zeros(0)
        self.buffer_start = 0
        """Index (in groups) of the buffer's first group in the stream."""
        self.done = 0
        """Groups whose outputs were given."""
        self.total_in = 0

    def __call__(self, block):
        """The output samples that ``block`` (the next input samples, 1-D) completes (possibly none)."""
        self.buffer = torch.cat([self.buffer, block.to(torch.float32)])
        self.total_in += block.numel()
        complete = self.buffer_start + self.buffer.numel() // self.group_in
        return self._emit(complete - self.margin, final=False)

    def flush(self):
        """The remaining output samples at the end of the stream."""
        remaining = math.ceil(self.new_freq * self.total_in / self.orig_freq) - self.done * self.group_out
        return self._emit(self.done + math.ceil(remaining / self.group_out), final=True)[:remaining]

    def _emit(self, until, final):
        if until <= self.done:
            return torch.zeros(0)
        start = max(self.done - self.margin, 0)
        offset = (start - self.buffer_start) * self.group_in
        end = None if final else (until + self.margin - self.buffer_start) * self.group_in
        window = self.buffer[offset:end]
        resampled = torchaudio.functional.resample(window, self.orig_freq, self.new_freq)
        first = (self.done - start) * self.group_out
        out = resampled[first : first + (until - self.done) * self.group_out]
        self.done = until
        keep_from = max(self.done - self.margin, 0)  # the next window starts there
        self.buffer = self.buffer[(keep_from - self.buffer_start) * self.group_in :]
        self.buffer_start = keep_from
        return out


class AudioStream:
    """The audio of a file or of standard input, read block by block as mono float32 samples at the model's rate:
    a recording of any length streams in constant memory.

    ``source`` is a file soundfile reads (wav, flac, ogg, mp3; several channels are averaged), or ``-`` for standard
    input: a WAV stream (PCM 8/16/24/32-bit or float, any rate and channels; ``ffmpeg -f wav -`` writes one) or,
    without a RIFF header, raw 16-bit little-endian mono PCM at the model's rate. Audio at another rate is resampled
    exactly as a whole file would be (:class:`StreamingResampler`), after one notice.

    Arguments
    ---------
    source : str
        A path, or ``-``.
    sample_rate : int
        The model's rate.
    block_samples : int
        Samples read at a time (of the source's rate).
    notify : callable, optional
        Called with a one-line message when the audio is resampled or ends before its header said.

    Raises
    ------
    ValueError
        (while iterating) unreadable or empty audio, or NaN / infinite samples; the message names the source and,
        for bad samples, the time.

    Example
    -------
    >>> path = str(getfixture("tmp_path") / "a.wav")
    >>> soundfile.write(path, torch.randn(8000, 2).numpy() * 0.1, 8000)
    >>> notes = []
    >>> blocks = list(AudioStream(path, 16000, block_samples=3000, notify=notes.append))
    >>> sum(block.numel() for block in blocks)
    16000
    >>> print(notes[0])
    /.../a.wav: 8000 Hz audio, resampled to the model's 16000 Hz
    """

    def __init__(self, source, sample_rate, block_samples=16000, notify=None):
        self.source, self.sample_rate, self.block_samples = source, int(sample_rate), int(block_samples)
        self.name = "standard input" if source == "-" else str(source)
        self.notify = notify or (lambda message: None)

    def __iter__(self):
        blocks, rate, announced = self._stdin() if self.source == "-" else self._file()
        resampler = None
        if rate != self.sample_rate:
            self.notify(f"{self.name}: {rate} Hz audio, resampled to the model's {self.sample_rate} Hz")
            resampler = StreamingResampler(rate, self.sample_rate)
        read = 0
        for block in blocks:
            bad = ~torch.isfinite(block)
            if bool(bad.any()):
                at = (read + int(bad.nonzero()[0, 0])) / rate
                raise ValueError(f"{self.name}: NaN or infinite samples at {at:.2f} s")
            read += block.numel()
            out = block if resampler is None else resampler(block)
            if out.numel():
                yield out
        if read == 0:
            raise ValueError(f"{self.name}: no audio")
        if announced is not None and read < announced:
            self.notify(f"{self.name}: ends after {read / rate:.2f} s of the {announced / rate:.2f} s its header says")
        if resampler is not None:
            tail = resampler.flush()
            if tail.numel():
                yield tail

    def _file(self):
        try:
            info = soundfile.info(self.source)
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise ValueError(f"cannot read audio file {self.source}: {error}") from None

        def blocks():
            try:
                for block in soundfile.blocks(self.source, self.block_samples, dtype="float32", always_2d=True):
                    yield torch.from_numpy(block).mean(dim=1)
            except (RuntimeError, soundfile.LibsndfileError) as error:
                raise ValueError(f"cannot read audio file {self.source}: {error}") from None

        return blocks(), info.samplerate, self._announced_frames() or info.frames

    def _announced_frames(self):
        """The frames a WAV file's header announces (libsndfile reports those the file holds), or None."""
        with open(self.source, "rb") as stream:
            try:
                return read_wav_or_pcm(stream, self.sample_rate, 1, self.name)[2]
            except ValueError:  # a WAV format of libsndfile's own: trust it
                return None

    def _stdin(self):
        return read_wav_or_pcm(sys.stdin.buffer, self.sample_rate, self.block_samples, self.name)


WAV_FORMATS = {1: "pcm", 3: "float", 0xFFFE: "extensible"}


def read_wav_or_pcm(stream, raw_rate, block_samples, name):
    """Blocks of mono float32 samples from a binary stream that may not seek: a WAV stream, or raw 16-bit
    little-endian mono PCM at ``raw_rate`` when it does not start with a RIFF header.

    Returns
    -------
    blocks : iterator of torch.Tensor
    rate : int
    announced : int or None
        The samples the WAV header announces (None when unknown, as in a pipe).

    Example
    -------
    >>> import io, numpy
    >>> pcm = (numpy.arange(10, dtype=numpy.int16) * 1000).tobytes()
    >>> blocks, rate, _ = read_wav_or_pcm(io.BytesIO(pcm), 16000, 4, "raw")
    >>> [block.tolist()[:2] for block in blocks][:2], rate
    ([[0.0, 0.030517578125], [0.1220703125, 0.152587890625]], 16000)
    """
    head = stream.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return _samples(stream, head, numpy.dtype("<i2"), 1, 2**15, block_samples, name), raw_rate, None
    channels = rate = dtype = None
    scale = 1.0
    while True:
        chunk = stream.read(8)
        if len(chunk) < 8:
            raise ValueError(f"{name}: a WAV stream without a data chunk")
        kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if kind == b"fmt ":
            fmt = stream.read(size + size % 2)
            code, channels = int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little")
            rate, bits = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[14:16], "little")
            if WAV_FORMATS.get(code) == "extensible" and len(fmt) >= 26:
                code = int.from_bytes(fmt[24:26], "little")
            dtype, scale = _wav_sample_type(WAV_FORMATS.get(code), bits, name)
        elif kind == b"data":
            if dtype is None:
                raise ValueError(f"{name}: a WAV stream whose data comes before its format")
            known = size not in (0, 0xFFFFFFFF)
            announced = size // (dtype.itemsize * channels) if known else None
            blocks = _samples(stream, b"", dtype, channels, scale, block_samples, name, size if known else None)
            return blocks, rate, announced
        else:
            stream.read(size + size % 2)


def _wav_sample_type(kind, bits, name):
    """The numpy type of a WAV stream's samples and the scale that maps them to [-1, 1]."""
    types = {("pcm", 8): ("u1", None), ("pcm", 16): ("<i2", 2**15), ("pcm", 24): ("V3", 2**31),
             ("pcm", 32): ("<i4", 2**31), ("float", 32): ("<f4", 1), ("float", 64): ("<f8", 1)}  # fmt: skip
    if (kind, bits) not in types:
        raise ValueError(
            f"{name}: {bits}-bit {kind or 'unknown'} WAV samples are not supported (PCM 8/16/24/32, float)"
        )
    code, scale = types[kind, bits]
    return numpy.dtype(code), scale


def _samples(stream, head, dtype, channels, scale, block_samples, name, size=None):
    """Mono float32 blocks of at most ``block_samples`` frames from a stream of interleaved samples (``head``: bytes
    already read; ``size``: the bytes left, None until the end of the stream)."""
    frame_bytes, block_bytes = dtype.itemsize * channels, block_samples * dtype.itemsize * channels
    pending, left, ended = head, size, False
    while not ended or len(pending) >= frame_bytes:
        if not ended and len(pending) < block_bytes:
            data = stream.read(block_bytes if left is None else min(block_bytes, left))
            left = None if left is None else left - len(data)
            pending += data
            ended = not data or left == 0
            continue
        usable = min(len(pending), block_bytes) // frame_bytes * frame_bytes
        yield _decode(pending[:usable], dtype, channels, scale)
        pending = pending[usable:]


def _decode(raw, dtype, channels, scale):
    if dtype.kind == "V":  # 24-bit: widen to 32-bit integers in the high bytes
        bytes_ = numpy.frombuffer(raw, numpy.uint8).reshape(-1, 3)
        widened = numpy.zeros((bytes_.shape[0], 4), numpy.uint8)
        widened[:, 1:] = bytes_
        values = widened.view("<i4").reshape(-1).astype(numpy.float32) / scale
    elif dtype == numpy.dtype("u1"):
        values = (numpy.frombuffer(raw, dtype).astype(numpy.float32) - 128) / 128
    else:
        values = numpy.frombuffer(raw, dtype).astype(numpy.float32) / scale
    return torch.from_numpy(values.reshape(-1, channels).mean(axis=1))
