"""The transducer loss wrapper against a hand-computed lattice and a plain forward-algorithm reference."""

import inspect
import math

import pytest
import torch
from speechbrain.nnet.losses import transducer_loss as speechbrain_transducer_loss

from summarymixing.transducer.loss import transducer_loss


def reference_nll(logits, targets, frames, labels, blank):
    """Negative log-likelihood of one utterance by the textbook forward recursion over the (t, u) lattice."""
    log_probs = logits.log_softmax(-1)
    alpha = torch.full((frames, labels + 1), -math.inf, dtype=torch.float64)
    alpha[0, 0] = 0.0
    for t in range(frames):
        for u in range(labels + 1):
            terms = []
            if t > 0:
                terms.append(alpha[t - 1, u] + log_probs[t - 1, u, blank])
            if u > 0:
                terms.append(alpha[t, u - 1] + log_probs[t, u - 1, targets[u - 1]])
            if terms:
                alpha[t, u] = torch.logsumexp(torch.stack(terms), 0)
    return -(alpha[frames - 1, labels] + log_probs[frames - 1, labels, blank])


def test_signature_matches_speechbrain():
    ours = list(inspect.signature(transducer_loss).parameters)
    theirs = list(inspect.signature(speechbrain_transducer_loss).parameters)
    assert ours == theirs


def test_hand_computed_uniform_lattice():
    # T=2 frames, one label, 3 classes, uniform outputs: two alignments (y then blank, blank; blank, y, blank),
    # each of probability (1/3)^3, so the loss is -log(2/27).
    logits = torch.zeros(1, 2, 2, 3)
    loss = transducer_loss(logits, torch.tensor([[1]]), torch.tensor([1.0]), torch.tensor([1.0]), blank_index=0)
    assert loss.item() == pytest.approx(-math.log(2 / 27), rel=1e-6)


def test_single_path_lattice():
    # T=1, U=1: the only alignment emits the label at (0, 0) then blank at (0, 1).
    logits = torch.randn(1, 1, 2, 5)
    log_probs = logits.log_softmax(-1)
    expected = -(log_probs[0, 0, 0, 3] + log_probs[0, 0, 1, 0])
    loss = transducer_loss(logits, torch.tensor([[3]]), torch.tensor([1.0]), torch.tensor([1.0]), 0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("blank", [0, 6])
def test_padded_batch_matches_reference_values_and_gradients(blank):
    torch.manual_seed(0)
    frame_counts, label_counts = [7, 4, 5], [3, 1, 2]
    logits = torch.randn(3, 7, 4, 7, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, 6, (3, 3))
    targets[targets == blank] = 1
    input_lens = torch.tensor(frame_counts) / 7
    target_lens = torch.tensor(label_counts) / 3

    per_utterance = transducer_loss(logits, targets, input_lens, target_lens, blank, reduction="none")
    expected = torch.stack(
        [
            reference_nll(logits[i, :T, : U + 1], targets[i, :U], T, U, blank)
            for i, (T, U) in enumerate(zip(frame_counts, label_counts))
        ]
    )
    torch.testing.assert_close(per_utterance.double(), expected, rtol=1e-4, atol=1e-4)

    (grad,) = torch.autograd.grad(transducer_loss(logits, targets, input_lens, target_lens, blank), logits)
    (expected_grad,) = torch.autograd.grad(expected.mean(), logits)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-3, atol=1e-5)
    # Padding frames and label positions get no gradient.
    assert grad[1, 4:].abs().max() == 0 and grad[1, :, 2:].abs().max() == 0


def test_reductions():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 3, 5)
    args = (logits, torch.tensor([[1, 2], [3, 0]]), torch.tensor([1.0, 0.75]), torch.tensor([1.0, 0.5]), 0)
    per_utterance = transducer_loss(*args, reduction="none")
    assert transducer_loss(*args, reduction="sum").item() == pytest.approx(per_utterance.sum().item(), rel=1e-6)
    assert transducer_loss(*args).item() == pytest.approx(per_utterance.mean().item(), rel=1e-6)
    assert transducer_loss(*args, reduction="batchmean").item() == pytest.approx(per_utterance.mean().item())


def test_bf16_logits_are_promoted():
    torch.manual_seed(2)
    logits = torch.randn(2, 4, 3, 5)
    args = (torch.tensor([[1, 2], [3, 4]]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]), 0)
    loss = transducer_loss(logits.bfloat16(), *args)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(transducer_loss(logits.bfloat16().float(), *args).item(), rel=1e-6)


def test_bad_input_errors():
    logits = torch.zeros(1, 3, 3, 4)
    targets, ones = torch.tensor([[1, 2]]), torch.tensor([1.0])
    with pytest.raises(ValueError, match="reduction"):
        transducer_loss(logits, targets, ones, ones, 0, reduction="avg")
    with pytest.raises(ValueError, match="must be targets dim 1"):
        transducer_loss(logits[:, :, :2], targets, ones, ones, 0)
    with pytest.raises(ValueError, match="blank_index"):
        transducer_loss(logits, targets, ones, ones, 4)
    with pytest.raises(ValueError, match="logits must be"):
        transducer_loss(logits[0], targets, ones, ones, 0)
