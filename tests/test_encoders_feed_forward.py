"""The encoders' feed-forward modules: SpeechBrain's outputs, random numbers and gradients, less saved for the
backward pass, in SummaryMixing and baseline layers alike."""

import pytest
import torch
from speechbrain.lobes.models.transformer import Conformer, Transformer
from speechbrain.nnet.activations import Swish
from speechbrain.nnet.attention import PositionalwiseFeedForward, RelPosEncXL

from summarymixing import ConformerEncoder, TransformerEncoder
from summarymixing.encoders.feed_forward import ActivationRecomputingFeedForward

D_MODEL, D_FFN, FRAMES = 8, 32, 11


def outputs_and_gradients(module, x, seed):
    """Output of ``module`` on ``x`` in training mode (random numbers from ``seed``) and the gradients of a fixed
    random projection of it with respect to ``x`` and every parameter."""
    torch.manual_seed(seed)
    x = x.clone().requires_grad_()
    output = module(x)
    output = output[0] if isinstance(output, tuple) else output
    projection = torch.randn(output.shape, generator=torch.Generator().manual_seed(1))
    gradients = torch.autograd.grad(output, [x, *module.parameters()], projection)
    return output, gradients


class EncoderStep(torch.nn.Module):
    """An encoder called with fixed positional embeddings, returning its output only."""

    def __init__(self, encoder, pos_embs):
        super().__init__()
        self.encoder, self.pos_embs = encoder, pos_embs

    def forward(self, x):
        return self.encoder(x, pos_embs=self.pos_embs)[0]


def saved_bytes(module, x):
    """Bytes of the tensors that autograd keeps for the backward pass of ``module(x)`` (each storage once)."""
    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x.clone().requires_grad_())
    return sum(storages.values())


@pytest.mark.parametrize("activation", [Swish, torch.nn.GELU, torch.nn.ReLU])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_feed_forward_is_speechbrains_with_less_saved(activation, dropout):
    ours = ActivationRecomputingFeedForward(D_FFN, input_size=D_MODEL, dropout=dropout, activation=activation)
    theirs = PositionalwiseFeedForward(D_FFN, input_size=D_MODEL, dropout=dropout, activation=activation)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, FRAMES, D_MODEL)
    (our_output, our_gradients), (their_output, their_gradients) = (
        outputs_and_gradients(module.train(), x, seed=3) for module in (ours, theirs)
    )
    assert torch.equal(our_output, their_output)  # the same dropout mask, too
    for our_gradient, their_gradient in zip(our_gradients, their_gradients):
        torch.testing.assert_close(our_gradient, their_gradient, rtol=1e-6, atol=1e-7)
    one_hidden_tensor = 2 * FRAMES * D_FFN * 4
    saved = 1.5 if dropout else 0 if activation is torch.nn.ReLU else 1  # ReLU's backward reads its output only
    assert saved_bytes(ours, x) <= saved_bytes(theirs, x) - saved * one_hidden_tensor


def test_feed_forward_runs_speechbrains_code_where_it_cannot_save():
    ffn = ActivationRecomputingFeedForward(D_FFN, input_size=D_MODEL, activation=torch.nn.PReLU)
    x = torch.randn(1, FRAMES, D_MODEL)
    assert saved_bytes(ffn, x) == saved_bytes(PositionalwiseFeedForward.forward.__get__(ffn), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert PositionalwiseFeedForward.forward(ffn, x).dtype == ffn(x).dtype == torch.bfloat16


def test_feed_forward_double_backward_is_speechbrains():
    ffn = ActivationRecomputingFeedForward(D_FFN, input_size=D_MODEL, dropout=0.3, activation=torch.nn.GELU)
    x = torch.randn(1, FRAMES, D_MODEL, requires_grad=True)
    penalties = []
    for forward in (ffn.forward, PositionalwiseFeedForward.forward.__get__(ffn)):
        torch.manual_seed(0)
        (gradient,) = torch.autograd.grad(forward(x).pow(2).sum(), x, create_graph=True)
        penalties.append(torch.autograd.grad(gradient.pow(2).sum(), [x, *ffn.parameters()]))
    for ours, theirs in zip(*penalties):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "ours,theirs,sizes",
    [
        (ConformerEncoder, Conformer.ConformerEncoder, dict(d_ffn=D_FFN, kernel_size=3)),
        (TransformerEncoder, Transformer.TransformerEncoder, dict(d_ffn=D_FFN, normalize_before=True)),
    ],
)
def test_baseline_training_step_is_speechbrains(ours, theirs, sizes):
    """Dropout on, training mode: the same outputs and gradients as SpeechBrain's encoder."""
    attention_type = "RelPosMHAXL" if ours is ConformerEncoder else "regularMHA"
    options = dict(num_layers=2, d_model=D_MODEL, nhead=2, dropout=0.2, attention_type=attention_type, **sizes)
    ours, theirs = ours(**options), theirs(**options)
    theirs.load_state_dict(ours.state_dict())
    feed_forwards = [m for m in ours.modules() if isinstance(m, PositionalwiseFeedForward)]
    assert feed_forwards and all(isinstance(m, ActivationRecomputingFeedForward) for m in feed_forwards)
    x = torch.randn(2, FRAMES, D_MODEL)
    pos_embs = RelPosEncXL(D_MODEL)(x) if attention_type == "RelPosMHAXL" else None
    (our_output, our_gradients), (their_output, their_gradients) = (
        outputs_and_gradients(EncoderStep(module.train(), pos_embs), x, seed=5) for module in (ours, theirs)
    )
    assert torch.equal(our_output, their_output)
    for our_gradient, their_gradient in zip(our_gradients, their_gradients):
        torch.testing.assert_close(our_gradient, their_gradient, rtol=1e-5, atol=1e-6)


def test_summary_mixing_conformer_keeps_less_than_with_speechbrains_feed_forward():
    encoder = ConformerEncoder(num_layers=1, d_model=D_MODEL, d_ffn=D_FFN, nhead=2, kernel_size=3).train()
    x = torch.randn(1, FRAMES, D_MODEL)
    ours = saved_bytes(encoder, x)
    for module in encoder.modules():
        if isinstance(module, ActivationRecomputingFeedForward):
            module.__class__ = PositionalwiseFeedForward
    assert ours <= saved_bytes(encoder, x) - 2 * FRAMES * D_FFN * 4
