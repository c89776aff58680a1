"""Filterbank + CNN front end of the SummaryMixing wav2vec 2.0 model (arXiv 2407.13377).

The waveform becomes 80-band log-mel filterbanks (25 ms window, 10 ms hop, SpeechBrain's ``Fbank``), each
utterance is normalised to zero mean and unit variance over its own frames, and a 2-layer 1-D CNN (512
channels, kernels 3 and 3, strides 2 and 1) turns them into 20 ms latent frames.

Padding never leaks into an utterance: the STFT pads with zeros (as the padded batch does), normalisation
statistics use the utterance's frames only, and padded frames are zeroed before every convolution. So a
padded batch gives, for each utterance, exactly the frames that utterance gives alone, and
:class:`FrameCounter` gives the exact number of frames the front end produces for a number of samples.
"""

import torch
from speechbrain.lobes.features import Fbank


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
    >>> count(torch.tensor([16000, 160000, 159]))
    tensor([ 51, 501,   1])
    """

    def __init__(self, sample_rate, hop_length, kernel_sizes, strides):
        self.hop_samples = int(round(sample_rate * hop_length / 1000.0))
        self.kernel_sizes = tuple(kernel_sizes)
        self.strides = tuple(strides)

    def fbank_frames(self, num_samples):
        """Filterbank frames of a centred, zero-padded STFT: ``1 + num_samples // hop``."""
        return torch.as_tensor(num_samples, dtype=torch.long) // self.hop_samples + 1

    def conv_frames(self, frames, layer):
        """Output frames of convolution ``layer`` (zero padding ``kernel // 2``) for ``frames`` input frames."""
        kernel_size, stride = self.kernel_sizes[layer], self.strides[layer]
        return (frames + 2 * (kernel_size // 2) - kernel_size) // stride + 1

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


class MelCNNFrontEnd(torch.nn.Module):
    """Log-mel filterbanks, per-utterance normalisation and a strided 1-D CNN.

    Each convolution block is convolution (zero padding ``kernel // 2``), LayerNorm over channels, GELU and
    dropout.

    Arguments
    ---------
    sample_rate : int
        Sampling rate of the audio, in Hz.
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
    (torch.Size([2, 51, 32]), [51, 26])
    >>> frontend.frame_counter(torch.tensor([8000])).tolist()
    [26]
    """

    def __init__(
        self,
        sample_rate=16000,
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
            sample_rate=sample_rate,
            n_mels=n_mels,
            win_length=win_length,
            hop_length=hop_length,
        )
        self.frame_counter = FrameCounter(sample_rate, hop_length, kernel_sizes, strides)
        self.output_size = channels[-1]
        self.convs = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        in_channels = n_mels
        for out_channels, kernel_size, stride in zip(channels, kernel_sizes, strides):
            self.convs.append(
                torch.nn.Conv1d(
                    in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
                )
            )
            self.norms.append(torch.nn.LayerNorm(out_channels))
            in_channels = out_channels
        self.activation = torch.nn.GELU()
        self.dropout = torch.nn.Dropout(dropout)

    def num_samples(self, wavs, wav_lens=None):
        """Absolute number of samples of each utterance from relative lengths (all full when ``None``)."""
        if wavs.dim() != 2:
            raise ValueError(f"MelCNNFrontEnd expects waveforms [batch, samples], got shape {tuple(wavs.shape)}")
        if wav_lens is None:
            return torch.full((wavs.shape[0],), wavs.shape[1], dtype=torch.long, device=wavs.device)
        return torch.round(wav_lens.to(wavs.device).float() * wavs.shape[1]).long()

    def normalised_fbanks(self, wavs, num_samples):
        """Log-mel filterbanks ``[B, T, n_mels]`` normalised per utterance, zero beyond each utterance."""
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            feats = self.fbank(wavs.float())
            lengths = self.frame_counter.fbank_frames(num_samples)
            valid = mask_padded_frames(torch.ones_like(feats[..., :1]), lengths)
            count = lengths.view(-1, 1, 1).to(feats)
            mean = (feats * valid).sum(dim=1, keepdim=True) / count
            var = (((feats - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count
            return (feats - mean) / torch.sqrt(var + 1e-5) * valid

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
        x = self.normalised_fbanks(wavs, num_samples)
        frame_lens = self.frame_counter.fbank_frames(num_samples)
        for layer, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = conv(x.transpose(1, 2)).transpose(1, 2)
            frame_lens = self.frame_counter.conv_frames(frame_lens, layer)
            x = mask_padded_frames(self.dropout(self.activation(norm(x))), frame_lens)
        return x, frame_lens
