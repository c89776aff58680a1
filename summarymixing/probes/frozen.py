"""The self-supervised encoder of a probe: frozen (MP3S: never trained, always in eval mode, run without grad), or
fine-tuned with the head (:class:`FineTunedEncoder`); :func:`ssl_encoder` picks one from a YAML key.

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

    trainable = False

    def __init__(self, encoder):
        super().__init__()
        for name in ("num_hidden", "hidden_size"):
            if not isinstance(getattr(encoder, name, None), int):
                raise TypeError(
                    f"{type(self).__name__} needs an encoder with an int attribute '{name}' "
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
        """Returns all hidden states, ``[num_hidden, batch, time, hidden_size]`` (without grad when frozen).

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
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trainable):
            hidden = self.encoder(wavs, wav_lens)
        if hidden.dim() != 4 or hidden.shape[0] != self.num_hidden:
            raise ValueError(
                f"the probed encoder returned shape {tuple(hidden.shape)}, expected "
                f"[num_hidden={self.num_hidden}, batch, time, hidden_size={self.hidden_size}]"
            )
        return hidden


class FineTunedEncoder(FrozenEncoder):
    """Wraps a pre-trained encoder returning all hidden states so that it trains with the downstream head (the
    fine-tuned regime of arXiv 2407.13377), optionally with its feature extractor frozen.

    The probing ``Brain`` gives the encoder's parameters their own optimiser and learning rate, and can keep it
    frozen for its first optimiser steps (see :class:`summarymixing.probes.ProbeBrain`).

    Arguments
    ---------
    encoder : torch.nn.Module
        As for :class:`FrozenEncoder`, e.g. the module returned by ``summarymixing.wav2vec2.load_pretrained``
        (its ``frontend`` attribute is the feature extractor).
    freeze_frontend : bool
        Keep the feature extractor (``encoder.frontend``) frozen: no gradients, always in eval mode.

    Example
    -------
    >>> class TinyEncoder(torch.nn.Module):
    ...     num_hidden, hidden_size, freeze = 2, 4, True
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.frontend, self.layer = torch.nn.Linear(160, 4), torch.nn.Linear(4, 4)
    ...     def forward(self, wavs, wav_lens=None):
    ...         frames = self.frontend(wavs.unflatten(1, (-1, 160)))
    ...         return torch.stack([frames, self.layer(frames)])
    >>> tuned = FineTunedEncoder(TinyEncoder().requires_grad_(False)).train()
    >>> tuned(torch.rand(2, 1600)).requires_grad, tuned.encoder.frontend.training, tuned.encoder.layer.training
    (True, False, True)
    >>> [name for name, p in tuned.named_parameters() if p.requires_grad]
    ['encoder.layer.weight', 'encoder.layer.bias']
    """

    trainable = True

    def __init__(self, encoder, freeze_frontend=True):
        super().__init__(encoder)
        if freeze_frontend and not isinstance(getattr(encoder, "frontend", None), torch.nn.Module):
            raise TypeError(f"freeze_frontend needs the encoder's feature extractor as .frontend; "
                            f"{type(encoder).__name__} has none")  # fmt: skip
        encoder.freeze = False  # a PretrainedWav2Vec2 loaded frozen would otherwise stay in eval mode
        encoder.requires_grad_(True)
        self.freeze_frontend = freeze_frontend
        if freeze_frontend:
            encoder.frontend.requires_grad_(False)

    def train(self, mode=True):
        """Sets the training mode; a frozen feature extractor stays in eval mode.

        Arguments
        ---------
        mode : bool
            Training (True) or evaluation mode.

        Returns
        -------
        FineTunedEncoder
            self.
        """
        torch.nn.Module.train(self, mode)
        if self.freeze_frontend:
            self.encoder.frontend.eval()
        return self


def ssl_encoder(encoder, finetune=False, freeze_frontend=True):
    """The probe's encoder: :class:`FrozenEncoder` (MP3S), or :class:`FineTunedEncoder` with ``finetune``, so that
    a YAML switches regime with one key.

    Arguments
    ---------
    encoder : torch.nn.Module
        The pre-trained encoder (``summarymixing.wav2vec2.load_pretrained``).
    finetune : bool
        Train the encoder with the head.
    freeze_frontend : bool
        When fine-tuning, keep the feature extractor frozen.

    Returns
    -------
    FrozenEncoder or FineTunedEncoder
    """
    return FineTunedEncoder(encoder, freeze_frontend) if finetune else FrozenEncoder(encoder)
