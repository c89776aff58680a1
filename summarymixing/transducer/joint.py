"""Joint network, output layer and transducer loss in one module, optionally computed frame chunk by chunk.

The plain way to train a transducer materialises the logits of the whole (frame, label) lattice, ``[batch, T,
U + 1, vocabulary]``, plus what autograd and the loss keep for the backward pass: the joint sum and activation
(``joint_dim`` floats per lattice node each) and the logits and their gradient (``vocabulary`` floats each). For a
40 s utterance with 40 ms frames, 161 tokens and 1000 labels that is about 2 GB, for any encoder.

The lattice recursion only reads two log-probabilities per node: blank and the next target label. With
``chunk_frames`` set, :class:`TransducerJointLoss` computes, ``chunk_frames`` encoder frames at a time, joint ->
logits -> log-sum-exp and keeps only those two columns (and the log-sum-exp), then runs
``torchaudio.functional.rnnt_loss`` on the ``[batch, T, U + 1, 2]`` log-probabilities (target label 1, blank 0,
``fused_log_softmax=False``), which gives the same loss. The backward pass recomputes each chunk's logits and turns
the two columns' gradients into the gradient of the full softmax, so no lattice-size tensor lives longer than one
chunk. That costs one more output-layer matmul but saves several passes over lattice-size memory; both the loss
and the gradients (encoder output, prediction network output, joint and output-layer weights) equal the plain path
to float rounding.

With ``packed=True`` (our option, for CPU training), the joint network and output layer run only on the
lattice's real nodes, the (frame, label) pairs inside each utterance's lengths, gathered from the whole batch into
one matrix, and the loss is :func:`summarymixing.transducer.loss.lattice_negative_log_likelihood`, a recursion
vectorised over labels, instead of torchaudio's kernel. Same loss and gradients to float rounding. Measured on
the mini transducer's training batches (``hparams/transducer/mini.yaml``, one thread, 2026-12-07, one-off scripts
not kept in the repository): their padded
lattices are 1.97 times their real nodes, and torchaudio's CPU kernel costs about 2.3 us per node with 64 labels.

Authors
 * SummaryMixing contributors 2026
"""

import itertools

import torch
import torchaudio

from summarymixing.transducer.loss import (
    check_reduction,
    lattice_lengths,
    lattice_negative_log_likelihood,
    reduce_loss,
    transducer_loss,
)


