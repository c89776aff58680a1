"""Filterbank + CNN front end of the SummaryMixing wav2vec 2.0 model (arXiv 2407.13377), as published.

The waveform becomes 80-band log-mel filterbanks (25 ms window, 10 ms hop, SpeechBrain's ``Fbank``), each
utterance is normalised per band over its own frames (as SpeechBrain's sentence ``InputNormalization``, which
the published model uses), then as a whole (layer normalisation over all its frames and bands, as the published
extractor does with ``normalize_signal``), and a 2-layer 1-D CNN (512 channels, kernels 3 and 3, strides 2 and
1, no padding, no bias, each convolution followed by LayerNorm and GELU; kaiming-initialised: SpeechBrain's
``ConvolutionFrontEnd``) with a final LayerNorm turns them into 20 ms latent frames.

Padding never leaks into an utterance: the STFT pads with zeros (as the padded batch does), both normalisations
use the utterance's own frames (SpeechBrain's sentence normalisation moves a padded utterance's values by up to
0.03, and the published layer normalisation covers the batch's padding too), and the
unpadded convolutions' outputs within an utterance's frame count read only its frames. So a padded batch gives,
for each utterance, exactly the frames that utterance gives alone, and :class:`FrameCounter` gives the exact
number of frames the front end produces for a number of samples.
"""

import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.nnet.CNN import Conv1d
from speechbrain.nnet.normalization import LayerNorm


