"""SummaryMixing encoders: SpeechBrain baselines unchanged, SpeechBrain parameter names, exact padding
invariance, hidden states, layerdrop, causality, errors."""

import pytest
import torch
from speechbrain.lobes.models.transformer import Branchformer, Conformer, Transformer
from speechbrain.lobes.models.transformer.TransformerASR import make_transformer_src_mask
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing import (
    BranchformerEncoder,
    ConformerEncoder,
    SummaryMixing,
    TransformerEncoder,
)

D_MODEL = 16


def make_encoder(kind, attention_type="SummaryMixing", speechbrain=False, **kwargs):
    """A tiny 2-layer encoder of ``kind``, ours or SpeechBrain's, with all parameters randomised."""
    classes = {
        "conformer": (ConformerEncoder, Conformer.ConformerEncoder),
        "branchformer": (BranchformerEncoder, Branchformer.BranchformerEncoder),
        "transformer": (TransformerEncoder, Transformer.TransformerEncoder),
    }
    sizes = {
        "conformer": dict(num_layers=2, d_model=D_MODEL, d_ffn=32, nhead=2, kernel_size=5),
        "branchformer": dict(num_layers=2, d_model=D_MODEL, nhead=2, kernel_size=5, csgu_linear_units=32),
        "transformer": dict(num_layers=2, nhead=2, d_ffn=32, d_model=D_MODEL, normalize_before=True),
    }
    encoder = classes[kind][speechbrain](attention_type=attention_type, **sizes[kind], **kwargs)
    with torch.no_grad():  # trained-like weights: SpeechBrain's CSGU starts with a near-zero kernel
        for parameter in encoder.parameters():
            parameter.normal_(0.0, 0.3)
    return encoder.eval()


def run(encoder, x, **kwargs):
    pos_embs = RelPosEncXL(D_MODEL)(x) if getattr(encoder, "attention_type", None) == "RelPosMHAXL" else None
    return encoder(x, pos_embs=pos_embs, **kwargs)


BASELINES = [
    ("conformer", "RelPosMHAXL"),
    ("conformer", "regularMHA"),
    ("conformer", "RoPEMHA"),
    ("conformer", "hypermixing"),
    ("branchformer", "RelPosMHAXL"),
    ("branchformer", "hypermixing"),
    ("transformer", "regularMHA"),
]


@pytest.mark.parametrize("kind,attention_type", BASELINES)
def test_speechbrain_baseline_is_speechbrain_model(kind, attention_type):
    torch.manual_seed(0)
    ours = make_encoder(kind, attention_type)
    theirs = make_encoder(kind, attention_type, speechbrain=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 12, D_MODEL)
    padding = torch.arange(12)[None] >= torch.tensor([[12], [9]])
    expected = run(theirs, x, src_key_padding_mask=padding)[0]
    assert torch.equal(run(ours, x, src_key_padding_mask=padding)[0], expected)


def test_speechbrain_conformer_baseline_keeps_chunk_mask_behaviour():
    torch.manual_seed(0)
    ours = make_encoder("conformer", "RelPosMHAXL")
    theirs = make_encoder("conformer", "RelPosMHAXL", speechbrain=True)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 13, D_MODEL)
    config = DynChunkTrainConfig(4, 1)
    mask = make_transformer_src_mask(x, dynchunktrain_config=config)
    expected = run(theirs, x, src_mask=mask, dynchunktrain_config=config)[0]
    assert torch.equal(run(ours, x, src_mask=mask, dynchunktrain_config=config)[0], expected)


@pytest.mark.parametrize("kind", ["conformer", "branchformer", "transformer"])
def test_summary_mixing_takes_the_attention_slot_and_no_attention_is_built(kind):
    encoder = make_encoder(kind)
    slot = "self_att" if kind == "transformer" else "mha_layer"
    assert all(isinstance(getattr(layer, slot), SummaryMixing) for layer in encoder.layers)
    names = [type(module).__name__ for module in encoder.modules()]
    assert not {"MultiheadAttention", "RelPosMHAXL", "RoPEMHA", "HyperMixing"} & set(names)
    assert any(name.startswith(f"layers.1.{slot}.") for name in encoder.state_dict())


@pytest.mark.parametrize("kind", ["conformer", "branchformer", "transformer"])
def test_padding_never_changes_valid_frames(kind):
    torch.manual_seed(0)
    encoder = make_encoder(kind)
    x = torch.randn(3, 17, D_MODEL)
    lengths = [17, 11, 4]
    padding = torch.arange(17)[None] >= torch.tensor(lengths)[:, None]
    configs = [None, DynChunkTrainConfig(4, 1), DynChunkTrainConfig(5, None)] if kind != "branchformer" else [None]
    for config in configs:
        batch = run(encoder, x, src_key_padding_mask=padding, dynchunktrain_config=config)[0]
        for i, length in enumerate(lengths):
            alone = run(encoder, x[i : i + 1, :length], dynchunktrain_config=config)[0]
            torch.testing.assert_close(batch[i, :length], alone[0], atol=1e-5, rtol=1e-5)