class TransducerJointLoss(torch.nn.Module):
    """Transducer loss of the joint network's output layer, from the encoder and prediction network outputs.

    Holds the joint network and the output layer (the same module objects the decoder uses), so that training
    calls one module, and DistributedDataParallel can wrap it. ``chunk_frames=None`` is the plain path, exactly
    ``transducer_loss(classifier(joint(encoded, predicted)), ...)``; an integer computes the same loss and gradients
    ``chunk_frames`` encoder frames at a time (see the module docstring).

    Arguments
    ---------
    joint : torch.nn.Module
        Joint network called as ``joint(encoded.unsqueeze(2), predicted.unsqueeze(1))`` (e.g. SpeechBrain's
        ``Transducer_joint``), returning ``[batch, T, U + 1, joint_dim]``.
    classifier : torch.nn.Module
        Output layer mapping the joint output to logits over the labels (blank included).
    blank_index : int
        Index of the blank label.
    chunk_frames : int or None
        Encoder frames per chunk for the memory-efficient path; ``None`` for the plain path. The joint network and
        the output layer are recomputed in the backward pass, so they must not be random (no dropout).
    reduction : str
        ``"mean"``, ``"batchmean"``, ``"sum"`` or ``"none"``, as :func:`summarymixing.transducer.transducer_loss`.
    packed : bool
        The joint network on the real lattice nodes only and the loss by a vectorised recursion in torch (see the
        module docstring): a CPU option of ours, not a setting of the papers. Not with ``chunk_frames``.

    Example
    -------
    >>> from speechbrain.nnet.linear import Linear
    >>> from speechbrain.nnet.transducer.transducer_joint import Transducer_joint
    >>> joint, classifier = Transducer_joint(joint="sum"), Linear(input_size=8, n_neurons=5, bias=False)
    >>> plain = TransducerJointLoss(joint, classifier, blank_index=0)
    >>> chunked = TransducerJointLoss(joint, classifier, blank_index=0, chunk_frames=3)
    >>> encoded, predicted = torch.randn(2, 7, 8), torch.randn(2, 3, 8)
    >>> targets, lengths = torch.tensor([[1, 4], [2, 0]]), (torch.tensor([1.0, 0.6]), torch.tensor([1.0, 0.5]))
    >>> loss = chunked(encoded, predicted, targets, *lengths)
    >>> torch.allclose(loss, plain(encoded, predicted, targets, *lengths))
    True
    >>> packed = TransducerJointLoss(joint, classifier, blank_index=0, packed=True)
    >>> torch.allclose(packed(encoded, predicted, targets, *lengths), loss)
    True
    """

    def __init__(self, joint, classifier, blank_index, chunk_frames=None, reduction="mean", packed=False):
        super().__init__()
        check_reduction(reduction, "TransducerJointLoss")
        if packed and chunk_frames is not None:
            raise ValueError(
                "TransducerJointLoss: packed and chunk_frames are two ways of computing the loss; choose one"
            )
        if chunk_frames is not None and (not isinstance(chunk_frames, int) or chunk_frames < 1):
            raise ValueError(f"TransducerJointLoss: chunk_frames must be a positive int or None, got {chunk_frames!r}")
        if chunk_frames is not None:
            random = [type(m).__name__ for m in itertools.chain(joint.modules(), classifier.modules()) if is_random(m)]
            if random:
                raise ValueError(
                    f"TransducerJointLoss: chunk_frames recomputes the joint network in the backward pass, which "
                    f"must then be deterministic, but it holds {random}"
                )
        self.joint = joint
        self.classifier = classifier
        self.blank_index = blank_index
        self.chunk_frames = chunk_frames
        self.reduction = reduction
        self.packed = packed

    def forward(self, encoded, predicted, targets, input_lens, target_lens):
        """The transducer loss.

        Arguments
        ---------
        encoded : torch.Tensor
            Encoder output projected to the joint size, ``[batch, max_T, joint_dim]``.
        predicted : torch.Tensor
            Prediction network output on the blank-prefixed targets, ``[batch, max_U + 1, joint_dim]``.
        targets : torch.Tensor
            Label indices without blanks, ``[batch, max_U]``, integer.
        input_lens : torch.Tensor
            Relative lengths of ``encoded`` (fractions of ``max_T``), ``[batch]``.
        target_lens : torch.Tensor
            Relative lengths of ``targets`` (fractions of ``max_U``), ``[batch]``.

        Returns
        -------
        torch.Tensor
            A scalar, or ``[batch]`` with ``reduction="none"``.
        """
        if encoded.dim() != 3 or predicted.dim() != 3 or encoded.shape[0] != predicted.shape[0]:
            raise ValueError(
                f"TransducerJointLoss: encoded must be [batch, T, dim] and predicted [batch, U + 1, dim], got "
                f"{tuple(encoded.shape)} and {tuple(predicted.shape)}"
            )
        if self.packed:
            return self.packed_loss(encoded, predicted, targets, input_lens, target_lens)
        if self.chunk_frames is None:
            logits = self.classifier(self.joint(encoded.unsqueeze(2), predicted.unsqueeze(1)))
            return transducer_loss(logits, targets, input_lens, target_lens, self.blank_index, self.reduction)

        frame_counts, label_counts, next_labels = self.lattice_targets(
            encoded, predicted, targets, input_lens, target_lens
        )
        max_frames, max_labels = int(frame_counts.max()), next_labels.shape[1] - 1
        parameters = itertools.chain(self.joint.parameters(), self.classifier.parameters())
        parameters = [p for p in parameters if p.requires_grad]
        log_probs = _ChunkedBlankAndLabelLogProbs.apply(
            self, encoded[:, :max_frames], predicted[:, : max_labels + 1], next_labels, *parameters
        )
        loss = torchaudio.functional.rnnt_loss(
            log_probs,
            torch.ones_like(next_labels[:, :-1], dtype=torch.int32),
            frame_counts,
            label_counts,
            blank=0,
            reduction="none",
            fused_log_softmax=False,
        )
        return reduce_loss(loss, self.reduction)

    def lattice_targets(self, encoded, predicted, targets, input_lens, target_lens):
        """Checks ``targets`` against ``predicted`` (arguments as :meth:`forward`) and returns the frame and label
        counts of each utterance and the label each lattice row emits, ``[batch, max_U + 1]`` (the blank in the
        last row, whose label column the lattice never reads)."""
        if targets.dim() != 2 or targets.shape != (predicted.shape[0], predicted.shape[1] - 1):
            raise ValueError(
                f"TransducerJointLoss: targets must be [batch, U] = {(predicted.shape[0], predicted.shape[1] - 1)} "
                f"to match predicted {tuple(predicted.shape)}, got {tuple(targets.shape)}"
            )
        frame_counts, label_counts = lattice_lengths(input_lens, target_lens, encoded.shape[1], targets.shape[1])
        targets = targets[:, : int(label_counts.max())].long()
        return frame_counts, label_counts, torch.nn.functional.pad(targets, (0, 1), value=self.blank_index)

    def packed_loss(self, encoded, predicted, targets, input_lens, target_lens):
        """The loss computed on the lattice's real nodes only (``packed=True``; arguments as :meth:`forward`)."""
        frame_counts, label_counts, next_labels = self.lattice_targets(
            encoded, predicted, targets, input_lens, target_lens
        )
        max_frames, max_labels = int(frame_counts.max()), next_labels.shape[1] - 1
        frames = torch.arange(max_frames, device=encoded.device)
        labels = torch.arange(max_labels + 1, device=encoded.device)
        real = (frames[None, :, None] < frame_counts[:, None, None]) & (
            labels[None, None, :] <= label_counts[:, None, None]
        )
        utterance, frame, label = real.nonzero(as_tuple=True)
        # Flat row indices: index_select's backward (index_add_) is much faster on a CPU than that of tensor
        # indexing (an accumulating index_put_)
        encoded_rows = encoded.reshape(-1, encoded.shape[-1]).index_select(0, utterance * encoded.shape[1] + frame)
        predicted_rows = predicted.reshape(-1, predicted.shape[-1]).index_select(
            0, utterance * predicted.shape[1] + label
        )
        # Transducer_joint adds and activates elementwise: the real nodes as one [1, nodes, 1, dim] "lattice"
        hidden = self.joint(encoded_rows[None, :, None], predicted_rows[None, :, None])
        log_probs = self.classifier(hidden)[0, :, 0].float().log_softmax(dim=-1)
        wanted = torch.stack([torch.full_like(label, self.blank_index), next_labels[utterance, label]], dim=1)
        node_log_probs = log_probs.gather(1, wanted)  # [nodes, 2]: blank, next label
        nodes = (utterance * max_frames + frame) * (max_labels + 1) + label
        lattice = node_log_probs.new_zeros(real.numel(), 2).index_copy(0, nodes, node_log_probs)
        lattice = lattice.reshape(*real.shape, 2)
        blank_log_probs, label_log_probs = lattice[..., 0], lattice[..., 1]
        loss = lattice_negative_log_likelihood(blank_log_probs, label_log_probs, frame_counts, label_counts)
        return reduce_loss(loss, self.reduction)

    def chunk_logits(self, encoded_chunk, predicted):
        """Logits of the lattice rows of ``encoded_chunk``: ``[batch, frames, U + 1, labels]``."""
        return self.classifier(self.joint(encoded_chunk.unsqueeze(2), predicted.unsqueeze(1)))

    def chunks(self, frames):
        """``slice`` objects covering ``range(frames)`` ``chunk_frames`` at a time."""
        return [slice(start, start + self.chunk_frames) for start in range(0, frames, self.chunk_frames)]


