"""What only a GPU can check (``pytest -m cuda``; skipped on a machine without CUDA): the cell, the encoders and
the transducer loss on CUDA, in fp32 and under fp16 / bf16 autocast, against their fp32 CPU results; padding
invariance and compiled == eager on CUDA; the transducer mini recipe trained for a few steps on the GPU in fp16
and bf16 and with one-process nccl DDP. ``tools/gpu_check.sh`` runs them on a fresh GPU machine."""

import os
import subprocess

import pytest
import torch
from mini_runs import REPO, TRANSDUCER, command, environment, train_log, transducer_options
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing import BranchformerEncoder, ConformerEncoder, SummaryMixing, TransformerEncoder
from summarymixing.cell import MODES
from summarymixing.transducer.joint import TransducerJointLoss

pytestmark = pytest.mark.cuda

CUDA = torch.device("cuda")
# autocast tolerances: fp16 keeps 10 mantissa bits, bf16 7; outputs are O(1)
TOLERANCE = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 1e-1}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def run_on_cuda(module, inputs, dtype, **kwargs):
    """``module(*inputs, **kwargs)[0]`` on CUDA under ``dtype`` autocast (none for float32), as float32 on CPU."""
    module = module.to(CUDA)
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        out = module(*(x.to(CUDA) for x in inputs), **{k: v.to(CUDA) if torch.is_tensor(v) else v
                                                       for k, v in kwargs.items()})[0]  # fmt: skip
    module.cpu()
    assert torch.isfinite(out).all()
    return out.float().cpu()


def padding_mask(lengths, time):
    return torch.arange(time) >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunks", [None, DynChunkTrainConfig(8, 2)])
def test_cell_on_cuda_equals_fp32_cpu(mode, dtype, chunks):
    torch.manual_seed(0)
    cell = SummaryMixing(64, 4, [64], 64, [64], 64, mode=mode).eval()
    x, mask = torch.randn(3, 50, 64), padding_mask([50, 31, 7], 50)
    expected = cell(x, key_padding_mask=mask, dynchunktrain_config=chunks)[0]
    out = run_on_cuda(cell, [x], dtype, key_padding_mask=mask, dynchunktrain_config=chunks)
    valid = ~mask
    torch.testing.assert_close(out[valid], expected[valid], atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])


ENCODERS = {
    "conformer": lambda: ConformerEncoder(2, 64, 128, 4, kernel_size=7, mode="SummaryMixing-fast"),
    "branchformer": lambda: BranchformerEncoder(2, 64, 4, kernel_size=7),
    "transformer": lambda: TransformerEncoder(2, 4, 128, d_model=64),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_on_cuda_equal_fp32_cpu_and_ignore_padding(name, dtype):
    torch.manual_seed(0)
    encoder = ENCODERS[name]().eval()
    x, mask = torch.randn(2, 60, 64), padding_mask([60, 23], 60)
    with torch.no_grad():
        expected = encoder(x, src_key_padding_mask=mask)[0]
        out = run_on_cuda(encoder, [x], dtype, src_key_padding_mask=mask)
        alone = run_on_cuda(encoder, [x[1:, :23]], dtype)  # the short utterance without its padding
    tolerance = 5 * TOLERANCE[dtype]  # two layers of accumulated rounding
    torch.testing.assert_close(out[0], expected[0], atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(out[1, :23], expected[1, :23], atol=tolerance, rtol=tolerance)
    if dtype == torch.float32:
        torch.testing.assert_close(alone[0], out[1, :23], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_frames", [None, 4])
def test_transducer_loss_and_gradients_on_cuda_equal_fp32_cpu(dtype, chunk_frames):
    from speechbrain.nnet.linear import Linear
    from speechbrain.nnet.transducer.transducer_joint import Transducer_joint

    torch.manual_seed(0)
    joint, classifier = Transducer_joint(joint="sum", nonlinearity=torch.nn.GELU), Linear(input_size=16, n_neurons=9)
    loss_module = TransducerJointLoss(joint, classifier, blank_index=0, chunk_frames=chunk_frames)
    encoded, predicted = torch.randn(2, 11, 16, requires_grad=True), torch.randn(2, 4, 16, requires_grad=True)
    targets, lengths, target_lengths = torch.randint(1, 9, (2, 3)), torch.tensor([1.0, 0.7]), torch.tensor([1.0, 2 / 3])
    expected = loss_module(encoded, predicted, targets, lengths, target_lengths)
    expected_grads = torch.autograd.grad(expected, (encoded, predicted))
    loss_module.to(CUDA)
    inputs = [t.detach().to(CUDA).requires_grad_() for t in (encoded, predicted)]
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        loss = loss_module(*inputs, targets.to(CUDA), lengths.to(CUDA), target_lengths.to(CUDA))
    grads = torch.autograd.grad(loss, inputs)
    tolerance = 2 * TOLERANCE[dtype]
    torch.testing.assert_close(loss.float().cpu(), expected, atol=tolerance, rtol=tolerance)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad.float().cpu(), expected_grad, atol=tolerance, rtol=tolerance)


def test_compiled_cell_equals_eager_on_cuda():
    torch.manual_seed(0)
    cell = SummaryMixing(64, 4, [64], 64, [64], 64).to(CUDA).eval()
    compiled = torch.compile(cell, dynamic=True, fullgraph=True)
    for length in (37, 64, 91):
        x = torch.randn(2, length, 64, device=CUDA)
        mask = padding_mask([length, length - 9], length).to(CUDA)
        for chunks in (None, DynChunkTrainConfig(8, None)):
            torch.testing.assert_close(
                compiled(x, key_padding_mask=mask, dynchunktrain_config=chunks)[0],
                cell(x, key_padding_mask=mask, dynchunktrain_config=chunks)[0], atol=1e-4, rtol=1e-4,
            )  # fmt: skip


def run_mini(tmp_path, name, *extra, launcher=()):
    output_folder = tmp_path / name
    options = transducer_options(1, select_n_sentences=[32, 8, 8], test_left_contexts_chunks=[None])
    result = subprocess.run(
        [*command(TRANSDUCER, output_folder, options, launcher), "--device=cuda", *extra], cwd=REPO,
        env=environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (epoch,) = train_log(output_folder)
    assert epoch["steps"] == 4 and epoch["train loss"] == epoch["train loss"]  # 32 utterances in batches of 8
    assert os.path.isfile(output_folder / "wer.json")
    return output_folder


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_transducer_mini_recipe_trains_on_cuda(tmp_path, precision):
    output_folder = run_mini(tmp_path, precision, f"--precision={precision}", f"--eval_precision={precision}")
    assert f"Using training precision: `--precision={precision}`" in open(output_folder / "log.txt").read()


def test_transducer_mini_recipe_under_one_process_nccl_ddp(tmp_path):
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    run_mini(tmp_path, "nccl", "--distributed_backend=nccl", launcher=launcher)
