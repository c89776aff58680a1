"""torch.compile on the SummaryMixing path: one graph (no graph break), compiled == eager in training and in
chunked training, and new lengths reuse the graphs (a bounded set of shape cases, never one per length)."""

import shutil

import pytest
import torch
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing import BranchformerEncoder, ConformerEncoder, SummaryMixing, TransformerEncoder

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end

# inductor needs a C++ compiler; aot_eager traces the same graphs without one
BACKEND = "inductor" if shutil.which("g++") or shutil.which("c++") else "aot_eager"
LENGTHS = (17, 23, 26, 29, 40)


def unique_graphs():
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def compare(module, call, lengths, backend, max_graphs):
    """Runs ``call(module_or_compiled, x, mask)`` eagerly and compiled (fullgraph: a graph break fails) on
    every length with the same random numbers, and checks outputs, input gradients and the number of graphs."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(module, backend=backend, dynamic=True, fullgraph=True)
    for length in lengths:
        x = torch.randn(2, length, 16)
        mask = torch.arange(length) >= torch.tensor([[length], [length - 5]])  # True = padding
        results = []
        for model in (module, compiled):
            torch.manual_seed(length)
            source = x.clone().requires_grad_()
            out = call(model, source, mask)
            (grad,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1])).sum(), source)
            results.append((out, grad))
        (out, grad), (compiled_out, compiled_grad) = results
        torch.testing.assert_close(compiled_out, out, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(compiled_grad, grad, atol=2e-5, rtol=1e-4)
    assert 1 <= unique_graphs() <= max_graphs


@pytest.fixture
def same_random_numbers():
    """Inductor draws dropout masks from its own generator unless told to use eager's."""
    with torch._inductor.config.patch(fallback_random=True):
        yield


@pytest.mark.parametrize("mode", ["SummaryMixing", "SummaryMixing-lite", "SummaryMixing-fast"])
@pytest.mark.parametrize("chunks", [None, DynChunkTrainConfig(4, None), DynChunkTrainConfig(4, 2)])
def test_compiled_cell_equals_eager_in_training(mode, chunks, same_random_numbers):
    torch.manual_seed(0)
    cell = SummaryMixing(16, 4, [16], 16, [16], 16, mode=mode).train()

    def call(model, x, mask):
        return model(x, key_padding_mask=mask, dynchunktrain_config=chunks)[0]

    compare(cell, call, LENGTHS, BACKEND, max_graphs=1)


ENCODERS = {
    "conformer": lambda: ConformerEncoder(2, 16, 32, 4, kernel_size=3, dropout=0.1),
    "transformer": lambda: TransformerEncoder(2, 4, 32, d_model=16, dropout=0.1),
    "branchformer": lambda: BranchformerEncoder(2, 16, 4, kernel_size=3, dropout=0.1),
}


@pytest.mark.parametrize(
    "name, chunks",
    [("conformer", None), ("conformer", DynChunkTrainConfig(4, 2)), ("transformer", DynChunkTrainConfig(4, None)),
     ("branchformer", None)],
)  # fmt: skip
def test_compiled_encoder_equals_eager_in_training(name, chunks):
    """aot_eager: the graph dynamo captures is what is checked here (inductor's kernels are checked on the
    cell). The chunked depthwise convolution has two shape cases (time a multiple of the chunk size or not)
    and torch's convolution one more (batch x chunks below 16 or not): at most four graphs, whatever the
    lengths (two for these lengths)."""
    torch.manual_seed(0)
    encoder = ENCODERS[name]().train()

    def call(model, x, mask):
        options = {} if chunks is None else {"dynchunktrain_config": chunks}
        return model(x, src_key_padding_mask=mask, **options)[0]

    # 17 and 23 frames: the same shape case (not a multiple of 4, 2 x chunks below 16); 20: the other one
    compare(encoder, call, (17, 20, 23), "aot_eager", max_graphs=1 if chunks is None else 2)