def is_random(module):
    """Whether ``module`` draws random numbers in training mode (dropout layers).

    Arguments
    ---------
    module : torch.nn.Module
        Any module.

    Returns
    -------
    bool

    Example
    -------
    >>> is_random(torch.nn.Dropout(0.1)), is_random(torch.nn.Dropout(0.0)), is_random(torch.nn.Linear(2, 2))
    (True, False, False)
    """
    return isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.p > 0


class _ChunkedBlankAndLabelLogProbs(torch.autograd.Function):
    """``[batch, T, U + 1, 2]`` log-probabilities of blank and of the next label, chunk by chunk over the frames.

    Saves the inputs and the log-sum-exp of every lattice node; the backward pass recomputes each chunk's logits
    (under the forward's autocast state) and backpropagates ``softmax``-based logit gradients through the joint
    network and the output layer with autograd, summing the parameter gradients over chunks.
    """

    @staticmethod
    def forward(ctx, owner, encoded, predicted, next_labels, *parameters):
        log_probs, log_norms = [], []
        label_range = (int(next_labels.min()), int(next_labels.max()))
        for chunk in owner.chunks(encoded.shape[1]):
            logits = owner.chunk_logits(encoded[:, chunk], predicted).float()
            if not 0 <= owner.blank_index < logits.shape[-1]:
                raise ValueError(f"TransducerJointLoss: blank_index {owner.blank_index} not in [0, {logits.shape[-1]})")
            if not 0 <= label_range[0] <= label_range[1] < logits.shape[-1]:
                raise ValueError(f"TransducerJointLoss: target labels {label_range} outside [0, {logits.shape[-1]})")
            log_norm = logits.logsumexp(-1, keepdim=True)
            blank = logits[..., owner.blank_index : owner.blank_index + 1]
            label = logits.gather(-1, expand_labels(next_labels, logits.shape[1]))
            log_probs.append(torch.cat([blank, label], -1) - log_norm)
            log_norms.append(log_norm)
        device_type = encoded.device.type
        ctx.autocast = (device_type, torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type))
        ctx.owner = owner
        ctx.save_for_backward(encoded, predicted, next_labels, torch.cat(log_norms, 1), *parameters)
        return torch.cat(log_probs, 1)

    @staticmethod
    def backward(ctx, grad_log_probs):
        encoded, predicted, next_labels, log_norms, *parameters = ctx.saved_tensors
        owner, (device_type, autocast_enabled, autocast_dtype) = ctx.owner, ctx.autocast
        grad_encoded = torch.zeros_like(encoded)
        grad_predicted = torch.zeros_like(predicted)
        grad_parameters = [torch.zeros_like(p) for p in parameters]
        for chunk in owner.chunks(encoded.shape[1]):
            encoded_chunk = encoded[:, chunk].detach().requires_grad_()
            predicted_leaf = predicted.detach().requires_grad_()
            with torch.enable_grad(), torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_enabled):
                logits = owner.chunk_logits(encoded_chunk, predicted_leaf)
            # d/dz_v of (z_blank - lse) * g_blank + (z_label - lse) * g_label = onehots - (g_blank + g_label) p_v
            grad_blank, grad_label = grad_log_probs[:, chunk, :, :1], grad_log_probs[:, chunk, :, 1:]
            grad_logits = (logits.detach().float() - log_norms[:, chunk]).exp_().mul_(-(grad_blank + grad_label))
            grad_logits[..., owner.blank_index : owner.blank_index + 1] += grad_blank
            grad_logits.scatter_add_(-1, expand_labels(next_labels, logits.shape[1]), grad_label)
            grads = torch.autograd.grad(
                logits, [encoded_chunk, predicted_leaf, *parameters], grad_logits.to(logits.dtype), allow_unused=True
            )
            grad_encoded[:, chunk] = grads[0]
            grad_predicted += grads[1]
            for total, grad in zip(grad_parameters, grads[2:]):
                if grad is not None:
                    total += grad
        return (None, grad_encoded, grad_predicted, None, *grad_parameters)


def expand_labels(next_labels, frames):
    """Gather indices ``[batch, frames, U + 1, 1]`` of the next label of every lattice node.

    Arguments
    ---------
    next_labels : torch.Tensor
        ``[batch, U + 1]`` label indices (the targets padded with one more entry).
    frames : int
        Number of frames of the chunk.

    Returns
    -------
    torch.Tensor
        A broadcast view.

    Example
    -------
    >>> expand_labels(torch.tensor([[3, 0]]), 2)[..., 0]
    tensor([[[3, 0],
             [3, 0]]])
    """
    return next_labels[:, None, :, None].expand(-1, frames, -1, 1)
