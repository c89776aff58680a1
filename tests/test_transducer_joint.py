"""The chunked (memory-efficient) joint + transducer loss against the plain joint -> output layer -> loss path."""

import functools

import pytest
import torch
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.transducer.transducer_joint import Transducer_joint

from summarymixing.transducer.joint import TransducerJointLoss

JOINT_DIM, LABELS = 6, 7


def make_losses(blank_index=0, chunk_frames=3, reduction="mean", inplace=False, bias=True):
    """A plain and a chunked loss sharing one joint network and output layer."""
    torch.manual_seed(0)
    joint = Transducer_joint(joint="sum", nonlinearity=functools.partial(torch.nn.LeakyReLU, inplace=inplace))
    classifier = Linear(input_size=JOINT_DIM, n_neurons=LABELS, bias=bias)
    plain = TransducerJointLoss(joint, classifier, blank_index, reduction=reduction)
    chunked = TransducerJointLoss(joint, classifier, blank_index, chunk_frames=chunk_frames, reduction=reduction)
    return plain, chunked


def padded_batch(blank_index=0, frames=(7, 4, 5), labels=(3, 1, 2), padded_frames=7, padded_labels=3):
    """Encoder / prediction outputs and targets of three utterances of different lengths, padded."""
    generator = torch.Generator().manual_seed(1)
    encoded = torch.randn(len(frames), padded_frames, JOINT_DIM, generator=generator, requires_grad=True)
    predicted = torch.randn(len(frames), padded_labels + 1, JOINT_DIM, generator=generator, requires_grad=True)
    targets = torch.randint(0, LABELS - 1, (len(frames), padded_labels), generator=generator)
    targets[targets >= blank_index] += 1  # never the blank
    input_lens = torch.tensor(frames) / padded_frames
    target_lens = torch.tensor(labels) / padded_labels
    return encoded, predicted, targets, input_lens, target_lens


def loss_and_grads(loss_module, encoded, predicted, targets, input_lens, target_lens):
    loss = loss_module(encoded, predicted, targets, input_lens, target_lens)
    inputs = [encoded, predicted, *loss_module.parameters()]
    return loss, torch.autograd.grad(loss.sum(), inputs)


def assert_same(plain, chunked, batch):
    loss, grads = loss_and_grads(plain, *batch)
    chunked_loss, chunked_grads = loss_and_grads(chunked, *batch)
    torch.testing.assert_close(chunked_loss, loss, rtol=1e-5, atol=1e-5)
    assert len(grads) == len(chunked_grads) == 2 + len(list(plain.parameters()))
    for grad, chunked_grad in zip(grads, chunked_grads):
        torch.testing.assert_close(chunked_grad, grad, rtol=1e-4, atol=1e-5)
    return grads


@pytest.mark.parametrize("chunk_frames", [1, 2, 3, 7, 50])
def test_loss_and_gradients_equal_plain_path(chunk_frames):
    plain, chunked = make_losses(chunk_frames=chunk_frames)
    grad_encoded, grad_predicted = assert_same(plain, chunked, padded_batch())[:2]
    # Padding frames and label positions get no gradient.
    assert grad_encoded[1, 4:].abs().max() == 0 and grad_predicted[1, 2:].abs().max() == 0


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
def test_reductions(reduction):
    plain, chunked = make_losses(reduction=reduction)
    assert_same(plain, chunked, padded_batch())


def test_nonzero_blank_inplace_activation_and_trailing_padding():
    # blank is the last label; the longest utterance is shorter than the padding in both frames and labels.
    blank = LABELS - 1
    plain, chunked = make_losses(blank_index=blank, chunk_frames=4, inplace=True, bias=False)
    plain_out_of_place = make_losses(blank_index=blank, bias=False)[0]
    batch = padded_batch(blank, frames=(6, 3), labels=(2, 1), padded_frames=9, padded_labels=4)
    grads = assert_same(plain, chunked, batch)
    reference_grads = loss_and_grads(plain_out_of_place, *batch)[1]
    for grad, reference in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference)
    assert grads[0][:, 6:].abs().max() == 0


def test_bf16_autocast_matches_plain_path():
    plain, chunked = make_losses()
    batch = padded_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, grads = loss_and_grads(plain, *batch)
        chunked_loss, chunked_grads = loss_and_grads(chunked, *batch)
    assert chunked_loss.dtype == torch.float32
    torch.testing.assert_close(chunked_loss, loss, rtol=1e-3, atol=1e-3)
    for grad, chunked_grad in zip(grads, chunked_grads):
        torch.testing.assert_close(chunked_grad, grad, rtol=2e-2, atol=2e-2)


