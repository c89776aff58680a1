"""Transducer (RNN-T) loss that runs on CPU and GPU.

SpeechBrain 1.1.2's ``speechbrain.nnet.losses.transducer_loss`` needs Numba and CUDA. This module offers the same
signature (relative lengths, SpeechBrain's reductions) on top of ``torchaudio.functional.rnnt_loss``, which has CPU
and CUDA kernels, so a YAML can swap it in with ``transducer_cost: !name:summarymixing.transducer.transducer_loss``.

Authors
 * SummaryMixing contributors 2026
"""

import torch
import torchaudio

REDUCTIONS = ("mean", "batchmean", "sum", "none")


def relative_to_absolute_lengths(relative_lengths, max_length):
    """Converts SpeechBrain's relative lengths (fractions of the padded length) to integer lengths.

    Arguments
    ---------
    relative_lengths : torch.Tensor
        Lengths as fractions in (0, 1] of ``max_length``, shape ``[batch]``.
    max_length : int
        The padded length the fractions refer to.

    Returns
    -------
    torch.Tensor
        ``round(relative_lengths * max_length)`` as int32, shape ``[batch]``.

    Example
    -------
    >>> relative_to_absolute_lengths(torch.tensor([1.0, 0.5, 0.34]), 6)
    tensor([6, 3, 2], dtype=torch.int32)
    """
    return torch.round(relative_lengths * max_length).int()


def transducer_loss(logits, targets, input_lens, target_lens, blank_index, reduction="mean"):
    """Transducer loss with SpeechBrain's signature, computed by ``torchaudio.functional.rnnt_loss``.

    The joint network's logits (not log-probabilities) go in; the log-softmax is fused into the loss. Lengths are
    relative, as everywhere in SpeechBrain. Half-precision logits (fp16 / bf16 autocast) are promoted to float32,
    since the lattice recursion needs it.

    Arguments
    ---------
    logits : torch.Tensor
        Joint network output, shape ``[batch, max_T, max_U + 1, num_labels]``.
    targets : torch.Tensor
        Label indices without blanks, shape ``[batch, max_U]``, integer.
    input_lens : torch.Tensor
        Relative lengths of the encoder outputs (fractions of ``max_T``), shape ``[batch]``.
    target_lens : torch.Tensor
        Relative lengths of the targets (fractions of ``max_U``), shape ``[batch]``.
    blank_index : int
        Index of the blank label.
    reduction : str
        ``"mean"`` (average over the batch of the per-utterance negative log-likelihoods, as SpeechBrain's
        ``mean``), ``"batchmean"`` (same), ``"sum"`` or ``"none"`` (one value per utterance).

    Returns
    -------
    torch.Tensor
        The loss: a scalar, or shape ``[batch]`` with ``reduction="none"``.

    Example
    -------
    >>> logits = torch.zeros(2, 3, 3, 4)
    >>> targets = torch.tensor([[1, 2], [3, 0]])
    >>> loss = transducer_loss(logits, targets, torch.tensor([1.0, 2 / 3]), torch.tensor([1.0, 0.5]), 0, "none")
    >>> loss.shape
    torch.Size([2])
    >>> bool(loss[1] > 0)
    True
    """
    check_reduction(reduction, "transducer_loss")
    if logits.dim() != 4:
        raise ValueError(f"transducer_loss: logits must be [batch, T, U + 1, labels], got shape {tuple(logits.shape)}")
    if targets.dim() != 2 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"transducer_loss: targets must be [batch, U] with batch {logits.shape[0]}, got {tuple(targets.shape)}"
        )
    if logits.shape[2] != targets.shape[1] + 1:
        raise ValueError(
            f"transducer_loss: logits dim 2 ({logits.shape[2]}) must be targets dim 1 ({targets.shape[1]}) + 1"
        )
    if not 0 <= blank_index < logits.shape[-1]:
        raise ValueError(f"transducer_loss: blank_index {blank_index} outside [0, {logits.shape[-1]})")

    frame_counts, label_counts = lattice_lengths(input_lens, target_lens, logits.shape[1], targets.shape[1])
    # torchaudio requires the padded sizes to equal the longest lengths in the batch.
    max_frames, max_labels = int(frame_counts.max()), int(label_counts.max())
    logits = logits[:, :max_frames, : max_labels + 1].float().contiguous()
    targets = targets[:, :max_labels].int()
    loss = torchaudio.functional.rnnt_loss(
        logits, targets, frame_counts, label_counts, blank=blank_index, reduction="none"
    )
    return reduce_loss(loss, reduction)


