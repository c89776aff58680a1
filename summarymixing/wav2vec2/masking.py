"""Span masks for wav2vec 2.0 pre-training, computed in the data loader.

Masks are drawn for the exact number of latent frames the front end will produce for each utterance
(:class:`summarymixing.wav2vec2.frontend.FrameCounter`), never for the padding, and every utterance of a batch
gets the same number of masked frames, so the masked frames of a batch form a ``[B, M, C]`` tensor and
negatives can be drawn from the utterance's own masked frames.
"""

import torch
from speechbrain.dataio.batch import PaddedBatch


def compute_span_mask(frame_lens, mask_prob, mask_length, generator=None):
    """Draws span masks with the same number of masked frames in every utterance.

    ``num_spans = int(mask_prob * min_len / mask_length + u)`` with ``u ~ U[0, 1)``, at least 1 and at most
    ``min_len // mask_length``, where ``min_len`` is the shortest utterance. Each utterance gets
    ``num_spans`` spans of ``mask_length`` frames with distinct random starts inside its own frames; where
    spans overlap, random unmasked frames of the utterance are added until it has exactly
    ``num_spans * mask_length`` masked frames.

    Arguments
    ---------
    frame_lens : sequence of int or torch.Tensor
        Number of valid frames of each utterance.
    mask_prob : float
        Approximate proportion of frames to mask (before overlaps), in ``(0, 1]``.
    mask_length : int
        Length of each masked span, in frames.
    generator : torch.Generator, optional
        Random generator (the global one when ``None``).

    Returns
    -------
    mask : torch.Tensor
        Bool ``[B, max(frame_lens)]``, True = masked; False on every padded frame.

    Example
    -------
    >>> mask = compute_span_mask([50, 37], 0.65, 10)
    >>> mask.shape, mask.sum(dim=1).tolist()[0] == mask.sum(dim=1).tolist()[1]
    (torch.Size([2, 50]), True)
    >>> bool(mask[1, 37:].any())
    False
    """
    frame_lens = torch.as_tensor(frame_lens, dtype=torch.long).cpu()
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
    if mask_length < 1:
        raise ValueError(f"mask_length must be at least 1, got {mask_length}")
    min_len = int(frame_lens.min())
    if min_len < mask_length:
        raise ValueError(
            f"an utterance has {min_len} frames, fewer than mask_length={mask_length}: "
            "remove such short utterances from the manifest"
        )
    uniform = torch.rand((), generator=generator).item()
    num_spans = min(max(int(mask_prob * min_len / mask_length + uniform), 1), min_len // mask_length)
    num_masked = num_spans * mask_length
    mask = torch.zeros(len(frame_lens), int(frame_lens.max()), dtype=torch.bool)
    for row, length in zip(mask, frame_lens.tolist()):
        num_starts = length - mask_length + 1
        starts = torch.randperm(num_starts, generator=generator)[:num_spans]
        row[(starts[:, None] + torch.arange(mask_length)).flatten()] = True
        missing = num_masked - int(row.sum())
        if missing > 0:
            unmasked = (~row[:length]).nonzero().squeeze(1)
            row[unmasked[torch.randperm(len(unmasked), generator=generator)[:missing]]] = True
    return mask


class MaskingCollate:
    """Collates examples into a :class:`speechbrain.dataio.batch.PaddedBatch` with a ``mask`` key.

    Reads each example's waveform (key ``signal_key``), counts the latent frames the front end will produce
    for it, draws the span masks for the batch with :func:`compute_span_mask` and adds each utterance's mask
    (its own number of frames) to the example before padding. In the batch, ``batch.mask.data`` is
    ``[B, T]`` with ``T`` the front end's number of output frames for the padded waveforms.

    Arguments
    ---------
    frame_counter : callable
        Maps a LongTensor of sample counts to the number of latent frames
        (``MelCNNFrontEnd.frame_counter``).
    mask_prob : float
        See :func:`compute_span_mask`.
    mask_length : int
        See :func:`compute_span_mask`.
    signal_key : str
        Key of the waveform in each example.

    Example
    -------
    >>> from summarymixing.wav2vec2.frontend import FrameCounter
    >>> collate = MaskingCollate(FrameCounter(16000, 10, (3, 3), (2, 1)), 0.65, 10)
    >>> batch = collate([{"id": "a", "sig": torch.randn(16000)}, {"id": "b", "sig": torch.randn(9600)}])
    >>> batch.sig.data.shape, batch.mask.data.shape
    (torch.Size([2, 16000]), torch.Size([2, 48]))
    """

    def __init__(self, frame_counter, mask_prob, mask_length, signal_key="sig"):
        self.frame_counter = frame_counter
        self.mask_prob = mask_prob
        self.mask_length = mask_length
        self.signal_key = signal_key

    def __call__(self, examples):
        num_samples = torch.tensor([len(example[self.signal_key]) for example in examples])
        frame_lens = self.frame_counter(num_samples)
        try:
            mask = compute_span_mask(frame_lens, self.mask_prob, self.mask_length)
        except ValueError as error:
            ids = [example.get("id") for example in examples]
            raise ValueError(f"batch {ids} (latent frames {frame_lens.tolist()}): {error}") from error
        examples = [
            dict(example, mask=row[:length]) for example, row, length in zip(examples, mask, frame_lens.tolist())
        ]
        return PaddedBatch(examples)
