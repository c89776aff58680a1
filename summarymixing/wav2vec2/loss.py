"""The wav2vec 2.0 objective: contrastive loss over quantised targets plus the codebook diversity loss."""

import torch
from speechbrain.lobes.models.wav2vec import sample_negatives
from speechbrain.nnet.losses import ContrastiveLoss


class Wav2Vec2Loss(torch.nn.Module):
    """Contrastive loss against negatives from the same utterance, plus weighted diversity loss.

    For each masked frame, the prediction must pick its quantised target among the target and
    ``num_negatives`` quantised targets of other masked frames of the same utterance (cosine similarity divided
    by ``temperature``; SpeechBrain's ``ContrastiveLoss``, negatives equal to the target are excluded). The
    contrastive loss is averaged over masked frames, so ``loss = contrastive + diversity_weight * diversity``
    does not depend on the batch size. Chance accuracy is ``1 / (num_negatives + 1)``.

    Arguments
    ---------
    num_negatives : int
        Number of negatives per masked frame.
    temperature : float
        Temperature dividing the cosine similarities.
    diversity_weight : float
        Weight of the diversity loss ``(num_codes - prob_perplexity) / num_codes``.

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

    def __init__(self, num_negatives=100, temperature=0.1, diversity_weight=0.1):
        super().__init__()
        self.num_negatives = num_negatives
        self.diversity_weight = diversity_weight
        self.contrastive = ContrastiveLoss(logit_temp=temperature)

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
            ``loss`` (to back-propagate), ``contrastive_loss`` (mean per masked frame), ``diversity_loss`` and
            ``accuracy`` (masked frames whose target scores highest).
        """
        if predictions.shape != targets.shape or predictions.dim() != 3:
            raise ValueError(
                f"Wav2Vec2Loss: predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} "
                "must both be [batch, masked_frames, dim]"
            )
        if targets.shape[1] < 2:
            raise ValueError("Wav2Vec2Loss: needs at least 2 masked frames per utterance to draw negatives")
        negatives = sample_negatives(targets, self.num_negatives)
        summed, accuracy = self.contrastive(predictions, targets, negatives)
        contrastive_loss = summed / (targets.shape[0] * targets.shape[1])
        return {
            "loss": contrastive_loss + self.diversity_weight * diversity_loss,
            "contrastive_loss": contrastive_loss,
            "diversity_loss": diversity_loss,
            "accuracy": accuracy,
        }
