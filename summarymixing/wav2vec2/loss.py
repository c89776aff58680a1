"""The wav2vec 2.0 objective: contrastive loss over quantised targets plus the codebook diversity loss."""

import torch
import torch.nn.functional as F


def sample_negative_indices(batch_size, num_frames, num_negatives, device=None):
    """For each of ``num_frames`` frames, ``num_negatives`` indices of *other* frames, uniformly with replacement.

    Returns a LongTensor ``[batch_size, num_frames, num_negatives]``.

    Example
    -------
    >>> idx = sample_negative_indices(2, 5, 100)
    >>> idx.shape, bool((idx != torch.arange(5)[None, :, None]).all()), int(idx.max()) <= 4
    (torch.Size([2, 5, 100]), True, True)
    """
    indices = torch.randint(0, num_frames - 1, (batch_size, num_frames, num_negatives), device=device)
    frame = torch.arange(num_frames, device=device)[None, :, None]
    return indices + (indices >= frame).long()


class Wav2Vec2Loss(torch.nn.Module):
    """Contrastive loss against negatives from the same utterance, plus weighted diversity loss.

    For each masked frame, the prediction must pick its quantised target among the target and
    ``num_negatives`` quantised targets of other masked frames of the same utterance, drawn uniformly with
    replacement (cosine similarity divided by ``temperature``; negatives equal to the target are excluded, as in
    wav2vec 2.0). Similarities come from one ``[M, M]`` matrix product per utterance and are gathered, so the
    ``[B, M, num_negatives, C]`` negatives are never materialised. The contrastive loss is averaged over masked
    frames, so ``loss = contrastive + diversity_weight * diversity`` does not depend on the batch size. Chance
    accuracy is ``1 / (num_negatives + 1)``. With ``reduction="sum"`` (the published recipe's, which pairs it with
    a gradient-norm clip of 100), the contrastive loss is summed over masked frames and the diversity loss weighted
    by their number: ``loss`` is the mean objective times the number of masked frames.

    Arguments
    ---------
    num_negatives : int
        Number of negatives per masked frame.
    temperature : float
        Temperature dividing the cosine similarities.
    diversity_weight : float
        Weight of the diversity loss ``(num_codes - prob_perplexity) / num_codes``.
    reduction : str
        ``"mean"`` (per masked frame, the default) or ``"sum"`` (over masked frames, as published).

    Example
    -------
    >>> loss_fn = Wav2Vec2Loss(num_negatives=5)
    >>> targets = torch.randn(2, 12, 16)
    >>> stats = loss_fn(targets.clone(), targets, torch.tensor(0.5))
    >>> float(stats["accuracy"])
    1.0
    >>> sorted(stats)
    ['accuracy', 'contrastive_loss', 'diversity_loss', 'loss']
    """

    def __init__(self, num_negatives=100, temperature=0.1, diversity_weight=0.1, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"Wav2Vec2Loss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.num_negatives = num_negatives
        self.temperature = temperature
        self.diversity_weight = diversity_weight

    def forward(self, predictions, targets, diversity_loss):
        """Computes the objective.

        Arguments
        ---------
        predictions : torch.Tensor
            ``[B, M, C]`` projected context outputs at the ``M`` masked frames of each utterance.
        targets : torch.Tensor
            ``[B, M, C]`` quantised targets at the same frames.
        diversity_loss : torch.Tensor
            Scalar diversity loss of the quantiser.

        Returns
        -------
        stats : dict
            ``loss`` (to back-propagate, reduced as asked), ``contrastive_loss`` (mean per masked frame),
            ``diversity_loss`` and
            ``accuracy`` (masked frames whose target scores highest).
        """
        if predictions.shape != targets.shape or predictions.dim() != 3:
            raise ValueError(
                f"Wav2Vec2Loss: predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} "
                "must both be [batch, masked_frames, dim]"
            )
        if targets.shape[1] < 2:
            raise ValueError("Wav2Vec2Loss: needs at least 2 masked frames per utterance to draw negatives")
        batch_size, num_frames, _ = targets.shape
        negatives = sample_negative_indices(batch_size, num_frames, self.num_negatives, targets.device)
        similarity = torch.bmm(
            F.normalize(predictions.float(), dim=-1), F.normalize(targets.float(), dim=-1).transpose(1, 2)
        )
        positive = similarity.diagonal(dim1=1, dim2=2).unsqueeze(-1)
        negative = similarity.gather(2, negatives)
        with torch.no_grad():
            _, target_ids = torch.unique(targets.flatten(0, 1), dim=0, return_inverse=True)
            target_ids = target_ids.view(batch_size, num_frames)
            same_as_target = target_ids.gather(1, negatives.flatten(1)).view_as(negatives) == target_ids[..., None]
        negative = negative.masked_fill(same_as_target, float("-inf"))
        logits = torch.cat([positive, negative], dim=-1).flatten(0, 1) / self.temperature
        zeros = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        contrastive_loss = F.cross_entropy(logits, zeros)
        accuracy = (logits.argmax(dim=-1) == 0).float().mean()
        loss = contrastive_loss + self.diversity_weight * diversity_loss
        return {
            "loss": loss * logits.shape[0] if self.reduction == "sum" else loss,
            "contrastive_loss": contrastive_loss,
            "diversity_loss": diversity_loss,
            "accuracy": accuracy,
        }
