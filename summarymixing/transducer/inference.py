"""Streaming transcription from audio with a transducer run folder: SpeechBrain's ``StreamingASR``, made exact.

:class:`StreamingTransducerASR` is a ``speechbrain.inference.ASR.StreamingASR`` (same loading, same
``transcribe_chunk`` / ``transcribe_file`` calls) whose front end is :class:`summarymixing.encoders.frontend.FrontEnd`
and whose chunks are exactly ``chunk_size`` encoder frames of audio. Fed chunk by chunk, it gives the hypotheses
of the offline front end and the chunk-masked encoder on the whole utterance (the ``masked`` column of the
recipe's WER table): the recipe's ``streamed`` column is computed by this class, on the trained model.

Differences from SpeechBrain 1.1.2's class, each needed for that equality:

- a chunk of a ``chunk_size``-frame configuration is ``chunk_size * frame_samples`` samples (SpeechBrain asks for
  ``(frame_samples - 1) * chunk_size`` samples, so its chunks drift);
- the front end emits a frame once all the audio it depends on has arrived, and the encoder is fed in whole
  chunks of ``chunk_size`` frames (the frames of a chunk wait for its last one), so a chunk's text comes
  ``FrontEnd.reach`` samples (46 ms with the recipes' front end) after the chunk's audio ends;
- the end of a stream is said (``final=True`` on its last chunk), so the last frames are the offline ones
  instead of the frames of appended silence.

Authors
-------
* The summarymixing contributors (2026)
"""

import os
from dataclasses import dataclass

import torch
from speechbrain.decoders.transducer import TransducerGreedySearcherStreamingContext
from speechbrain.inference.ASR import ASRStreamingContext, StreamingASR
from speechbrain.inference.interfaces import Pretrained

from summarymixing.data.audio import AudioStream, check_waveform
from summarymixing.run_folder import check_export, check_yaml_code
from summarymixing.transducer.search import TransducerBeamStreamingContext, searcher_for
from summarymixing.transducer.streaming import TranscriptionStream


@dataclass
class TransducerStreamingContext(ASRStreamingContext):
    """SpeechBrain's streaming context plus the front-end frames waiting for a whole encoder chunk."""

    pending_frames: torch.Tensor | None = None
    """Front-end frames not yet encoded (fewer than ``config.chunk_size``)."""


