"""Streaming transcription of audio of any length: segments cut at pauses, words with times.

A :class:`TranscriptionStream` takes a stream's audio in blocks of any size. The front end turns it into frames
(exactly the frames of the whole recording, whatever the blocks), and each frame is given a level (its energy in
dB). Without endpoint rules, the frames are encoded chunk by chunk and decoded as one utterance: the hypotheses of
the WER table's streamed column. With :class:`~summarymixing.transducer.segments.EndpointRules` the stream is cut
into segments where its audio pauses, frame by frame, before the frames are encoded:

- while a segment holds no speech, only its last ``leading_silence_s`` of silence are kept (the rest is dropped
  unencoded, as the start of an utterance would be);
- once it holds speech, ``silence_after_speech_s`` of silence close it, as does ``max_segment_s``;
- a closed segment's last frames are encoded as its last (shorter) chunk, and the next segment starts with a fresh
  encoder (its summary of the past and its positions) and decoder: each segment is decoded as an utterance of its
  own, which is what the models are trained on.

A frame is speech when its level is within ``speech_range_db`` of the loudest frame of the last seconds and above
``speech_floor_db``. The cuts are made on the audio, not on the decoder's output: a chunked model writes a
sentence's first tokens as soon as its chunk holds the sentence's onset, up to a chunk before it, so trailing
blanks do not show a short pause. For the same reason a word's start is moved to the first speech frame at or after
the frame that wrote it.

The state of a stream is constant in size with SummaryMixing (the encoder's running sums, the convolution caches,
the front end's few frames and the open segment's tokens and levels); the transcript is handed over segment by
segment, so an hour of audio streams in the memory of a minute.

Authors
-------
* The summarymixing contributors (2026)
"""

import math

import torch

from summarymixing.transducer.segments import EndpointRules, Segment, words_from_pieces