def test_chunked_summary_matches_speechbrain_chunk_mask():
    torch.manual_seed(0)
    encoder = make_encoder("conformer")
    x = torch.randn(2, 19, D_MODEL)
    for config in (DynChunkTrainConfig(4, 2), DynChunkTrainConfig(6, None)):
        mask = make_transformer_src_mask(x, dynchunktrain_config=config)
        chunked = encoder(x, dynchunktrain_config=config)[0]
        masked = encoder(x, src_mask=mask, dynchunktrain_config=config)[0]  # the cell prefers the config
        torch.testing.assert_close(chunked, masked)
        for layer in encoder.layers:  # the general [T, T] mask path of the cell gives the same summary
            layer.mha_layer.forward = _masked_only(layer.mha_layer, mask)
        torch.testing.assert_close(encoder(x, dynchunktrain_config=config)[0], chunked, atol=1e-5, rtol=1e-5)
        for layer in encoder.layers:
            del layer.mha_layer.forward


def _masked_only(cell, mask):
    call = type(cell).forward

    def forward(query, *args, dynchunktrain_config=None, **kwargs):
        kwargs["attn_mask"] = mask
        return call(cell, query, *args, **kwargs)

    return forward


@pytest.mark.parametrize("kind", ["conformer", "transformer"])
def test_causal_summary_mixing_never_sees_the_future(kind):
    torch.manual_seed(0)
    encoder = make_encoder(kind, causal=True)
    x = torch.randn(1, 12, D_MODEL)
    full = encoder(x)[0]
    torch.testing.assert_close(encoder(x[:, :7])[0], full[:, :7], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["conformer", "transformer"])
def test_causal_encoder_refuses_chunks(kind):
    encoder = make_encoder(kind, causal=True)
    with pytest.raises(ValueError, match="causal"):
        encoder(torch.randn(1, 8, D_MODEL), dynchunktrain_config=DynChunkTrainConfig(4, None))


@pytest.mark.parametrize("kind", ["conformer", "branchformer", "transformer"])
def test_hidden_states_are_input_then_each_layer_output(kind):
    torch.manual_seed(0)
    encoder = make_encoder(kind, output_hidden_states=True)
    x = torch.randn(2, 9, D_MODEL)
    output, _, hidden_states = encoder(x)
    assert len(hidden_states) == len(encoder.layers) + 1
    assert torch.equal(hidden_states[0], x)
    layer_output = x
    for layer, hidden in zip(encoder.layers, hidden_states[1:]):
        layer_output = layer(layer_output)[0]
        torch.testing.assert_close(hidden, layer_output)
    torch.testing.assert_close(output, encoder.norm(hidden_states[-1]))


@pytest.mark.parametrize("kind", ["conformer", "transformer"])
def test_layerdrop_skips_layers_in_training_only(kind):
    torch.manual_seed(0)
    encoder = make_encoder(kind, output_hidden_states=True, layerdrop_prob=0.5)
    x = torch.randn(1, 8, D_MODEL)
    config = DynChunkTrainConfig(4, None)
    encoder.train()
    counts = {len(encoder(x, dynchunktrain_config=config)[2]) for _ in range(12)}  # seeded (never a drop: 8**-12)
    assert min(counts) < 3 and max(counts) <= 3
    encoder.eval()
    assert len(encoder(x, dynchunktrain_config=config)[2]) == 3


def test_summary_mixing_options_reach_the_cell():
    encoder = make_encoder("conformer", mode="SummaryMixing-fast", use_layernorm=False, local_proj_out_dim=8)
    cell = encoder.layers[0].mha_layer
    assert (cell.mode, cell.local_dim) == ("SummaryMixing-fast", 8)
    assert isinstance(cell.summary_norm, torch.nn.Identity)


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="BranchformerEncoder: unknown attention_type 'RoPEMHA'"):
        make_encoder("branchformer", "RoPEMHA")
    with pytest.raises(TypeError, match=r"ConformerEncoder: unknown SummaryMixing option\(s\) \[.mdoe.\]"):
        make_encoder("conformer", "RelPosMHAXL", mdoe="SummaryMixing-lite")


def test_baseline_is_one_key_away():
    encoder = make_encoder("conformer", "RelPosMHAXL", mode="SummaryMixing-fast", local_proj_out_dim=8)
    assert not any(isinstance(module, SummaryMixing) for module in encoder.modules())
