"""What a padded batch must show a convolution past each sequence's end, so that padding never changes a valid
output: zeros for zero-padded convolutions, the sequence's own reflection for reflect-padded ones.

Authors
-------
* The summarymixing contributors (2026)
"""

import torch


def zero_after(x, lengths):
    """``x`` with every frame from each sequence's length on set to zero.

    Arguments
    ---------
    x : torch.Tensor
        Padded batch [batch, time, ...].
    lengths : torch.Tensor
        Number of valid frames of each sequence [batch].

    Returns
    -------
    torch.Tensor

    Example
    -------
    >>> zero_after(torch.ones(2, 3), torch.tensor([3, 1])).tolist()
    [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if int(lengths.min()) >= x.shape[1]:
        return x
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return x.masked_fill(~valid.view(*valid.shape, *([1] * (x.dim() - 2))), 0.0)


def reflect_at_lengths(x, lengths, reach):
    """Overwrites the ``reach`` frames after each sequence's end with its reflection (as ``F.pad(mode="reflect")``
    pads a sequence on its own), so a "same" reflect-padded convolution gives each valid frame the value it has
    without padding.

    Arguments
    ---------
    x : torch.Tensor
        Padded batch [batch, time, ...].
    lengths : torch.Tensor
        Number of valid frames of each sequence [batch].
    reach : int
        How many frames past its end a sequence's last valid output sees.

    Returns
    -------
    torch.Tensor
        ``x`` with frames ``L .. L + reach - 1`` replaced by frames ``L - 2, L - 3, ...``.

    Example
    -------
    >>> x = torch.arange(6.0).view(1, 6, 1)
    >>> reflect_at_lengths(x, torch.tensor([3]), reach=2).flatten().tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0, 5.0]
    """
    steps = torch.arange(x.shape[1], device=x.device)[None]
    lengths = lengths.to(x.device)[:, None]
    past_end = steps - lengths
    mirrored = (lengths - 2 - past_end).clamp(min=0)
    source = torch.where((past_end >= 0) & (past_end < reach), mirrored, steps)
    source = source.view(*source.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, source)


def check_relative_lengths(lengths, batch, name="wav_lens"):
    """Raises a clear error unless ``lengths`` are SpeechBrain relative lengths: [batch] values in (0, 1].

    Arguments
    ---------
    lengths : torch.Tensor
        The lengths to check.
    batch : int
        The batch size they must have.
    name : str
        Their name in the message.

    Example
    -------
    >>> check_relative_lengths(torch.tensor([1.0, 0.5]), 2)
    >>> check_relative_lengths(torch.tensor([16000.0, 8000.0]), 2)
    Traceback (most recent call last):
    ...
    ValueError: wav_lens must be relative lengths in (0, 1] ... got 16000 at index 0, 8000 at index 1: were absolute ...
    >>> check_relative_lengths(torch.tensor([1.0, -0.5]), 2)
    Traceback (most recent call last):
    ...
    ValueError: wav_lens must be relative lengths in (0, 1] (...), got -0.5 at index 1
    """
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"{name} must have shape [{batch}], got {tuple(lengths.shape)}")
    bad = ~torch.isfinite(lengths) | (lengths > 1.0 + 1e-6) | (lengths <= 0)
    if bool(bad.any()):
        indices = bad.nonzero().flatten().tolist()
        shown = ", ".join(f"{float(lengths[i]):g} at index {i}" for i in indices[:4]) + (
            ", ..." if len(indices) > 4 else ""
        )
        absolute = bool((lengths[bad] > 1).any())
        raise ValueError(
            f"{name} must be relative lengths in (0, 1] (fractions of the padded length, SpeechBrain's "
            f"convention), got {shown}" + (": were absolute lengths passed?" if absolute else "")
        )
