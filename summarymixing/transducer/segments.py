"""What a stream's transcript is made of: words with times, segments closed by endpoints, and the rules that
decide where a segment ends.

A transducer writes each token at an encoder frame; the frame's time is the token's. A word (SentencePiece pieces
from one that starts with ``▁`` to the next) starts at its first token's frame and ends one frame after its last.
:class:`EndpointRules` are the endpoint rules of Kaldi and sherpa-onnx on the decoder's output: a segment ends
after enough trailing silence (frames that wrote nothing) once it holds text, after a longer one when it holds
none, or when it reaches a maximum length. At an endpoint the segment is final, and the decoder (and, with
``reset_encoder``, the encoder's summary of the past) starts afresh, as at the start of an utterance.

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
    """When a segment ends (sherpa-onnx's rules, with Kaldi's names for them).

    Arguments
    ---------
    silence_after_text_s : float
        Frames that wrote no token, after some text, that end the segment (rule 2). None: never.
    silence_without_text_s : float
        Frames that wrote no token, in a segment without text, that end it (rule 1; its silence is then dropped).
    max_segment_s : float
        A segment ends when it is this long (rule 3). None: never.
    reset_encoder : bool
        At an endpoint, also start the encoder's summary of the past afresh (the decoder always starts afresh).

    Example
    -------
    >>> rules = EndpointRules(silence_after_text_s=0.8, silence_without_text_s=2.4, max_segment_s=20.0)
    >>> rules.ends(segment_s=5.0, silence_s=0.84, has_text=True), rules.ends(5.0, 0.84, has_text=False)
    (True, False)
    >>> rules.ends(20.0, 0.0, has_text=True)
    True
    """

    silence_after_text_s: float | None = 0.8
    silence_without_text_s: float | None = 2.4
    max_segment_s: float | None = 20.0
    reset_encoder: bool = False

    def __post_init__(self):
        for name in ("silence_after_text_s", "silence_without_text_s", "max_segment_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"EndpointRules: {name} must be a number of seconds above 0 or None, got {value!r}")

    def ends(self, segment_s, silence_s, has_text):
        """Whether a segment of ``segment_s`` seconds whose last ``silence_s`` seconds wrote nothing ends now."""
        silence = self.silence_after_text_s if has_text else self.silence_without_text_s
        if silence is not None and silence_s >= silence:
            return True
        return self.max_segment_s is not None and segment_s >= self.max_segment_s


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
