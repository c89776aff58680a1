"""A frozen self-supervised encoder for probing: never trained, always in eval mode, run without grad.

MP3S probes a *frozen* encoder. Wrapping it in :class:`FrozenEncoder` makes that hold whatever the
surrounding ``Brain`` does: ``Brain.fit`` calls ``modules.train()`` every epoch, which here leaves the
encoder in eval mode (no dropout, no layerdrop), its parameters never require grad (so DDP leaves it
unwrapped and no optimiser sees it), and its forward pass runs under ``torch.no_grad()``.

Authors
 * SummaryMixing contributors 2026
"""

import torch


class FrozenEncoder(torch.nn.Module):
    """Wraps an encoder returning all hidden states so that it stays frozen during probing.

    Arguments
    ---------
    encoder : torch.nn.Module
        Module with ``forward(wavs, wav_lens=None) -> [num_hidden, batch, time, dim]`` and the
        attributes ``num_hidden`` and ``hidden_size``, e.g. the module returned by
        ``summarymixing.wav2vec2.load_pretrained``.

    Example
    -------
    >>> class TinyEncoder(torch.nn.Module):
    ...     num_hidden, hidden_size = 2, 4
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.proj = torch.nn.Linear(160, 4)
    ...     def forward(self, wavs, wav_lens=None):
    ...         frames = self.proj(wavs.unflatten(1, (-1, 160)))
    ...         return torch.stack([frames, frames.tanh()])
    >>> frozen = FrozenEncoder(TinyEncoder()).train()
    >>> hidden = frozen(torch.rand(2, 1600))
    >>> hidden.shape, hidden.requires_grad, frozen.encoder.training
    (torch.Size([2, 2, 10, 4]), False, False)
    >>> frozen.num_hidden, frozen.hidden_size
    (2, 4)
    """

    def __init__(self, encoder):
        super().__init__()
        for name in ("num_hidden", "hidden_size"):
            if not isinstance(getattr(encoder, name, None), int):
                raise TypeError(
                    f"FrozenEncoder needs an encoder with an int attribute '{name}' "
                    f"(see summarymixing.wav2vec2.load_pretrained); {type(encoder).__name__} has none"
                )
        self.encoder = encoder.requires_grad_(False).eval()
        self.num_hidden = encoder.num_hidden
        self.hidden_size = encoder.hidden_size

    def train(self, mode=True):
        """Keeps the encoder in eval mode whatever ``mode`` is asked for.

        Arguments
        ---------
        mode : bool
            Ignored: a frozen encoder is always in eval mode.

        Returns
        -------
        FrozenEncoder
            self.
        """
        return super().train(False)

    def forward(self, wavs, wav_lens=None):
        """Returns all hidden states, ``[num_hidden, batch, time, hidden_size]``, without grad.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths in (0, 1].

        Returns
        -------
        torch.Tensor
            The hidden states.
        """
        with torch.no_grad():
            hidden = self.encoder(wavs, wav_lens)
        if hidden.dim() != 4 or hidden.shape[0] != self.num_hidden:
            raise ValueError(
                f"the frozen encoder returned shape {tuple(hidden.shape)}, expected "
                f"[num_hidden={self.num_hidden}, batch, time, hidden_size={self.hidden_size}]"
            )
        return hidden
