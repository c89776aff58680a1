"""The transducer benchmark's FLOP counter and ceiling table (the timings themselves are not tested)."""

import torch
from speechbrain.nnet.activations import Swish

from summarymixing.benchmarks.steps import MatmulFlopCounter, step_matmul_flops
from summarymixing.benchmarks.transducer import print_ceiling
from summarymixing.encoders.feed_forward import ActivationRecomputingFeedForward


def test_flop_counter_counts_forward_backward_and_the_recomputed_activation():
    # Two Linear layers (8 -> 32 -> 8) on 10 frames, 2 * 10 * 8 * 32 FLOPs each: two forward matmuls, then the
    # second layer's input and weight gradients and the first layer's weight gradient (x needs none). The
    # activation recomputed in backward is elementwise, so it adds no FLOPs.
    ffn = ActivationRecomputingFeedForward(32, input_size=8, activation=Swish)
    x = torch.randn(1, 10, 8)
    per_layer = 2 * 10 * 8 * 32
    assert step_matmul_flops(lambda: ffn(x).sum().backward()) == (2 + 2 + 1) * per_layer


def test_flop_counter_counts_a_custom_autograd_function_that_calls_autograd_in_backward():
    class Recompute(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            with torch.enable_grad():
                a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
                return torch.autograd.grad(a @ b, (a, b), grad)

    a, b = torch.randn(3, 4, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    with MatmulFlopCounter() as counter:
        Recompute.apply(a, b).sum().backward()
    assert counter.flops == 4 * 2 * 3 * 4 * 5  # forward, recomputed forward, two gradient matmuls


def test_ceiling_table_gives_the_best_change_at_the_matmul_peak(capsys):
    point = (2, 20)
    results = {
        "SummaryMixing": {(*point, "chunked"): (9.0, 900 * 2**20)},
        "RelPosMHAXL": {(*point, "chunked"): (10.0, 1000 * 2**20)},
        "no mixer": {(*point, "chunked"): (8.0, 800 * 2**20)},
    }
    flops = {"SummaryMixing": {point: 120e9}, "RelPosMHAXL": {point: 140e9}, "no mixer": {point: 100e9}}
    print_ceiling(results, flops, [point], peak_flops=100e9)
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # ceiling 8 / 10; floor 800 / 1000; SM at peak 8 + 20e9 / 100e9 = 8.2 s, best change 8.2 / 10
    assert row == "| 2 x 20 s | 8.00 | -20.0% | 800 | -20.0% | 120 / 140 / 100 | 8.20 | -18.0% |"
    print_ceiling(results, flops, [point], peak_flops=None)
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("| 120 / 140 / 100 | - | - |")
