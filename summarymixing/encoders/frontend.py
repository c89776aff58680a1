"""The acoustic front end of the speech recipes (fbank -> normalisation -> convolutions), padding-invariant and
exactly streamable.

SpeechBrain's recipes chain ``Fbank``, ``InputNormalization`` and ``ConvolutionFrontEnd`` on the padded batch and
stream them with ``StreamingFeatureWrapper``. Neither is exact:

- **Padding.** The convolutions of a short utterance read the fbanks of its batch padding (the log of silence,
  normalised: large values) where the utterance alone would read the convolution's padding (SpeechBrain's
  convolutions reflect the sequence's end), so its last frames depend on the batch. Here what each convolution
  reads past an utterance's end is what its padding gives the utterance alone, and lengths are exact frame counts,
  not rounded fractions of the padded length.
- **Streaming.** SpeechBrain 1.1.2's wrapper left-pads the first chunk with twice the context it later crops, so
  every streamed frame comes two frames (80 ms) late, and ``StreamingASR.get_chunk_size_frames`` asks for
  ``(stride - 1) * chunk_size`` samples, so the chunks drift by ``chunk_size`` samples each. A transducer decoding
  those features from audio reached 72% WER where the same model decoding offline features chunk by chunk reached
  32% (mini run, 640 ms chunks). :meth:`FrontEnd.forward_streaming` instead keeps the last few hundred samples and
  recomputes the front end over them with each new chunk, and emits a frame only once every sample it depends on
  has arrived: its frames are the frames :meth:`FrontEnd.forward` gives the whole utterance (up to float rounding
  of the same operations run on other tensor sizes, ~1e-6).
- **The fbank's floor.** SpeechBrain's ``Fbank`` raises every value lying more than 80 dB below the loudest value
  of the *whole utterance* to that floor, so a frame's features depend on audio that has not arrived yet (on the
  mini corpus, whose utterances start with digital silence, streamed and offline frames differed by up to 0.12
  after normalisation). The front end leaves that floor out by default (``utterance_floor=False``: values are
  floored at SpeechBrain's ``amin``, -100 dB, only), which changes only values more than 80 dB below an
  utterance's loudest; ``utterance_floor=True`` keeps SpeechBrain's features, for offline decoding only.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
from dataclasses import dataclass

import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.convolution import ConvBlock
from speechbrain.nnet.CNN import Conv1d, Conv2d
from speechbrain.processing.features import InputNormalization

from summarymixing.encoders.padding import check_relative_lengths, reflect_at_lengths, zero_after


@dataclass
class FrontEndStreamingContext:
    """What :meth:`FrontEnd.forward_streaming` keeps between chunks: O(receptive field) audio, never the stream."""

    samples: torch.Tensor | None = None
    """The audio kept, ``[batch, samples]``, starting at absolute sample ``start``."""

    start: int = 0
    """Absolute index of ``samples[:, 0]``, a multiple of the front end's frame stride."""

    received: int = 0
    """Samples received so far."""

    emitted: int = 0
    """Frames emitted so far."""

    finished: bool = False
    """Whether the final chunk has been processed."""