def check_reduction(reduction, caller):
    """Raises a ``ValueError`` naming ``caller`` unless ``reduction`` is one of :data:`REDUCTIONS`.

    Arguments
    ---------
    reduction : str
        The requested reduction.
    caller : str
        The name shown in the error message.

    Example
    -------
    >>> check_reduction("sum", "my_loss")
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{caller}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def lattice_lengths(input_lens, target_lens, max_frames, max_labels):
    """Integer frame and label counts of every utterance from SpeechBrain's relative lengths.

    Arguments
    ---------
    input_lens : torch.Tensor
        Relative lengths of the encoder outputs, shape ``[batch]``.
    target_lens : torch.Tensor
        Relative lengths of the targets, shape ``[batch]``.
    max_frames : int
        Padded number of encoder frames.
    max_labels : int
        Padded number of target labels.

    Returns
    -------
    frame_counts : torch.Tensor
        int32, shape ``[batch]``.
    label_counts : torch.Tensor
        int32, shape ``[batch]``.

    Example
    -------
    >>> lattice_lengths(torch.tensor([1.0, 0.5]), torch.tensor([0.5, 1.0]), 4, 2)
    (tensor([4, 2], dtype=torch.int32), tensor([1, 2], dtype=torch.int32))
    """
    frame_counts = relative_to_absolute_lengths(input_lens, max_frames)
    label_counts = relative_to_absolute_lengths(target_lens, max_labels)
    if frame_counts.min() < 1:
        raise ValueError(f"transducer loss: every utterance needs at least one frame, got lengths {frame_counts}")
    return frame_counts, label_counts


def reduce_loss(loss, reduction):
    """Applies SpeechBrain's ``reduction`` to per-utterance losses.

    Arguments
    ---------
    loss : torch.Tensor
        Per-utterance negative log-likelihoods, shape ``[batch]``.
    reduction : str
        One of :data:`REDUCTIONS` (``"mean"`` and ``"batchmean"`` both average over the batch).

    Returns
    -------
    torch.Tensor
        A scalar, or ``loss`` itself with ``"none"``.

    Example
    -------
    >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean")
    tensor(2.)
    """
    if reduction in ("mean", "batchmean"):
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def lattice_negative_log_likelihood(blank_log_probs, label_log_probs, frame_counts, label_counts):
    """Transducer negative log-likelihood of each utterance from its lattice's blank and next-label log-probabilities,
    computed by a recursion vectorised over labels: one step per frame, autograd for the gradients.

    The forward variable of the lattice is ``alpha[t, u] = logaddexp(alpha[t - 1, u] + blank[t - 1, u],
    alpha[t, u - 1] + label[t, u - 1])``. Along one frame it is a linear recurrence in the label axis, so with
    ``c[t, u] = label[t, 0] + ... + label[t, u - 1]`` it is ``alpha[t, u] = c[t, u] + logcumsumexp_k(alpha[t - 1, k]
    + blank[t - 1, k] - c[t, k])``: ``max_T`` vectorised steps instead of ``max_T * max_U`` scalar ones. On a CPU it
    is faster than ``torchaudio.functional.rnnt_loss``, whose kernel costs about 2.3 us per lattice node with 64
    labels and 0.4 us with 2 (one thread, 2026-12-07, a one-off timing); see
    :class:`summarymixing.transducer.joint.TransducerJointLoss`.

    Arguments
    ---------
    blank_log_probs : torch.Tensor
        ``log P(blank | t, u)``, shape ``[batch, max_T, max_U + 1]``, float32.
    label_log_probs : torch.Tensor
        ``log P(target u + 1 | t, u)``, same shape (the last label position of each utterance is never read).
    frame_counts : torch.Tensor
        Frames of each utterance, ``[batch]``, integer (at least 1).
    label_counts : torch.Tensor
        Labels of each utterance, ``[batch]``, integer.

    Returns
    -------
    torch.Tensor
        ``[batch]``, the negative log-likelihoods. Positions beyond an utterance's lengths get no gradient.

    Example
    -------
    >>> blank, label = torch.full((1, 2, 2), 0.5).log(), torch.full((1, 2, 2), 0.5).log()
    >>> # two frames, one label: two paths (the label at the first frame or the second), each of probability 0.5 ** 3
    >>> lattice_negative_log_likelihood(blank, label, torch.tensor([2]), torch.tensor([1]))
    tensor([1.3863])
    """
    cumulative = torch.nn.functional.pad(label_log_probs[:, :, :-1].cumsum(-1), (1, 0))
    alpha = cumulative[:, 0]
    alphas = [alpha]
    for frame in range(1, blank_log_probs.shape[1]):
        step = alpha + blank_log_probs[:, frame - 1] - cumulative[:, frame]
        alpha = cumulative[:, frame] + torch.logcumsumexp(step, dim=-1)
        alphas.append(alpha)
    alphas = torch.stack(alphas, dim=1)
    utterances = torch.arange(alphas.shape[0], device=alphas.device)
    last_frames, last_labels = frame_counts.long() - 1, label_counts.long()
    final = alphas[utterances, last_frames, last_labels] + blank_log_probs[utterances, last_frames, last_labels]
    return -final
