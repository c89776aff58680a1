"""SpeechBrain's feed-forward module, with the same parameters and outputs, keeping less for the backward pass.

SpeechBrain's ``PositionalwiseFeedForward`` (``Linear -> activation -> Dropout -> Linear``) keeps three
[time, d_ffn] tensors per training step for the backward pass: the activation's input, the dropout's noise (with
dropout) and the second linear's input. In a Conformer layer (two such modules, d_ffn = 4 d_model) they are most of
the memory that the layer needs besides its mixer. :class:`ActivationRecomputingFeedForward` keeps the
activation's input and a boolean dropout mask, and recomputes the activation (element-wise) in the backward pass.
The encoders of this package use it for SummaryMixing and for the SpeechBrain baselines alike. Measured on one CPU
thread (``python -m summarymixing.benchmarks.encoder``, 4-layer d_model 256 Conformer, 100 s): SummaryMixing's peak
training memory 14% lower (17% with dropout 0.1), RelPosMHAXL's 6% lower, for a 1-5% longer step (the recomputed
activation, about 1 ms per module per 1000 frames).

Authors
* SummaryMixing contributors 2026
"""

import torch
import torch.nn.functional as F
from speechbrain.nnet.attention import PositionalwiseFeedForward


class ActivationRecomputingFeedForward(PositionalwiseFeedForward):
    """SpeechBrain's feed-forward module that recomputes its activation in the backward pass.

    The output and the random numbers drawn are SpeechBrain's bit for bit, and so are the gradients (the same
    operations on the same values; double backward works too). A training step keeps one float [time, d_ffn]
    tensor less per module without dropout where the activation's backward needs its input (Swish, GELU; ReLU's
    needs only its output, which SpeechBrain already shares with the second linear), and with dropout a boolean
    mask in place of two float tensors (the noise and the second linear's input). Steps without gradients, under
    autocast, with an activation that has parameters or with dropout 1 run SpeechBrain's code.

    Arguments
    ---------
    d_ffn : int
        Hidden size.
    input_shape : tuple, optional
        Expected shape of the input (its last entry is the input size).
    input_size : int, optional
        Input size.
    dropout : float
        Dropout after the activation.
    activation : type
        Activation class.

    Example
    -------
    >>> from speechbrain.nnet.activations import Swish
    >>> ffn = ActivationRecomputingFeedForward(32, input_size=8, activation=Swish)
    >>> reference = PositionalwiseFeedForward(32, input_size=8, activation=Swish)
    >>> _ = reference.load_state_dict(ffn.state_dict())
    >>> x = torch.randn(2, 5, 8)
    >>> torch.equal(ffn(x), reference(x))
    True
    """

    def forward(self, x):
        """Applies the module to ``x`` of shape (batch, time, input_size)."""
        first, activation, dropout, second = self.ffn
        if (
            not torch.is_grad_enabled()
            or torch.compiler.is_compiling()  # the compiler plans recomputation itself (and cannot trace ours)
            or torch.is_autocast_enabled(x.device.type)
            or any(True for _ in activation.parameters())
            or (dropout.training and dropout.p >= 1)
        ):
            return super().forward(x)
        hidden = first(x.permute(1, 0, 2))
        dropout_p = dropout.p if dropout.training else 0.0
        output = _RecomputedActivationLinear.apply(hidden, second.weight, second.bias, activation, dropout_p)
        return output.permute(1, 0, 2)


class _RecomputedActivationLinear(torch.autograd.Function):
    """``linear(dropout(activation(hidden)), weight, bias)`` that saves ``hidden`` and the dropout mask only."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, activation, dropout_p):
        """The forward pass, with the same operations (and random numbers) as ``torch.nn.functional.dropout``."""
        activated = activation(hidden)
        kept = None
        if dropout_p > 0:
            noise = _dropout_noise(torch.empty_like(activated).bernoulli_(1 - dropout_p), dropout_p)
            activated = activated * noise
            kept = noise != 0
        ctx.activation, ctx.dropout_p, ctx.has_bias = activation, dropout_p, bias is not None
        ctx.save_for_backward(hidden, weight, kept)
        return F.linear(activated, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        """Recomputes the activation and returns the gradients of hidden, weight and bias (differentiable again
        when autograd builds a graph of the backward pass, for double backward)."""
        hidden, weight, kept = ctx.saved_tensors
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            source = hidden if create_graph and hidden.requires_grad else hidden.detach().requires_grad_()
            activated = ctx.activation(source)
        noise = None if kept is None else _dropout_noise(kept.to(activated.dtype), ctx.dropout_p)
        grad_hidden = None
        if ctx.needs_input_grad[0]:
            grad_activated = grad_output.matmul(weight)
            if noise is not None:
                grad_activated = grad_activated * noise
            (grad_hidden,) = torch.autograd.grad(activated, source, grad_activated, create_graph=create_graph)
        activated = activated if create_graph else activated.detach()
        dropped = activated if noise is None else activated * noise
        grad_weight = grad_output.flatten(0, -2).t().matmul(dropped.flatten(0, -2))
        grad_bias = grad_output.flatten(0, -2).sum(0) if ctx.has_bias else None
        return grad_hidden, grad_weight, grad_bias, None, None


def _dropout_noise(kept, dropout_p):
    """Dropout's multiplier from a 0/1 tensor of kept positions: 1 / (1 - p) where kept, else 0."""
    return kept.div_(1 - dropout_p)


def recompute_activation_in_backward(feed_forward):
    """Turns a SpeechBrain ``PositionalwiseFeedForward`` into :class:`ActivationRecomputingFeedForward` in place.

    The parameters, their names and the outputs stay the same; any other module is left as it is.

    Arguments
    ---------
    feed_forward : torch.nn.Module
        A module of an encoder layer.

    Example
    -------
    >>> ffn = PositionalwiseFeedForward(32, input_size=8)
    >>> recompute_activation_in_backward(ffn)
    >>> type(ffn).__name__
    'ActivationRecomputingFeedForward'
    """
    if type(feed_forward) is PositionalwiseFeedForward:
        feed_forward.__class__ = ActivationRecomputingFeedForward
