"""SpecAugment as SpeechBrain 0.5 applied it: the augmentation behind 2307.07421's Table 1.

Table 1 of arXiv 2307.07421 was trained with SpeechBrain 0.5, whose ``speechbrain.lobes.augment.SpecAugment``
SpeechBrain 1.x removed (1.1.2 has ``SpectrogramDrop`` and ``Warping``, which draw differently). This module
implements the 0.5 algorithm from its description (no code of it is reused), with the same draws:

1. time warping, once per batch: a centre ``c`` drawn in ``[window, T - window)`` and a new position ``w`` in
   ``[c - window, c + window)`` + 1; frames ``[0, c)`` are stretched onto ``[0, w)`` and ``[c, T)`` onto ``[w, T)``
   by interpolation (``bicubic``, corners aligned) over the padded batch; skipped when ``T <= 2 * window``;
2. ``n_freq_mask`` frequency masks per utterance, each of a width drawn in ``[0, freq_mask_width)`` at a position
   drawn in ``[0, F - the widest width of the batch)``;
3. ``n_time_mask`` time masks per utterance, drawn alike over the padded length ``T``;

masked values replaced by the mean of the whole (padded) batch, or by zero. As in 0.5, it works on the padded
batch (a mask may fall in the padding) and leaves the lengths as they are.

Authors
-------
* The summarymixing contributors (2026)
"""

import torch


class LegacySpecAugment(torch.nn.Module):
    """SpeechBrain 0.5's SpecAugment (see the module documentation), with the interface of SpeechBrain 1.x's
    ``Augmenter`` that the recipes call: ``forward(features, lengths) -> (features, lengths)`` and
    ``replicate_labels(labels)`` (it adds no copies, so labels are returned as they are).

    Arguments
    ---------
    time_warp_window : int
        Time warping's window in frames (0: no warping).
    time_warp_mode : str
        ``torch.nn.functional.interpolate`` mode.
    freq_mask_width : int
        Frequency masks are narrower than this.
    n_freq_mask : int
        Frequency masks per utterance.
    time_mask_width : int
        Time masks are shorter than this.
    n_time_mask : int
        Time masks per utterance.
    replace_with_zero : bool
        Fill masks with 0 instead of the batch's mean.

    Example
    -------
    >>> augment = LegacySpecAugment(time_warp_window=5, freq_mask_width=30, n_freq_mask=2, time_mask_width=40,
    ...                             n_time_mask=3, replace_with_zero=False)
    >>> features, lengths = torch.randn(4, 120, 80), torch.tensor([1.0, 0.9, 0.8, 0.5])
    >>> augmented, same_lengths = augment(features, lengths)
    >>> augmented.shape, same_lengths is lengths
    (torch.Size([4, 120, 80]), True)
    >>> augment.replicate_labels(torch.arange(4)).tolist()
    [0, 1, 2, 3]
    """

    def __init__(
        self,
        time_warp_window=5,
        time_warp_mode="bicubic",
        freq_mask_width=30,
        n_freq_mask=2,
        time_mask_width=40,
        n_time_mask=3,
        replace_with_zero=False,
    ):
        super().__init__()
        for name, value in (("time_warp_window", time_warp_window), ("freq_mask_width", freq_mask_width),
                            ("time_mask_width", time_mask_width), ("n_freq_mask", n_freq_mask),
                            ("n_time_mask", n_time_mask)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"LegacySpecAugment: {name} must be a whole number >= 0, got {value!r}")
        self.time_warp_window = time_warp_window
        self.time_warp_mode = time_warp_mode
        self.freq_mask_width = freq_mask_width
        self.n_freq_mask = n_freq_mask
        self.time_mask_width = time_mask_width
        self.n_time_mask = n_time_mask
        self.replace_with_zero = replace_with_zero

    def forward(self, features, lengths):
        """Augments a padded batch of features [batch, time, frequency]; the lengths are returned unchanged."""
        features = self.time_warp(features)
        features = self.mask(features, dim=2, width=self.freq_mask_width, count=self.n_freq_mask)
        features = self.mask(features, dim=1, width=self.time_mask_width, count=self.n_time_mask)
        return features, lengths

    def replicate_labels(self, labels):
        """The labels of the augmented batch: the same (no copies are added)."""
        return labels

    def time_warp(self, features):
        """Stretches the frames before a random centre onto a random nearby length, and those after onto the rest."""
        window, frames = self.time_warp_window, features.shape[1]
        if window == 0 or frames - window <= window:
            return features
        centre = int(torch.randint(window, frames - window, (1,)))
        warped = int(torch.randint(centre - window, centre + window, (1,))) + 1
        image = features.unsqueeze(1)  # [batch, 1, time, frequency]: interpolate's 2-D layout
        bins = features.shape[2]
        left = torch.nn.functional.interpolate(
            image[:, :, :centre], (warped, bins), mode=self.time_warp_mode, align_corners=True
        )
        right = torch.nn.functional.interpolate(
            image[:, :, centre:], (frames - warped, bins), mode=self.time_warp_mode, align_corners=True
        )
        return torch.cat([left, right], dim=2).squeeze(1)

    def mask(self, features, dim, width, count):
        """``count`` masks per utterance along ``dim`` (1: time, 2: frequency), each narrower than ``width``."""
        if count == 0 or width == 0:
            return features
        batch, size = features.shape[0], features.shape[dim]
        widths = torch.randint(0, width, (batch, count, 1), device=features.device)
        starts = torch.randint(0, max(1, size - int(widths.max())), (batch, count, 1), device=features.device)
        positions = torch.arange(size, device=features.device).view(1, 1, -1)
        masked = ((starts <= positions) & (positions < starts + widths)).any(dim=1)  # [batch, size]
        masked = masked.unsqueeze(2) if dim == 1 else masked.unsqueeze(1)
        fill = 0.0 if self.replace_with_zero else features.detach().mean()
        return features.masked_fill(masked, fill)
