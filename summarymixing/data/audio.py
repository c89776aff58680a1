"""Audio as the models take it: read from a file (downmixed, resampled), checked for what cannot be transcribed.

Every loader of this package (the ASR, SLU and KWS run folders, the streaming transducer, ``transcribe.py``)
refuses audio that is too short for its front end or holds NaN or infinite samples with an error naming the file,
instead of decoding garbage.

Authors
-------
* The summarymixing contributors (2026)
"""

import soundfile
import torch
import torchaudio


def read_audio_file(path, sample_rate, min_samples=1):
    """Reads an audio file as a mono float32 tensor at ``sample_rate``, refusing what cannot be transcribed.

    Arguments
    ---------
    path : str
        An audio file soundfile reads.
    sample_rate : int
        The model's sample rate (the audio is resampled to it).
    min_samples : int
        The shortest audio the model takes.

    Returns
    -------
    torch.Tensor
        [samples].

    Raises
    ------
    ValueError
        Unreadable, empty, too short, or not finite; the message names the file.
    """
    try:
        audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"cannot read audio file {path}: {error}") from error
    waveform = torch.from_numpy(audio).mean(dim=1)
    if file_rate != sample_rate and waveform.numel() > 0:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    check_waveform(waveform, min_samples, path)
    return waveform


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