class FrameCounter:
    """Exact number of latent frames that :class:`MelCNNFrontEnd` produces for a number of samples.

    A small picklable object, so that data-loader workers can compute masks for the right number of frames
    without holding the front end's weights.

    Arguments
    ---------
    sample_rate : int
        Sampling rate of the audio, in Hz.
    hop_length : float
        Filterbank hop, in milliseconds.
    kernel_sizes : sequence of int
        Kernel size of each convolution.
    strides : sequence of int
        Stride of each convolution.

    Example
    -------
    >>> count = FrameCounter(16000, 10, (3, 3), (2, 1))
    >>> count(torch.tensor([16000, 160000, 1119]))
    tensor([ 48, 498,   1])
    """

    def __init__(self, sample_rate, hop_length, kernel_sizes, strides):
        self.hop_samples = int(round(sample_rate * hop_length / 1000.0))
        self.kernel_sizes = tuple(kernel_sizes)
        self.strides = tuple(strides)

    def fbank_frames(self, num_samples):
        """Filterbank frames of a centred, zero-padded STFT: ``1 + num_samples // hop``."""
        return torch.as_tensor(num_samples, dtype=torch.long) // self.hop_samples + 1

    def conv_frames(self, frames, layer):
        """Output frames of convolution ``layer`` (no padding) for ``frames`` input frames (at least 0)."""
        kernel_size, stride = self.kernel_sizes[layer], self.strides[layer]
        return ((frames - kernel_size) // stride + 1).clamp(min=0)

    def __call__(self, num_samples):
        """Returns the number of latent frames (LongTensor) for each number of samples."""
        frames = self.fbank_frames(num_samples)
        for layer in range(len(self.kernel_sizes)):
            frames = self.conv_frames(frames, layer)
        return frames


def mask_padded_frames(x, lengths):
    """Zeroes the frames of ``x`` ``[B, T, C]`` at and beyond each utterance's ``lengths`` (absolute)."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return x * valid.unsqueeze(-1).to(x.dtype)


def _normalise_over_frames(x, lengths, dims, std_floor=0.0, variance_epsilon=0.0):
    """``(x - mean) / std`` over each utterance's ``lengths`` frames along ``dims`` (1: per band; (1, 2): over all
    frames and bands), ``std = max(sqrt(variance + variance_epsilon), std_floor)``; zero beyond the utterance."""
    x = mask_padded_frames(x, lengths)
    count = lengths.view(-1, 1, 1).to(x) * (x.shape[2] if 2 in dims else 1)
    mean = x.sum(dim=dims, keepdim=True) / count
    centred = mask_padded_frames(x - mean, lengths)
    std = ((centred**2).sum(dim=dims, keepdim=True) / count + variance_epsilon).sqrt().clamp(min=std_floor)
    return centred / std


class MelCNNFrontEnd(torch.nn.Module):
    """Log-mel filterbanks, per-utterance normalisation and a strided 1-D CNN, as the published model's.

    The parameters are named as the published latent extractor's (``extractor.convblock_<i>....``, ``norm``).

    Arguments
    ---------
    sample_rate : int
        Sampling rate of the audio, in Hz.
    n_fft : int
        FFT size of the filterbank's STFT.
    n_mels : int
        Number of mel bands.
    win_length : float
        Filterbank window, in milliseconds.
    hop_length : float
        Filterbank hop, in milliseconds.
    channels : sequence of int
        Output channels of each convolution.
    kernel_sizes : sequence of int
        Kernel size of each convolution.
    strides : sequence of int
        Stride of each convolution.
    dropout : float
        Dropout after each convolution block.

    Example
    -------
    >>> frontend = MelCNNFrontEnd(channels=(32, 32))
    >>> wavs = torch.randn(2, 16000)
    >>> latents, frame_lens = frontend(wavs, torch.tensor([1.0, 0.5]))
    >>> latents.shape, frame_lens.tolist()
    (torch.Size([2, 48, 32]), [48, 23])
    >>> alone, _ = frontend(wavs[1:, :8000])
    >>> torch.allclose(latents[1, :23], alone[0], atol=1e-5)
    True
    """

    def __init__(
        self,
        sample_rate=16000,
        n_fft=400,
        n_mels=80,
        win_length=25,
        hop_length=10,
        channels=(512, 512),
        kernel_sizes=(3, 3),
        strides=(2, 1),
        dropout=0.0,
    ):
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(strides):
            raise ValueError(
                f"MelCNNFrontEnd: channels {channels}, kernel_sizes {kernel_sizes} and strides {strides} "
                "must have the same length"
            )
        self.fbank = Fbank(
            sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, win_length=win_length, hop_length=hop_length
        )
        self.frame_counter = FrameCounter(sample_rate, hop_length, kernel_sizes, strides)
        self.output_size = channels[-1]
        self.extractor = ConvolutionFrontEnd(
            (None, 16000, n_mels), num_blocks=len(channels), num_layers_per_block=1, out_channels=list(channels),
            kernel_sizes=list(kernel_sizes), strides=list(strides), dilations=[1] * len(channels),
            residuals=[False] * len(channels), conv_module=Conv1d, activation=torch.nn.GELU, norm=LayerNorm,
            dropout=dropout, conv_bias=False, padding="valid", conv_init="kaiming",
        )  # fmt: skip
        self.norm = torch.nn.LayerNorm(channels[-1])

    def num_samples(self, wavs, wav_lens=None):
        """Absolute number of samples of each utterance from relative lengths (all full when ``None``)."""
        if wavs.dim() != 2:
            raise ValueError(f"MelCNNFrontEnd expects waveforms [batch, samples], got shape {tuple(wavs.shape)}")
        if wav_lens is None:
            return torch.full((wavs.shape[0],), wavs.shape[1], dtype=torch.long, device=wavs.device)
        return torch.round(wav_lens.to(wavs.device).float() * wavs.shape[1]).long()

    def normalised_fbanks(self, wavs, num_samples):
        """Log-mel filterbanks ``[B, T, n_mels]``, normalised per band and then as a whole over each utterance's
        own frames, zero beyond them."""
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            feats = self.fbank(mask_padded_frames(wavs.float()[..., None], num_samples)[..., 0])
            lengths = self.frame_counter.fbank_frames(num_samples).to(feats.device)
            feats = _normalise_over_frames(feats, lengths, (1,), std_floor=1e-10)  # SpeechBrain's sentence norm
            return _normalise_over_frames(feats, lengths, (1, 2), variance_epsilon=1e-5)  # torch's layer_norm

    def forward(self, wavs, wav_lens=None):
        """Computes the latent frames.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms ``[B, samples]``, right-padded.
        wav_lens : torch.Tensor, optional
            Relative length of each waveform in ``(0, 1]``; all full when ``None``.

        Returns
        -------
        latents : torch.Tensor
            ``[B, T, channels[-1]]``, zero on padded frames.
        frame_lens : torch.Tensor
            Absolute number of valid frames of each utterance (LongTensor).
        """
        num_samples = self.num_samples(wavs, wav_lens)
        frame_lens = self.frame_counter(num_samples).to(wavs.device)
        if int(frame_lens.min()) < 1:
            raise ValueError(
                f"MelCNNFrontEnd: an utterance of {int(num_samples.min())} samples is too short for the "
                "convolutions (no latent frame)"
            )
        latents = self.norm(self.extractor(self.normalised_fbanks(wavs, num_samples)))
        return mask_padded_frames(latents, frame_lens), frame_lens
