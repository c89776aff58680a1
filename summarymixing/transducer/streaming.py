"""Streaming transcription of audio of any length: segments closed by endpoints, words with times.

A :class:`TranscriptionStream` takes a stream's audio in blocks of any size and turns it into
:class:`~summarymixing.transducer.segments.Segment` s. It encodes the audio chunk by chunk exactly as
``StreamingTransducerASR.encode_chunk`` does (so a stream without endpoints gives the hypotheses of the chunk-masked
decoding of the whole recording, as the WER table's streamed column), decodes each chunk with the model's search
(greedy, or beam search with an LM), and after each chunk applies the :class:`EndpointRules`. At an endpoint the
segment is final, the decoder starts afresh and, with ``reset_encoder``, so does the encoder (its summary of the
past and its positions): the next segment is decoded as an utterance of its own. The state of a stream is
constant in size with SummaryMixing (the encoder's running sums, the convolution caches and a few hundred samples
of audio), so an hour of audio streams in the memory of a minute; the transcript is handed over segment by segment.

Block sizes never change the result: the audio is cut into the same chunks whatever the blocks.

Authors
-------
* The summarymixing contributors (2026)
"""

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
        When segments end; None: the whole stream is one segment.
    name : str
        What the stream is (a file name), for error messages.
    """

    def __init__(self, asr, config, endpoint=None, name="the stream"):
        if endpoint is not None and not isinstance(endpoint, EndpointRules):
            raise TypeError(f"endpoint must be EndpointRules or None, got {type(endpoint).__name__}")
        self.asr, self.config, self.endpoint, self.name = asr, config, endpoint, name
        self.searcher = asr.searcher
        self.chunk_samples = asr.get_chunk_size_frames(config)
        self.frame_s = asr.mods.front_end.frame_samples / asr.hparams.sample_rate
        self.context = asr.make_streaming_context(config)
        self.buffer = torch.zeros(0)
        self.frames = 0
        """Encoder frames decoded so far in the stream."""
        self.samples = 0
        """Samples received so far."""
        self._new_segment()

    def _new_segment(self):
        self.segment_start = self.frames
        self.tokens, self.token_frames = [], []
        self.decoder_state = None if self.searcher.beam_size == 1 else self.searcher.start()

    @property
    def partial(self):
        """The open segment as decoded so far (the best hypothesis, in beam search)."""
        return self._segment(*self._best(), end_s=self.frames * self.frame_s, final=False)

    def feed(self, samples):
        """Takes the next audio of the stream (1-D, at the model's rate; any length).

        Returns
        -------
        list of Segment
            The segments that this audio closed (usually none or one).
        """
        samples = torch.as_tensor(samples, dtype=torch.float32).reshape(-1)
        if not bool(torch.isfinite(samples).all()):
            at = (self.samples + int((~torch.isfinite(samples)).nonzero()[0, 0])) / self.asr.hparams.sample_rate
            raise ValueError(f"{self.name}: NaN or infinite samples at {at:.2f} s")
        self.samples += samples.numel()
        self.buffer = torch.cat([self.buffer, samples])
        closed = []
        while self.buffer.numel() >= self.chunk_samples:
            chunk, self.buffer = self.buffer[: self.chunk_samples], self.buffer[self.chunk_samples :]
            closed += self._step(chunk, final=False)
        return closed

    def finish(self):
        """Ends the stream: the rest of its audio is decoded and its last segment closed.

        Returns
        -------
        list of Segment
            The segments closed (the last one, unless it holds no words and an endpoint rule drops it).
        """
        if self.samples < self.asr.mods.front_end.min_samples:
            raise ValueError(
                f"{self.name}: {self.samples} samples of audio, fewer than the {self.asr.mods.front_end.min_samples} "
                "the model needs"
            )
        closed = self._step(self.buffer, final=True)
        self.buffer = torch.zeros(0)
        tokens, frames = self._best()
        if tokens or self.endpoint is None:
            closed.append(self._segment(tokens, frames, end_s=self.samples / self.asr.hparams.sample_rate, final=True))
        return closed

    @torch.no_grad()
    def _step(self, chunk, final):
        frames = self.asr.ready_frames(self.context, chunk[None], final=final)
        closed = []
        for start in range(0, frames.shape[1], self.config.chunk_size):
            piece = frames[:, start : start + self.config.chunk_size]
            encoded = self.asr.encode_frames(self.context, piece)
            self._decode(encoded)
            self.frames += encoded.shape[1]
            if self.endpoint is not None and not final:
                closed += self._endpoint(piece, encoded)
        return closed

    def _endpoint(self, piece, encoded):
        """Closes the segment when a rule says so. The next segment starts with the chunk just decoded, replayed
        in a fresh decoder (and encoder): the rules fire on frames that wrote nothing, so it gave the closed
        segment no token, and the next words may already start in it."""
        tokens, frames = self._best()
        last = frames[-1] + 1 if frames else self.segment_start
        segment_s = (self.frames - self.segment_start) * self.frame_s
        if not self.endpoint.ends(segment_s, (self.frames - last) * self.frame_s, bool(tokens)):
            return []
        start = self.frames - encoded.shape[1]
        closed = [self._segment(tokens, frames, end_s=start * self.frame_s, final=True)] if tokens else []
        if self.endpoint.reset_encoder:
            self.context.encoder_context = self.asr.mods.enc.make_streaming_context(self.config)
            encoded = self.asr.encode_frames(self.context, piece)
        self.frames = start
        self._new_segment()
        self._decode(encoded)
        self.frames += encoded.shape[1]
        return closed

    def _decode(self, encoded):
        if self.searcher.beam_size == 1:
            lengths = torch.tensor([encoded.shape[1]])
            tokens, _, frames, self.decoder_state = self.searcher.greedy_search(encoded, lengths, self.decoder_state)
            self.tokens += tokens[0]
            self.token_frames += [self.frames + frame for frame in frames[0]]
        else:
            self.decoder_state = self.searcher.advance(self.decoder_state, encoded[0], first_frame=self.frames)

    def _best(self):
        """The open segment's tokens and their frames: the greedy ones, or the best hypothesis of the beam."""
        if self.searcher.beam_size == 1:
            return self.tokens, self.token_frames
        best = self.searcher.finish(self.decoder_state)[0]
        return list(best.tokens), list(best.frames)

    def _segment(self, tokens, frames, end_s, final):
        pieces = [self.asr.hparams.tokenizer.id_to_piece(token) for token in tokens]
        words = words_from_pieces(pieces, frames, self.frame_s)
        return Segment(words=words, start=self.segment_start * self.frame_s, end=end_s, final=final)
