"""What a stream's transcript is made of: words with times, segments closed by endpoints, and the rules that
decide where a segment ends.

A transducer writes each token at an encoder frame; the frame's time is the token's. A word (SentencePiece pieces
from one that starts with ``\u2581`` to the next) starts at its first token's frame and ends one frame after its
last. :class:`EndpointRules` say where a stream is cut into segments: after enough trailing silence once a segment
holds speech, or at a maximum length (the endpoint rules of Kaldi and sherpa-onnx, here on the audio's level).

Authors
-------
* The summarymixing contributors (2026)
"""

from dataclasses import dataclass, field

WORD_START = "\u2581"
"""SentencePiece's mark of a piece that starts a word."""


@dataclass
class Word:
    """A word and its time in the stream (seconds)."""

    text: str
    start: float
    end: float


@dataclass
class Segment:
    """A stretch of a stream's transcript: final once an endpoint (or the end of the stream) closed it."""

    words: list = field(default_factory=list)
    start: float = 0.0
    """When the segment's audio starts (the previous endpoint, or 0)."""
    end: float = 0.0
    """When its audio ends (the endpoint), or how far it has been decoded."""
    final: bool = False

    @property
    def text(self):
        """The words, space-separated."""
        return " ".join(word.text for word in self.words)

    def as_dict(self):
        """JSON-ready: text, start, end, final and the words with their times (milliseconds rounded)."""
        return {
            "text": self.text, "start": round(self.start, 3), "end": round(self.end, 3), "final": self.final,
            "words": [{"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words],
        }  # fmt: skip


@dataclass
class EndpointRules:
    """Where a stream is cut into segments, on its audio (see :mod:`summarymixing.transducer.streaming`).

    Arguments
    ---------
    silence_after_speech_s : float
        Silence that closes a segment holding speech.
    leading_silence_s : float
        The silence kept before a segment's first speech (the rest is dropped unencoded).
    min_speech_s : float
        Speech a segment needs to count as holding speech (shorter sounds are clicks).
    max_segment_s : float
        A segment closes when it is this long.
    speech_range_db : float
        A frame is speech within this many dB of the loudest frame of the last seconds ...
    speech_floor_db : float
        ... and above this level (dB of the mean square of samples in [-1, 1]).

    Example
    -------
    >>> EndpointRules(silence_after_speech_s=0.3).max_segment_s
    20.0
    >>> EndpointRules(silence_after_speech_s=-1)
    Traceback (most recent call last):
    ...
    ValueError: EndpointRules: silence_after_speech_s must be a number of seconds above 0, got -1
    """

    silence_after_speech_s: float = 0.3
    leading_silence_s: float = 0.3
    min_speech_s: float = 0.1
    max_segment_s: float = 20.0
    speech_range_db: float = 35.0
    speech_floor_db: float = -55.0

    def __post_init__(self):
        for name in ("silence_after_speech_s", "leading_silence_s", "min_speech_s", "max_segment_s", "speech_range_db"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"EndpointRules: {name} must be a number of seconds above 0, got {value!r}")


def words_from_pieces(pieces, frames, frame_s, offset_s=0.0):
    """Words, with times, from SentencePiece pieces and the frames that wrote them.

    Arguments
    ---------
    pieces : list of str
        The tokens' pieces (``sp.id_to_piece``), in order.
    frames : list of int
        The frame that wrote each token.
    frame_s : float
        Seconds per encoder frame.
    offset_s : float
        The time of frame 0.

    Returns
    -------
    list of Word

    Example
    -------
    >>> words_from_pieces(["\u2581HE", "LLO", "\u2581WORLD"], [10, 12, 30], 0.04)
    [Word(text='HELLO', start=0.4, end=0.52), Word(text='WORLD', start=1.2, end=1.24)]
    """
    words = []
    for piece, frame in zip(pieces, frames):
        time = offset_s + frame * frame_s
        if piece.startswith(WORD_START) or not words:
            words.append(Word(piece.removeprefix(WORD_START), round(time, 6), round(time + frame_s, 6)))
        else:
            words[-1].text += piece
            words[-1].end = round(time + frame_s, 6)
    return [word for word in words if word.text]


def cues(segments, max_cue_s=7.0):
    """Subtitle cues: each segment's words, split into cues of at most ``max_cue_s`` seconds.

    Returns
    -------
    list of (float, float, str)
        Start, end and text of each cue.

    Example
    -------
    >>> words = [Word("A", 0.0, 0.5), Word("B", 4.0, 4.5), Word("C", 8.0, 8.5)]
    >>> cues([Segment(words, 0.0, 9.0, True)])
    [(0.0, 4.5, 'A B'), (8.0, 8.5, 'C')]
    """
    result = []
    for segment in segments:
        cue = []
        for word in segment.words:
            if cue and word.end - cue[0].start > max_cue_s:
                result.append((cue[0].start, cue[-1].end, " ".join(w.text for w in cue)))
                cue = []
            cue.append(word)
        if cue:
            result.append((cue[0].start, cue[-1].end, " ".join(w.text for w in cue)))
    return result


def _clock(seconds, decimal):
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    return f"{hours:02d}:{minutes:02d}:{milliseconds // 1000:02d}{decimal}{milliseconds % 1000:03d}"


def to_srt(segments, max_cue_s=7.0):
    """SubRip subtitles of the segments.

    Example
    -------
    >>> print(to_srt([Segment([Word("HELLO", 1.0, 1.5)], 0.0, 2.0, True)]), end="")
    1
    00:00:01,000 --> 00:00:01,500
    HELLO
    <BLANKLINE>
    """
    blocks = [
        f"{i}\n{_clock(s, ',')} --> {_clock(e, ',')}\n{t}\n" for i, (s, e, t) in enumerate(cues(segments, max_cue_s), 1)
    ]
    return "\n".join(blocks)


def to_vtt(segments, max_cue_s=7.0):
    """WebVTT subtitles of the segments.

    Example
    -------
    >>> print(to_vtt([Segment([Word("HELLO", 1.0, 1.5)], 0.0, 2.0, True)]), end="")
    WEBVTT
    <BLANKLINE>
    00:00:01.000 --> 00:00:01.500
    HELLO
    <BLANKLINE>
    """
    return "WEBVTT\n\n" + "\n".join(
        f"{_clock(s, '.')} --> {_clock(e, '.')}\n{t}\n" for s, e, t in cues(segments, max_cue_s)
    )