class FrontEnd(torch.nn.Module):
    """SpeechBrain's fbank, feature normalisation and convolutional front end, padding-invariant and streamable.

    Arguments
    ---------
    compute_features : speechbrain.lobes.features.Fbank
        Centred fbank (SpeechBrain's default ``center=True``, zero padding).
    normalize : speechbrain.processing.features.InputNormalization
        Feature normalisation; streaming needs ``norm_type="global"`` (per-sentence statistics need the future).
    cnn : speechbrain.lobes.models.convolution.ConvolutionFrontEnd
        Convolution blocks with ``"same"`` padding and odd kernels (SpeechBrain's recipes').
    utterance_floor : bool
        Keep SpeechBrain's fbank floor at the utterance's loudest value minus 80 dB (offline only: it needs the
        whole utterance); default False: no utterance-dependent floor, exact streaming.

    Example
    -------
    >>> from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
    >>> front_end = FrontEnd(
    ...     Fbank(n_mels=20), InputNormalization(),
    ...     ConvolutionFrontEnd(input_shape=[1, 10, 20], num_blocks=2, num_layers_per_block=1,
    ...                         out_channels=[4, 4], kernel_sizes=[3, 3], strides=[2, 2], residuals=[False, False]),
    ... )
    >>> audio = torch.randn(2, 8000)
    >>> _ = front_end(audio)  # training mode: the normalisation learns its statistics
    >>> _ = front_end.eval()
    >>> frames, lengths = front_end(audio, torch.tensor([1.0, 0.5]))
    >>> frames.shape, front_end.frame_counts(torch.tensor([8000, 4000])).tolist()
    (torch.Size([2, 13, 5, 4]), [13, 7])
    >>> alone, _ = front_end(audio[1:, :4000], torch.ones(1))
    >>> torch.allclose(frames[1, :7], alone[0], atol=1e-5)
    True
    >>> context = front_end.make_streaming_context()
    >>> chunks = audio[1:].split(640 * 4, dim=1)
    >>> streamed = [front_end.forward_streaming(c, context, final=i == len(chunks) - 1) for i, c in enumerate(chunks)]
    >>> torch.allclose(torch.cat(streamed, dim=1), front_end(audio[1:], torch.ones(1))[0], atol=1e-5)
    True
    """

    def __init__(self, compute_features, normalize, cnn, utterance_floor=False):
        super().__init__()
        if not isinstance(compute_features, Fbank):
            raise TypeError(f"FrontEnd: compute_features must be speechbrain's Fbank, got {type(compute_features)}")
        if compute_features.deltas or compute_features.context:
            raise ValueError("FrontEnd: the fbank must have no deltas and no context window (SpeechBrain's default)")
        self.utterance_floor = utterance_floor
        if not utterance_floor:
            compute_features.compute_fbanks.top_db = float("inf")  # no floor at the utterance's loudest - top_db
        stft = compute_features.compute_STFT
        if not stft.center or stft.pad_mode != "constant":
            raise ValueError("FrontEnd: the fbank must be centred with zero padding (center=True, pad_mode='constant')")
        self.compute_features = compute_features
        self.normalize = normalize
        self.cnn = cnn
        self.hop = stft.hop_length
        # (kernel, stride, padding mode) over time of every convolution, in order; each reads kernel // 2 frames on
        # each side
        self.convolutions = []
        reach, frame_samples = stft.n_fft // 2, self.hop
        for block in cnn.values():
            if not isinstance(block, ConvBlock):
                raise TypeError(f"FrontEnd: cnn must hold SpeechBrain ConvBlocks, got {type(block).__name__}")
            for layer in block.convs.values():
                if isinstance(layer, (Conv1d, Conv2d)):
                    kernel, stride = self._time_kernel_and_stride(layer)
                    self.convolutions.append((kernel, stride, layer.padding_mode))
                    reach += kernel // 2 * frame_samples
                    frame_samples *= stride
        self.frame_samples = frame_samples
        """Audio samples per output frame (the total stride)."""
        self.min_samples = next(n for n in range(1, 100 * frame_samples) if self._long_enough(n))
        """The shortest audio the convolutions take (a reflect-padded kernel needs more frames than it reaches)."""
        self.reach = reach
        """How many samples on each side of its centre ``j * frame_samples`` output frame j depends on."""

    @staticmethod
    def _time_kernel_and_stride(layer):
        kernel = layer.kernel_size[0] if isinstance(layer.kernel_size, (tuple, list)) else layer.kernel_size
        stride = layer.stride[0] if isinstance(layer.stride, (tuple, list)) else layer.stride
        dilation = layer.dilation[0] if isinstance(layer.dilation, (tuple, list)) else layer.dilation
        if (
            layer.padding != "same"
            or layer.padding_mode not in ("reflect", "constant")
            or kernel % 2 == 0
            or (dilation != 1)
        ):
            raise ValueError(
                f"FrontEnd: convolutions must have 'same' reflect or constant padding, an odd kernel and no "
                f"dilation; got padding {layer.padding!r} ({layer.padding_mode}), kernel {kernel}, dilation {dilation}"
            )
        return kernel, stride

    def _long_enough(self, samples):
        frames = samples // self.hop + 1
        for kernel, stride, padding_mode in self.convolutions:
            if padding_mode == "reflect" and frames <= kernel // 2:
                return False
            frames = (frames - 1) // stride + 1
        return True

    def frame_counts(self, sample_counts):
        """Output frames of utterances of ``sample_counts`` samples (each alone), as a LongTensor.

        Arguments
        ---------
        sample_counts : torch.Tensor
            Samples per utterance, [batch].

        Returns
        -------
        torch.Tensor
        """
        counts = self._fbank_counts(sample_counts)
        for _, stride, _ in self.convolutions:
            counts = torch.div(counts - 1, stride, rounding_mode="floor") + 1
        return counts

    def _fbank_counts(self, sample_counts):
        return torch.div(sample_counts.long(), self.hop, rounding_mode="floor") + 1

    def forward(self, wavs, wav_lens=None, augment=None, epoch=None):
        """Front end of a padded batch: each utterance's frames are the ones it gets alone.

        Arguments
        ---------
        wavs : torch.Tensor
            Audio [batch, samples]; whatever lies past an utterance's length is ignored (read as zeros).
        wav_lens : torch.Tensor, optional
            Relative lengths in (0, 1] (SpeechBrain's convention); None = no padding.
        augment : callable, optional
            Applied to the fbanks and their relative lengths before normalisation (SpecAugment in training);
            returns both.
        epoch : int, optional
            Passed to the normalisation (which updates its statistics until a given epoch).

        Returns
        -------
        frames : torch.Tensor
            The convolutions' output, [batch, frames, ...].
        lengths : torch.Tensor
            Relative lengths of ``frames``: exact frame counts divided by the padded count.
        """
        if wavs.dim() != 2:
            raise ValueError(f"FrontEnd: wavs must be [batch, samples], got shape {tuple(wavs.shape)}")
        if wav_lens is None:
            wav_lens = wavs.new_ones(wavs.shape[0])
        check_relative_lengths(wav_lens, wavs.shape[0])
        samples = torch.round(wav_lens.double() * wavs.shape[1]).long()
        if int(samples.min()) < self.min_samples:
            raise ValueError(
                f"FrontEnd: an utterance of {int(samples.min())} samples is shorter than the {self.min_samples} "
                f"samples the front end's convolutions need"
            )
        features = self.compute_features(zero_after(wavs, samples))
        counts = self._fbank_counts(samples)
        lengths = counts / features.shape[1]
        if augment is not None:
            features, lengths = augment(features, lengths)
            counts = torch.round(lengths.double() * features.shape[1]).long()
        features = self.normalize(features, lengths, epoch=epoch)
        frames, counts = self._convolve(features, counts)
        return frames, counts / frames.shape[1]

    def _convolve(self, x, counts):
        """The CNN's blocks as ``ConvBlock.forward`` runs them, with what each convolution reads past an utterance's
        end made what its own padding would give the utterance alone (zeros, or the reflection of its end)."""
        convolution = iter(self.convolutions)
        for block in self.cnn.values():
            block_input = x = zero_after(x, counts)
            for layer in block.convs.values():
                if isinstance(layer, (Conv1d, Conv2d)):
                    kernel, stride, padding_mode = next(convolution)
                    if padding_mode == "reflect":
                        x = reflect_at_lengths(x, counts, kernel // 2)
                    else:
                        x = zero_after(x, counts)
                    x = layer(x)
                    counts = torch.div(counts - 1, stride, rounding_mode="floor") + 1
                else:
                    x = layer(x)
            if block.reduce_conv is not None:
                x = block.drop(x + block.reduce_conv(block_input))
        return x, counts

    def make_streaming_context(self):
        """A blank context for :meth:`forward_streaming`.

        Returns
        -------
        FrontEndStreamingContext
        """
        return FrontEndStreamingContext()

    def forward_streaming(self, chunk, context, final=False):
        """The frames that the audio received so far fully determines, chunk by chunk.

        Frame j is emitted once the samples up to ``j * frame_samples + reach`` have arrived (all of it on the
        final chunk); the frames of a stream, concatenated, are exactly :meth:`forward`'s frames of the whole
        utterance. Run it in eval mode (``normalize`` must not update its statistics).

        Arguments
        ---------
        chunk : torch.Tensor
            The next samples [batch, n] (any n >= 0; every stream of the batch at the same position).
        context : FrontEndStreamingContext
            From :meth:`make_streaming_context`; updated in place.
        final : bool
            Whether this is the stream's last chunk (its end is the utterance's end).

        Returns
        -------
        torch.Tensor
            The newly determined frames [batch, frames, ...] (possibly none).
        """
        if self.training:
            raise RuntimeError(
                "FrontEnd.forward_streaming needs eval mode (call .eval()): training would update "
                "the normalisation statistics"
            )
        if self.utterance_floor:
            raise ValueError(
                "FrontEnd: streaming needs utterance_floor=False (SpeechBrain's fbank floor at the "
                "utterance's loudest value needs the whole utterance)"
            )
        if isinstance(self.normalize, InputNormalization) and self.normalize.norm_type != "global":
            raise ValueError(
                f"FrontEnd: streaming needs global feature normalisation, not "
                f"{self.normalize.norm_type!r} (per-sentence statistics need the whole utterance)"
            )
        if not isinstance(context, FrontEndStreamingContext):
            raise TypeError(f"context must come from FrontEnd.make_streaming_context(), got {type(context).__name__}")
        if context.finished:
            raise ValueError(
                "FrontEnd.forward_streaming: this stream has ended (a final chunk was processed); "
                "make a new context for a new stream"
            )
        if chunk.dim() != 2:
            raise ValueError(f"FrontEnd.forward_streaming: chunk must be [batch, samples], got {tuple(chunk.shape)}")
        if context.samples is not None and chunk.shape[0] != context.samples.shape[0]:
            raise ValueError(f"chunk has batch size {chunk.shape[0]} but the stream has {context.samples.shape[0]}")
        samples = chunk if context.samples is None else torch.cat([context.samples, chunk], dim=1)
        context.received += chunk.shape[1]
        context.samples, context.finished = samples, final
        if final:
            if context.received == 0:
                raise ValueError("FrontEnd.forward_streaming: the stream ended without a single sample")
            end = int(self.frame_counts(torch.tensor([context.received]))[0])
        else:
            end = max(0, math.floor((context.received - 1 - self.reach) / self.frame_samples) + 1)
        if end <= context.emitted:
            return chunk.new_zeros(chunk.shape[0], 0, *self._frame_shape(chunk))
        frames, _ = self.forward(samples)
        first = context.start // self.frame_samples
        new_frames = frames[:, context.emitted - first : end - first]
        context.emitted = end
        keep_from = max(0, (end * self.frame_samples - self.reach) // self.frame_samples * self.frame_samples)
        context.samples, context.start = samples[:, keep_from - context.start :], keep_from
        return new_frames

    def _frame_shape(self, chunk):
        """The shape of one output frame, from a short forward pass (an empty result still has it)."""
        if not hasattr(self, "_frame_shape_cache"):
            with torch.no_grad():
                frames, _ = self.forward(chunk.new_zeros(1, self.frame_samples))
            self._frame_shape_cache = tuple(frames.shape[2:])
        return self._frame_shape_cache