class StreamingTransducerASR(StreamingASR):
    """``StreamingASR`` for the transducer run folders of ``recipes/transducer/train.py``, exact from audio.

    Load a run folder with ``StreamingTransducerASR.from_hparams(source=RUN_DIR, hparams_file="inference.yaml",
    savedir=RUN_DIR + "/inference")``. The YAML is checked before it is loaded (see
    :mod:`summarymixing.run_folder`; ``allow_any_code=True`` skips the check for a trusted folder).

    It decodes as the run's WER table did (the folder's ``beam_size``, and its ``lm`` folder with ``lm_weight``
    when the run fused an LM); :meth:`use_searcher` changes that. Beam search gives out, after each chunk, the
    tokens that every hypothesis of the beam shares, and the rest of the best hypothesis at the end of the stream,
    so the text of a stream is the best hypothesis of decoding the whole utterance at once.

    Needs the hparams ``front_end`` (a :class:`~summarymixing.encoders.frontend.FrontEnd`, also a module) and
    SpeechBrain's streaming decoding keys; modules ``front_end``, ``enc`` and ``proj_enc``.

    Arguments
    ---------
    *args, **kwargs
        As for ``speechbrain.inference.interfaces.Pretrained`` (``modules``, ``hparams``, ``run_opts``,
        ``freeze_params``).
    """

    HPARAMS_NEEDED = [
        "front_end",
        "make_decoder_streaming_context",
        "decoding_function",
        "make_tokenizer_streaming_context",
        "tokenizer_decode_streaming",
    ]
    MODULES_NEEDED = ["front_end", "enc", "proj_enc"]

    def __init__(self, *args, **kwargs):
        # StreamingASR's own __init__ only reads SpeechBrain's feature wrapper, which this class replaces.
        Pretrained.__init__(self, *args, **kwargs)

    @classmethod
    def from_hparams(cls, source, hparams_file="inference.yaml", allow_any_code=False, **kwargs):
        """Loads a run folder on disk, after checking its YAML (:func:`summarymixing.run_folder.check_yaml_code`).

        Arguments
        ---------
        source : str
            The run folder.
        hparams_file : str
            Its inference YAML.
        allow_any_code : bool
            Skip the YAML check (a trusted folder).
        **kwargs
            Passed to ``Pretrained.from_hparams`` (e.g. ``savedir``, ``run_opts``).

        Returns
        -------
        StreamingTransducerASR
        """
        check_export(source, "StreamingTransducerASR")
        path = os.path.join(source, hparams_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: is {source} the folder of a finished training run?")
        check_yaml_code(path, allow_any_code, kwargs.get("overrides"))
        asr = super().from_hparams(source=source, hparams_file=hparams_file, **kwargs)
        lm_folder = os.path.join(source, "lm")
        asr.use_searcher(
            beam_size=getattr(asr.hparams, "beam_size", 1),
            lm_folder=lm_folder if os.path.isdir(lm_folder) else None,
            lm_weight=getattr(asr.hparams, "lm_weight", 0.0),
            tokenizer_file=os.path.join(source, "tokenizer.ckpt"),
        )
        return asr

    def use_searcher(self, beam_size=1, lm_folder=None, lm_weight=0.0, tokenizer_file=None):
        """Decodes from now on with greedy search (``beam_size`` 1) or beam search, with the RNN LM of an LM run
        folder fused (see :func:`summarymixing.transducer.search.searcher_for`).

        Arguments
        ---------
        beam_size : int
            1: greedy.
        lm_folder : str, optional
            A run folder of ``recipes/lm/train.py`` trained with this model's tokenizer.
        lm_weight : float
            The LM's weight.
        tokenizer_file : str, optional
            This model's SentencePiece model, to check the LM's against.
        """
        self.searcher = searcher_for(self.hparams.transducer, beam_size, lm_folder, lm_weight, tokenizer_file)
        self.searcher.to(self.device).eval()
        if beam_size == 1:
            self.hparams.make_decoder_streaming_context = TransducerGreedySearcherStreamingContext
            self.hparams.decoding_function = self.searcher.greedy_search_streaming
        else:
            self.hparams.make_decoder_streaming_context = TransducerBeamStreamingContext
            self.hparams.decoding_function = self.searcher.beam_search_streaming

    def get_chunk_size_frames(self, dynchunktrain_config):
        """The number of audio samples of one chunk: ``chunk_size`` encoder frames.

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context.

        Returns
        -------
        int
        """
        return self.mods.front_end.frame_samples * dynchunktrain_config.chunk_size

    def make_streaming_context(self, dynchunktrain_config):
        """A blank context for one stream (or one batch of streams that end together).

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context (chunks; None = unlimited).

        Returns
        -------
        TransducerStreamingContext
        """
        return TransducerStreamingContext(
            config=dynchunktrain_config,
            fea_extractor_context=self.mods.front_end.make_streaming_context(),
            encoder_context=self.mods.enc.make_streaming_context(dynchunktrain_config),
            decoder_context=self.hparams.make_decoder_streaming_context(),
            tokenizer_context=None,
        )

    @torch.no_grad()
    def encode_chunk(self, context, chunk, chunk_len=None, final=False):
        """Encodes the next audio of a stream: the encoder chunks that it completes (none, one or more).

        Arguments
        ---------
        context : TransducerStreamingContext
            From :meth:`make_streaming_context`; updated in place.
        chunk : torch.Tensor
            Audio [batch, samples] at the model's sample rate (any length; normally
            :meth:`get_chunk_size_frames` samples).
        chunk_len : torch.Tensor, optional
            Accepted for SpeechBrain's signature; the streams of a batch must end together, so only ones (or None)
            are valid. Say where a stream ends with ``final``.
        final : bool
            Whether this is the last audio of the stream (its remaining frames are then encoded).

        Returns
        -------
        torch.Tensor
            Projected encoder output [batch, frames, joint_dim] (possibly no frames).
        """
        if not isinstance(context, TransducerStreamingContext):
            raise TypeError(f"context must come from make_streaming_context(), got {type(context).__name__}")
        if chunk_len is not None and not bool(torch.all(chunk_len == 1)):
            raise ValueError(
                "StreamingTransducerASR: the streams of a batch must end together; pass final=True "
                "with the last chunk instead of relative chunk lengths"
            )
        frames = self.ready_frames(context, chunk, final)
        chunk_size = context.config.chunk_size
        encoded = [
            self.encode_frames(context, frames[:, start : start + chunk_size])
            for start in range(0, frames.shape[1], chunk_size)
        ]
        if not encoded:
            return torch.zeros(chunk.shape[0], 0, self.mods.proj_enc.w.out_features, device=self.device)
        return torch.cat(encoded, dim=1)

    def ready_frames(self, context, chunk, final=False):
        """The front end's frames that the next audio completes into whole encoder chunks (all that remain when
        ``final``); the others wait in ``context.pending_frames``.

        Arguments
        ---------
        context : TransducerStreamingContext
            From :meth:`make_streaming_context`; updated in place.
        chunk : torch.Tensor
            Audio [batch, samples] (any length).
        final : bool
            Whether this is the last audio of the stream.

        Returns
        -------
        torch.Tensor
            Frames [batch, whole chunks x chunk_size (or fewer at the end), features].
        """
        chunk = chunk.float().to(self.device)
        if not bool(torch.isfinite(chunk).all()):
            bad = int((~torch.isfinite(chunk)).sum())
            raise ValueError(f"StreamingTransducerASR: {bad} of the chunk's {chunk.numel()} samples are NaN or inf")
        frames = self.mods.front_end.forward_streaming(chunk, context.fea_extractor_context, final=final)
        if context.pending_frames is not None:
            frames = torch.cat([context.pending_frames, frames], dim=1)
        chunk_size = context.config.chunk_size
        ready = frames.shape[1] if final else frames.shape[1] // chunk_size * chunk_size
        context.pending_frames = frames[:, ready:]
        return frames[:, :ready]

    def encode_frames(self, context, frames):
        """One encoder chunk (``chunk_size`` front-end frames, or fewer at the end of a stream) through the
        streaming encoder and the joint network's projection.

        Arguments
        ---------
        context : TransducerStreamingContext
            Its ``encoder_context`` is updated in place.
        frames : torch.Tensor
            [batch, frames, features].

        Returns
        -------
        torch.Tensor
            [batch, frames, joint_dim].
        """
        return self.mods.proj_enc(self.mods.enc.forward_streaming(frames, context.encoder_context))

    def transcribe_chunk(self, context, chunk, chunk_len=None, final=False):
        """The text that the next audio of a stream adds (possibly empty).

        Arguments
        ---------
        context : TransducerStreamingContext
            From :meth:`make_streaming_context`; updated in place.
        chunk : torch.Tensor
            Audio [batch, samples].
        chunk_len : torch.Tensor, optional
            See :meth:`encode_chunk`.
        final : bool
            Whether this is the last audio of the stream.

        Returns
        -------
        list of str
            One text per stream of the batch.
        """
        encoded = self.encode_chunk(context, chunk, chunk_len, final=final)
        if isinstance(context.decoder_context, TransducerBeamStreamingContext):
            context.decoder_context.final = final
        words, _ = self.decode_chunk(context, encoded)
        return words

    def transcribe_waveform_streaming(self, waveform, dynchunktrain_config):
        """Transcribes audio chunk by chunk, as it would arrive from a microphone.

        Arguments
        ---------
        waveform : torch.Tensor
            Mono audio [samples] (or [1, samples]) at the model's sample rate.
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context (chunks).

        Yields
        ------
        str
            The text each chunk adds (possibly empty); they concatenate to the transcript.
        """
        waveform = waveform.reshape(1, -1)
        check_waveform(waveform[0], self.mods.front_end.min_samples, "waveform")
        chunk_samples = self.get_chunk_size_frames(dynchunktrain_config)
        context = self.make_streaming_context(dynchunktrain_config)
        chunks = waveform.split(chunk_samples, dim=1)
        for index, chunk in enumerate(chunks):
            yield self.transcribe_chunk(context, chunk, final=index == len(chunks) - 1)[0]

    def transcribe_file_streaming(self, path, dynchunktrain_config, **kwargs):
        """Transcribes an audio file chunk by chunk as it is read (block by block, in constant memory; downmixed
        and resampled), as one utterance. For a long recording, :meth:`stream` cuts it into segments.

        Arguments
        ---------
        path : str
            An audio file soundfile reads (wav, flac, ogg, mp3), or ``-`` (standard input, see
            :class:`summarymixing.data.audio.AudioStream`).
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context (chunks).
        **kwargs
            Ignored (SpeechBrain's signature).

        Yields
        ------
        str
            The text each chunk adds (possibly empty).
        """
        chunk_samples = self.get_chunk_size_frames(dynchunktrain_config)
        context = self.make_streaming_context(dynchunktrain_config)
        buffer, total = torch.zeros(0), 0
        for block in AudioStream(path, self.hparams.sample_rate):
            buffer, total = torch.cat([buffer, block]), total + block.numel()
            while buffer.numel() > chunk_samples:  # the last chunk waits for the end of the stream
                chunk, buffer = buffer[:chunk_samples], buffer[chunk_samples:]
                yield self.transcribe_chunk(context, chunk[None], final=False)[0]
        check_waveform(torch.zeros(total), self.mods.front_end.min_samples, path)
        yield self.transcribe_chunk(context, buffer[None], final=True)[0]

    def stream(self, dynchunktrain_config, endpoint=None, name="the stream"):
        """A new stream to transcribe audio of any length into segments with word times.

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context (chunks).
        endpoint : summarymixing.transducer.segments.EndpointRules, optional
            When segments end; None: one segment.
        name : str
            What the stream is (a file name), for error messages.

        Returns
        -------
        summarymixing.transducer.streaming.TranscriptionStream
        """
        return TranscriptionStream(self, dynchunktrain_config, endpoint, name)

    def transcribe_file(self, path, dynchunktrain_config, **kwargs):
        """The transcript of an audio file, decoded chunk by chunk.

        Arguments
        ---------
        path : str
            An audio file.
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size (encoder frames) and left context (chunks).
        **kwargs
            Ignored (SpeechBrain's signature).

        Returns
        -------
        str
        """
        return "".join(self.transcribe_file_streaming(path, dynchunktrain_config)).strip()
