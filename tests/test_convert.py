"""Checkpoints of the published SummaryMixing code load into this implementation.

The published state_dicts are built here from the published parameter names and shapes (VanillaNN blocks with
``linear``, ``linear_0``, ... layers; block-diagonal ``weights`` / ``biases``, dense ``w.weight`` / ``w.bias``):
each of our models' tensors is written under the name the published code gives it, then converted back.
"""

import os
import subprocess
import sys

import pytest
import torch

from summarymixing import BranchformerEncoder, ConformerEncoder, SummaryMixing, TransformerASR
from summarymixing.convert import convert_original_checkpoint


def published_layer(index):
    return "linear" if index == 0 else f"linear_{index - 1}"


def published_name(key, unused_norm_prefixes=()):
    """The published code's name of one of our parameters (the naming facts, written independently)."""
    parts = key.split(".")
    for position, part in enumerate(parts):
        head, rest = parts[:position], parts[position + 1 :]
        if part in ("local_layers", "summary_layers"):
            branch = {"local_layers": "local_proj", "summary_layers": "summary_proj"}[part]
            leaf = {"weight": "weights", "bias": "biases"}[rest[1]]
            return ".".join([*head, branch, published_layer(int(rest[0])), leaf])
        if part in ("projection", "combiner") and "mha_layer" in head + ["mha_layer"]:
            name = {"projection": "global_proj", "combiner": "summary_local_merging"}[part]
            return ".".join([*head, name, "linear", "w", rest[0]])
        if part == "merge_proj" and rest[0].isdigit():
            return ".".join([*head, part, published_layer(int(rest[0]) // 2), "w", rest[1]])
    return key


def published_state_dict(model, extra_norms=()):
    state = {published_name(key): value.clone() for key, value in model.state_dict().items()}
    for prefix in extra_norms:  # LayerNorms the published fast / lite cells register and never use
        for norm in ("local_norm", "summary_norm"):
            state[f"{prefix}{norm}.weight"] = torch.ones(4)
            state[f"{prefix}{norm}.bias"] = torch.zeros(4)
    return state


def assert_round_trip(model, published):
    fresh_state = {
        key: torch.randn_like(value) if value.is_floating_point() else value
        for key, value in model.state_dict().items()
    }
    model.load_state_dict(fresh_state)
    model.load_state_dict(convert_original_checkpoint(published), strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, published[published_name(key)]), key


def test_published_names_are_the_facts():
    names = set(published_state_dict(SummaryMixing(8, 2, [8, 8], 8, [8], 8)))
    assert {
        "local_proj.linear.weights",
        "local_proj.linear_0.biases",
        "local_proj.linear_1.weights",
        "summary_proj.linear_0.weights",
        "summary_local_merging.linear.w.weight",
        "local_norm.weight",
    } <= names
    fast = published_state_dict(SummaryMixing(8, 2, mode="SummaryMixing-fast", local_proj_out_dim=8))
    assert {"global_proj.linear.w.weight", "summary_local_merging.linear.w.bias"} <= set(fast)


@pytest.mark.parametrize(
    "mode", ["SummaryMixing", "SummaryMixing-fast", "SummaryMixing-lite", "SummaryMixing-expdecay"]
)
def test_cells_of_every_mode(mode):
    cell = SummaryMixing(8, 2, [8], 8, [8], 8, mode=mode)
    unused = [""] if mode in ("SummaryMixing-fast", "SummaryMixing-lite") else []
    published = published_state_dict(cell, extra_norms=unused)
    assert_round_trip(cell, published)


@pytest.mark.parametrize("build", [
    lambda: ConformerEncoder(2, 16, 32, 2, kernel_size=3, mode="SummaryMixing-fast", use_layernorm=False),
    lambda: BranchformerEncoder(2, 16, 2, kernel_size=3, csgu_linear_units=32),
    lambda: BranchformerEncoder(2, 16, 2, kernel_size=3, csgu_linear_units=32, mode="SummaryMixing-lite"),
])  # fmt: skip
def test_encoders(build):
    encoder = build()
    lite = encoder.layers[0].mha_layer.mode == "SummaryMixing-lite"
    unused = [f"layers.{i}.mha_layer." for i in range(2)] if lite else []
    assert_round_trip(encoder, published_state_dict(encoder, extra_norms=unused))


def test_transducer_model_list_swaps_ctc_and_output_layers():
    """The published transducer's model list ends [..., proj_ctc, transducer_lin]; ours [..., transducer_lin,
    enc_lin]."""
    asr = TransformerASR(
        10,
        6,
        d_model=16,
        nhead=2,
        num_encoder_layers=1,
        num_decoder_layers=0,
        d_ffn=32,
        encoder_module="conformer",
        normalize_before=True,
        kernel_size=3,
        mode="SummaryMixing-fast",
    )
    ours = torch.nn.ModuleList([torch.nn.Linear(2, 2), asr, torch.nn.Linear(3, 3), torch.nn.Linear(4, 4),
                                torch.nn.Linear(5, 5), torch.nn.Linear(6, 6), torch.nn.Linear(7, 10),
                                torch.nn.Linear(7, 11)])  # fmt: skip
    published = published_state_dict(ours)
    published = {
        ({"6": "7", "7": "6"}.get(key.split(".")[0], key.split(".")[0]) + "." + key.split(".", 1)[1]): value
        for key, value in published.items()
    }
    converted = convert_original_checkpoint(published, transducer=True)
    ours.load_state_dict(converted, strict=True)
    assert torch.equal(ours[6].weight, published["7.weight"]) and torch.equal(ours[7].weight, published["6.weight"])


def test_a_published_wav2vec2_checkpoint_folder_loads(tmp_path):
    from summarymixing.convert import PUBLISHED_WAV2VEC2, load_original_wav2vec2
    from summarymixing.experiment import load

    mini = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hparams", "wav2vec2", "mini.yaml")
    hparams = load(mini, {"output_folder": str(tmp_path / "run"), "data_folder": str(tmp_path / "d")})
    ours = hparams["wav2vec2"]
    published = {}
    for file_name, part in PUBLISHED_WAV2VEC2.items():
        state = published_state_dict(getattr(ours, part))
        # the published CNN.ckpt has no filterbank
        published[file_name] = {key: value for key, value in state.items() if not key.startswith("fbank.")}
        torch.save(published[file_name], tmp_path / file_name)
    for parameter in ours.parameters():
        torch.nn.init.normal_(parameter)
    load_original_wav2vec2(str(tmp_path), ours)
    cell = ours.context_encoder.latent_encoder.layers[0].mha_layer
    assert torch.equal(cell.combiner.weight, published["latent_encoder.ckpt"][
        "latent_encoder.layers.0.mha_layer.summary_local_merging.linear.w.weight"])  # fmt: skip
    assert torch.equal(ours.prediction_head.weight, published["feat_proj.ckpt"]["weight"])
    (tmp_path / "feat_proj.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match="feat_proj.ckpt"):
        load_original_wav2vec2(str(tmp_path), ours)


def convert_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "summarymixing.convert", *map(str, args)], capture_output=True, text=True
    )


def test_the_command_converts_a_published_cell(tmp_path):
    cell = SummaryMixing(8, 2, [8], 8, [8], 8)
    torch.save(published_state_dict(cell), tmp_path / "published.ckpt")
    result = convert_cli(tmp_path / "published.ckpt", tmp_path / "ours.ckpt")
    assert result.returncode == 0, result.stderr
    cell.load_state_dict(torch.load(tmp_path / "ours.ckpt", weights_only=True), strict=True)
    assert not list(tmp_path.glob("*.partial-*"))


@pytest.mark.parametrize(
    "source, message",
    [
        ("unrelated", "holds no tensor of the published SummaryMixing cell"),
        ("text", "is not a checkpoint PyTorch saved"),
        ("list", "holds a list, not a state_dict"),
        ("missing", "no such file"),
    ],
)
def test_the_command_refuses_what_it_cannot_convert(source, message, tmp_path):
    path = tmp_path / f"{source}.ckpt"
    if source == "unrelated":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif source == "text":
        path.write_text("hello\n")
    elif source == "list":
        torch.save([torch.zeros(2)], path)
    result = convert_cli(path, tmp_path / "out.ckpt")
    assert result.returncode == 2 and message in result.stderr and str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.ckpt").exists()


def test_the_command_refuses_a_folder_as_destination(tmp_path):
    cell = SummaryMixing(8, 2, [8], 8, [8], 8)
    torch.save(published_state_dict(cell), tmp_path / "published.ckpt")
    result = convert_cli(tmp_path / "published.ckpt", tmp_path)
    assert result.returncode == 2 and "is a folder" in result.stderr