class TranscriptionStream:
    """One stream's transcription state (see the module documentation).

    Arguments
    ---------
    asr : summarymixing.transducer.inference.StreamingTransducerASR
        The loaded run folder (its search: greedy or beam, with or without LM).
    config : speechbrain.utils.dynamic_chunk_training.DynChunkTrainConfig
        Chunk size (encoder frames) and left context (chunks; None = unlimited).
    endpoint : EndpointRules, optional
        Where segments end; None: the whole stream is one segment.
    name : str
        What the stream is (a file name), for error messages.
    """

    def __init__(self, asr, config, endpoint=None, name="the stream"):
        if endpoint is not None and not isinstance(endpoint, EndpointRules):
            raise TypeError(f"endpoint must be EndpointRules or None, got {type(endpoint).__name__}")
        self.asr, self.config, self.endpoint, self.name = asr, config, endpoint, name
        self.searcher = asr.searcher
        self.hop = asr.mods.front_end.frame_samples
        self.sample_rate = asr.hparams.sample_rate
        self.frame_s = self.hop / self.sample_rate
        self.chunk_samples = asr.get_chunk_size_frames(config)
        self.context = asr.make_streaming_context(config)
        self.samples = 0
        """Samples received so far."""
        self.frames = 0
        """Frames of the stream given to segments so far (encoded, waiting, or dropped as leading silence)."""
        self.level_samples = torch.zeros(0)
        self.levels = []
        """Levels (dB) of the frames the front end has not yet given out."""
        self.loudest = -math.inf
        self._new_segment()

    def _new_segment(self):
        self.segment_start = self.frames
        """The stream frame where the open segment starts."""
        self.waiting = []
        """The open segment's frames not yet encoded (fewer than a chunk)."""
        self.encoded = 0
        self.speech = bytearray()
        """Per frame of the open segment: 1 if speech."""
        self.speech_frames = 0
        self.silence_run = 0
        self.tokens, self.token_frames = [], []
        self.decoder_state = None if self.searcher.beam_size == 1 else self.searcher.start()

    @property
    def partial(self):
        """The open segment as decoded so far (the best hypothesis, in beam search)."""
        return self._segment(self.decoded_s, final=False)

    @property
    def decoded_s(self):
        """How far the stream is decoded (seconds): the end of the open segment's last encoded chunk."""
        return (self.segment_start + self.encoded) * self.frame_s

    def feed(self, samples):
        """Takes the next audio of the stream (1-D, at the model's rate; any length).

        Returns
        -------
        list of Segment
            The segments that this audio closed (usually none or one).
        """
        samples = torch.as_tensor(samples, dtype=torch.float32).reshape(-1)
        if not bool(torch.isfinite(samples).all()):
            at = (self.samples + int((~torch.isfinite(samples)).nonzero()[0, 0])) / self.sample_rate
            raise ValueError(f"{self.name}: NaN or infinite samples at {at:.2f} s")
        self.samples += samples.numel()
        self._measure(samples)
        frames = self.asr.mods.front_end.forward_streaming(samples[None].to(self.asr.device),
                                                           self.context.fea_extractor_context)  # fmt: skip
        return self._take(frames)

    def finish(self):
        """Ends the stream: its last frames are decoded and its last segment closed.

        Returns
        -------
        list of Segment
            The segments closed (the last one, unless an endpoint rule found no speech in it).
        """
        if self.samples < self.asr.mods.front_end.min_samples:
            raise ValueError(
                f"{self.name}: {self.samples} samples of audio, fewer than the {self.asr.mods.front_end.min_samples} "
                "the model needs"
            )
        self._measure(torch.zeros(0), final=True)
        frames = self.asr.mods.front_end.forward_streaming(torch.zeros(1, 0, device=self.asr.device),
                                                           self.context.fea_extractor_context, final=True)  # fmt: skip
        closed = self._take(frames)
        end = self.samples / self.sample_rate
        if self.endpoint is not None and self.speech_frames == 0:
            return closed
        return closed + [self._close(end)]

    def _measure(self, samples, final=False):
        """Appends the levels of the frames that ``samples`` complete (a last partial frame too, when ``final``)."""
        self.level_samples = torch.cat([self.level_samples, samples])
        count = self.level_samples.numel() // self.hop
        if final and self.level_samples.numel() % self.hop:
            count += 1
            self.level_samples = torch.nn.functional.pad(
                self.level_samples, (0, count * self.hop - self.level_samples.numel())
            )
        power = self.level_samples[: count * self.hop].view(count, self.hop).pow(2).mean(dim=1).clamp(min=1e-12)
        self.levels += (10 * torch.log10(power)).tolist()
        self.level_samples = self.level_samples[count * self.hop :]

    def _is_speech(self, level):
        self.loudest = max(self.loudest - self.endpoint_decay, level)
        return level > self.loudest - self.endpoint.speech_range_db and level > self.endpoint.speech_floor_db

    @property
    def endpoint_decay(self):
        """dB per frame by which the reference loudness falls (it follows the loudest frame of the last seconds)."""
        return 6.0 * self.frame_s / 10.0

    def _take(self, frames):
        """Gives the front end's new frames to the open segment, cutting and encoding as the rules say."""
        closed = []
        for index in range(frames.shape[1]):
            level = self.levels.pop(0) if self.levels else -math.inf
            self.waiting.append(frames[:, index])
            self.frames += 1
            if self.endpoint is not None:
                speech = self._is_speech(level)
                self.speech.append(speech)
                self.speech_frames += speech
                self.silence_run = 0 if speech else self.silence_run + 1
                closed += self._cut()
            if len(self.waiting) == self.config.chunk_size:
                self._encode()
        return closed

    def _cut(self):
        """Applies the endpoint rules after a frame: drops leading silence, or closes the segment."""
        rules, frames_of = self.endpoint, lambda seconds: round(seconds / self.frame_s)
        if self.speech_frames < frames_of(rules.min_speech_s):
            lead = frames_of(rules.leading_silence_s)
            while self.encoded == 0 and len(self.waiting) > lead and not self.speech[0]:
                self.waiting.pop(0)
                del self.speech[0]
                self.segment_start += 1
            return []
        length = self.frames - self.segment_start
        if self.silence_run < frames_of(rules.silence_after_speech_s) and length < frames_of(rules.max_segment_s):
            return []
        segment = self._close(self.frames * self.frame_s)
        self.context.encoder_context = self.asr.mods.enc.make_streaming_context(self.config)
        self._new_segment()
        return [segment]

    @torch.no_grad()
    def _encode(self):
        """Encodes and decodes the waiting frames (a chunk, or the shorter last one of a segment)."""
        if not self.waiting:
            return
        frames = torch.stack(self.waiting, dim=1)
        self.waiting = []
        encoded = self.asr.encode_frames(self.context, frames)
        first = self.segment_start + self.encoded
        if self.searcher.beam_size == 1:
            lengths = torch.tensor([encoded.shape[1]])
            tokens, _, frames, self.decoder_state = self.searcher.greedy_search(encoded, lengths, self.decoder_state)
            self.tokens += tokens[0]
            self.token_frames += [first + frame for frame in frames[0]]
        else:
            self.decoder_state = self.searcher.advance(self.decoder_state, encoded[0], first_frame=first)
        self.encoded += encoded.shape[1]

    def _close(self, end_s):
        """Encodes what waits and gives out the open segment, final."""
        self._encode()
        return self._segment(end_s, final=True)

    def _best(self):
        """The open segment's tokens and their frames: the greedy ones, or the best hypothesis of the beam."""
        if self.searcher.beam_size == 1:
            return self.tokens, self.token_frames
        best = self.searcher.finish(self.decoder_state)[0]
        return list(best.tokens), list(best.frames)

    def _segment(self, end_s, final):
        tokens, frames = self._best()
        if self.endpoint is not None:  # a token written in silence by look-ahead: the word starts at the speech
            frames = [self._next_speech(frame) for frame in frames]
        pieces = [self.asr.hparams.tokenizer.id_to_piece(token) for token in tokens]
        words = words_from_pieces(pieces, frames, self.frame_s)
        return Segment(words=words, start=self.segment_start * self.frame_s, end=end_s, final=final)

    def _next_speech(self, frame):
        """The first speech frame of the open segment at or after ``frame`` (``frame`` itself if none)."""
        for index in range(max(frame - self.segment_start, 0), len(self.speech)):
            if self.speech[index]:
                return self.segment_start + index
        return frame