def test_no_grad_evaluation():
    plain, chunked = make_losses()
    with torch.no_grad():
        loss, chunked_loss = plain(*padded_batch()), chunked(*padded_batch())
    torch.testing.assert_close(chunked_loss, loss)


def test_bad_input_errors():
    plain, chunked = make_losses()
    encoded, predicted, targets, input_lens, target_lens = padded_batch()
    joint, classifier = plain.joint, plain.classifier
    with pytest.raises(ValueError, match="chunk_frames must be a positive int"):
        TransducerJointLoss(joint, classifier, 0, chunk_frames=0)
    with pytest.raises(ValueError, match="reduction"):
        TransducerJointLoss(joint, classifier, 0, reduction="avg")
    with pytest.raises(ValueError, match="deterministic.*Dropout"):
        TransducerJointLoss(joint, torch.nn.Sequential(classifier, torch.nn.Dropout(0.1)), 0, chunk_frames=2)
    with pytest.raises(ValueError, match=r"encoded must be \[batch, T, dim\]"):
        chunked(encoded[0], predicted, targets, input_lens, target_lens)
    with pytest.raises(ValueError, match=r"targets must be \[batch, U\]"):
        chunked(encoded, predicted, targets[:, :2], input_lens, target_lens)
    with pytest.raises(ValueError, match="target labels"):
        chunked(encoded, predicted, targets + LABELS, input_lens, target_lens)
    with pytest.raises(ValueError, match="blank_index 9"):
        TransducerJointLoss(joint, classifier, 9, chunk_frames=2)(encoded, predicted, targets, input_lens, target_lens)
    with pytest.raises(ValueError, match="at least one frame"):
        chunked(encoded, predicted, targets, torch.tensor([1.0, 0.0, 1.0]), target_lens)


def ddp_worker(rank, world_size, init_file, results):
    """One DDP process: the chunked loss on this rank's half of the batch, backward, gradients out."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        chunked = make_losses(chunk_frames=2)[1]
        model = torch.nn.parallel.DistributedDataParallel(chunked)
        model(*(x[rank::world_size] for x in padded_batch())).backward()
        results[rank] = [p.grad.clone() for p in chunked.parameters()]
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_averages_the_chunked_gradients(tmp_path):
    # Rank 0 gets utterances 0 and 2, rank 1 utterance 1; after backward both hold the mean of their gradients.
    results = torch.multiprocessing.Manager().dict()
    torch.multiprocessing.spawn(ddp_worker, args=(2, tmp_path / "init", results), nprocs=2)
    expected = []
    for rank in range(2):
        chunked = make_losses(chunk_frames=2)[1]
        loss = chunked(*(x[rank::2] for x in padded_batch()))
        expected.append(torch.autograd.grad(loss, list(chunked.parameters())))
    for rank in range(2):
        for grad, grad_0, grad_1 in zip(results[rank], *expected):
            torch.testing.assert_close(grad, (grad_0 + grad_1) / 2)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("blank_index", [0, 4])
def test_packed_lattice_equals_the_plain_path(reduction, blank_index):
    """packed: the joint network on the real (frame, label) nodes only and the loss by the vectorised recursion;
    one utterance without any label."""
    plain, _ = make_losses(blank_index=blank_index, reduction=reduction)
    packed = TransducerJointLoss(plain.joint, plain.classifier, blank_index, reduction=reduction, packed=True)
    batch = padded_batch(blank_index=blank_index, frames=(7, 4, 5, 2), labels=(3, 1, 2, 0))
    grad_encoded, grad_predicted = assert_same(plain, packed, batch)[:2]
    assert grad_encoded[1, 4:].abs().max() == 0 and grad_predicted[1, 2:].abs().max() == 0


def test_packed_lattice_under_bf16_autocast_computes_the_loss_in_float32():
    plain, _ = make_losses()
    packed = TransducerJointLoss(plain.joint, plain.classifier, 0, packed=True)
    batch = padded_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, packed_loss = plain(*batch), packed(*batch)
    assert packed_loss.dtype == torch.float32
    torch.testing.assert_close(packed_loss, loss, rtol=2e-2, atol=0.0)


def test_packed_and_chunked_together_are_refused():
    with pytest.raises(ValueError, match="packed and chunk_frames"):
        make_losses()[0].__class__(Transducer_joint(joint="sum"), Linear(input_size=4, n_neurons=3), 0, 2, packed=True)
