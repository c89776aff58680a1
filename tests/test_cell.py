"""Behaviour of the SummaryMixing cell: shapes, exact masked means, chunked == masked == streaming, gradients,
mixed precision, initialisation, errors, and drop-in use inside a SpeechBrain encoder layer."""

import doctest
import math

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoderLayer
from speechbrain.lobes.models.transformer.Transformer import get_lookahead_mask
from speechbrain.lobes.models.transformer.TransformerASR import make_transformer_src_mask
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

import summarymixing.cell
from summarymixing import SummaryMixing, SummaryMixingStreamingState

MODES = ["SummaryMixing", "SummaryMixing-lite", "SummaryMixing-fast", "SummaryMixing-expdecay"]
ATOL = 1e-5


def make_cell(mode="SummaryMixing", nhead=2, dim=8, **kwargs):
    torch.manual_seed(0)
    options = dict(
        local_proj_hid_dim=[dim, 2 * dim],
        local_proj_out_dim=dim,
        summary_hid_dim=[dim],
        summary_out_dim=dim if mode == "SummaryMixing-lite" else 2 * dim,
        mode=mode,
    )
    if mode == "SummaryMixing-expdecay":
        options["decay_constant"] = 0.8  # a strong decay, so that the weighting shows within a few frames
    options.update(kwargs)
    return SummaryMixing(dim, nhead, **options).eval()


def padding_mask(lengths, time):
    return torch.arange(time)[None, :] >= torch.as_tensor(lengths)[:, None]


def naive_output(cell, x, lengths, context, dropout=None):
    """Frame-by-frame reference of the published cell: explicit per-head MLPs (or the fast mode's dense
    projection), a Python-loop (decay-weighted) mean, and the combiner on the concatenation (dropped out with
    ``dropout``, a function, when given). ``context(t, length)`` lists the frames frame t may summarise."""
    heads = cell.nhead

    def mlp(layers, frame):
        for layer in layers:
            parts = frame.view(heads, -1)
            frame = cell.activation(torch.cat([parts[h] @ layer.weight[h] + layer.bias[h] for h in range(heads)]))
        return frame

    outputs = torch.zeros(x.shape[0], x.shape[1], cell.enc_dim, dtype=x.dtype)
    for b, length in enumerate(lengths):
        if cell.mode == "SummaryMixing-fast":
            projected = [cell.activation(cell.projection(x[b, t])) for t in range(length)]
            locals_ = [p[: cell.local_dim] for p in projected]
            streams = [p[cell.local_dim :] for p in projected]
        else:
            streams = [mlp(cell.summary_layers, x[b, t]) for t in range(length)]
            if cell.mode != "SummaryMixing-lite":
                locals_ = [mlp(cell.local_layers, x[b, t]) for t in range(length)]
        for t in range(length):
            seen = context(t, length)
            weights = [
                cell.decay_constant.item() ** abs(t - u) if cell.mode == "SummaryMixing-expdecay" else 1.0 for u in seen
            ]
            mean = sum(w * streams[u] for w, u in zip(weights, seen)) / max(sum(weights), 1e-30)
            if cell.mode == "SummaryMixing-lite":
                outputs[b, t] = mean
                continue
            concatenated = torch.cat([cell.local_norm(locals_[t]), cell.summary_norm(mean)])
            if dropout is not None:
                concatenated = dropout(concatenated)
            outputs[b, t] = cell.activation(cell.combiner(concatenated))
    return outputs


def whole_utterance(t, length):
    return list(range(length))


def chunk_context(chunk_size, left):
    def context(t, length):
        chunk = t // chunk_size
        first = 0 if left is None else max(0, chunk - left) * chunk_size
        return list(range(first, min(length, (chunk + 1) * chunk_size)))

    return context


def stream(cell, x, pad, chunk_size, left):
    state = cell.make_streaming_state(left)
    outs = [
        cell.forward_streaming(chunk, state, key_padding_mask=chunk_pad)
        for chunk, chunk_pad in zip(x.split(chunk_size, dim=1), pad.split(chunk_size, dim=1))
    ]
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nhead", [1, 2, 4])
def test_shapes_every_mode_and_head_count(mode, nhead):
    cell = make_cell(mode, nhead)
    x = torch.randn(3, 7, 8)
    out, weights = cell(x, x, x, return_attn_weights=True, pos_embs=torch.randn(1, 13, 8))
    assert out.shape == (3, 7, 8) and weights is None
    assert cell.forward_streaming(x[:, :3], cell.make_streaming_state()).shape == (3, 3, 8)


@pytest.mark.parametrize("mode", MODES)
def test_output_matches_frame_by_frame_reference(mode):
    cell = make_cell(mode, nhead=2)
    lengths = [9, 6, 1]
    x = torch.randn(3, 9, 8)
    pad = padding_mask(lengths, 9)
    valid = ~pad
    expected = naive_output(cell, x, lengths, whole_utterance)
    out, _ = cell(x, key_padding_mask=pad)
    torch.testing.assert_close(out[valid], expected[valid], atol=ATOL, rtol=0)
    for chunk_size, left in [(2, None), (3, 1), (4, 0)]:
        config = DynChunkTrainConfig(chunk_size, left)
        expected = naive_output(cell, x, lengths, chunk_context(chunk_size, left))
        out, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=config)
        torch.testing.assert_close(out[valid], expected[valid], atol=ATOL, rtol=0)


@pytest.mark.parametrize("local_hidden,summary_hidden", [([], [12, 8]), ([4], []), ([], [])])
@pytest.mark.parametrize("use_layernorm", [True, False])
def test_fused_first_layers_match_reference_for_any_branch_shapes(local_hidden, summary_hidden, use_layernorm):
    # the first layers of f and s run as one matmul and are split after: widths and depths may differ
    cell = make_cell(
        nhead=2,
        local_proj_hid_dim=local_hidden,
        local_proj_out_dim=4,
        summary_hid_dim=summary_hidden,
        summary_out_dim=12,
        use_layernorm=use_layernorm,
    )
    lengths = [7, 5]
    x = torch.randn(2, 7, 8)
    pad = padding_mask(lengths, 7)
    for config, context in [(None, whole_utterance), (DynChunkTrainConfig(3, 1), chunk_context(3, 1))]:
        out, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=config)
        expected = naive_output(cell, x, lengths, context)
        torch.testing.assert_close(out[~pad], expected[~pad], atol=ATOL, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_padding_never_reaches_valid_frames(mode):
    cell = make_cell(mode, nhead=2)
    x = torch.randn(1, 6, 8)
    reference, _ = cell(x)
    for extra, fill in [(1, 0.0), (5, 1e30), (40, float("nan"))]:
        padded = torch.cat([x, torch.full((1, extra, 8), fill)], dim=1)
        pad = padding_mask([6], 6 + extra)
        out, _ = cell(padded, key_padding_mask=pad)
        torch.testing.assert_close(out[:, :6], reference, atol=ATOL, rtol=0)
        config = DynChunkTrainConfig(4, 1)
        chunked, _ = cell(padded, key_padding_mask=pad, dynchunktrain_config=config)
        unpadded, _ = cell(x, dynchunktrain_config=config)
        torch.testing.assert_close(chunked[:, :6], unpadded, atol=ATOL, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_all_padding_rows_are_finite(mode):
    cell = make_cell(mode, nhead=2)
    x = torch.randn(2, 5, 8)
    pad = padding_mask([5, 0], 5)
    paths = [
        cell(x, key_padding_mask=pad)[0],
        cell(x, key_padding_mask=pad, dynchunktrain_config=DynChunkTrainConfig(2, 0))[0],
        cell(x, key_padding_mask=pad, attn_mask=get_lookahead_mask(x))[0],
        stream(cell, x, pad, 2, None),
    ]
    for out in paths:
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("mode", MODES)
def test_padded_frames_whose_window_holds_only_padding_are_finite(mode):
    """With a limited left context, the windows of the padded frames far after a short utterance's end hold no
    valid frame (once, -expdecay's float64 subtractions left a residue there that overflowed to NaN)."""
    torch.manual_seed(0)
    cell = SummaryMixing(64, 4, [64], 64, [64], 64, mode=mode).eval()
    x, pad = torch.randn(3, 50, 64), padding_mask([50, 31, 7], 50)
    out = cell(x, key_padding_mask=pad, dynchunktrain_config=DynChunkTrainConfig(8, 2))[0]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk_size,left", [(1, None), (3, None), (3, 0), (3, 2), (4, 1), (5, 10), (16, None)])
def test_chunked_equals_masked_equals_streaming(mode, chunk_size, left):
    cell = make_cell(mode, nhead=2)
    x = torch.randn(3, 13, 8)
    pad = padding_mask([13, 8, 3], 13)
    valid = ~pad
    config = DynChunkTrainConfig(chunk_size, left)
    chunked, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=config)
    mask = make_transformer_src_mask(x, dynchunktrain_config=config)
    masked, _ = cell(x, key_padding_mask=pad, attn_mask=mask)
    streamed = stream(cell, x, pad, chunk_size, left)
    torch.testing.assert_close(chunked[valid], masked[valid], atol=ATOL, rtol=0)
    torch.testing.assert_close(streamed[valid], chunked[valid], atol=ATOL, rtol=0)


def test_float_causal_mask_equals_bool_mask_and_running_mean():
    cell = make_cell(nhead=2)
    x = torch.randn(2, 6, 8)
    pad = padding_mask([6, 4], 6)
    float_mask = get_lookahead_mask(x)
    assert float_mask.is_floating_point()
    causal, _ = cell(x, key_padding_mask=pad, attn_mask=float_mask)
    as_bool, _ = cell(x, key_padding_mask=pad, attn_mask=torch.isinf(float_mask))
    torch.testing.assert_close(causal, as_bool)
    expected = naive_output(cell, x, [6, 4], lambda t, length: list(range(t + 1)))
    torch.testing.assert_close(causal[~pad], expected[~pad], atol=ATOL, rtol=0)
    # chunks of one frame with unlimited left context are the same causal running mean
    chunk_of_one, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=DynChunkTrainConfig(1, None))
    torch.testing.assert_close(chunk_of_one[~pad], causal[~pad], atol=ATOL, rtol=0)


def test_dynchunktrain_config_is_duck_typed_and_takes_precedence_over_attn_mask():
    class Config:
        chunk_size = 3
        left_context_size = 1

    cell = make_cell(nhead=1)
    x = torch.randn(2, 10, 8)
    expected, _ = cell(x, dynchunktrain_config=DynChunkTrainConfig(3, 1))
    out, _ = cell(x, attn_mask=get_lookahead_mask(x), dynchunktrain_config=Config())
    torch.testing.assert_close(out, expected)


def test_long_stream_keeps_constant_state_and_matches_chunked_path():
    cell = make_cell(nhead=2)
    x = torch.randn(1, 900, 8) + 3.0
    pad = padding_mask([900], 900)
    for left in [None, 2]:
        state = cell.make_streaming_state(left)
        outs = []
        for chunk in x.split(9, dim=1):
            outs.append(cell.forward_streaming(chunk, state))
            stored = [state.running_sum] if left is None else state.chunk_sums
            assert len(stored) <= (1 if left is None else left) and all(s.shape == (2, 1, 8) for s in stored)
        chunked, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=DynChunkTrainConfig(9, left))
        torch.testing.assert_close(torch.cat(outs, dim=1), chunked, atol=ATOL, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_float64(mode):
    cell = make_cell(mode, nhead=2, dim=4, local_proj_hid_dim=[4], summary_hid_dim=[4], summary_out_dim=4).double()
    x = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    pad = padding_mask([4, 3], 4)
    assert torch.autograd.gradcheck(lambda v: cell(v, key_padding_mask=pad)[0], (x,))
    config = DynChunkTrainConfig(2, 1)
    assert torch.autograd.gradcheck(lambda v: cell(v, key_padding_mask=pad, dynchunktrain_config=config)[0], (x,))
    causal = get_lookahead_mask(x)
    assert torch.autograd.gradcheck(lambda v: cell(v, key_padding_mask=pad, attn_mask=causal)[0], (x,))


@pytest.mark.parametrize("mode", MODES)
def test_bf16_autocast_is_finite_and_close_to_fp32(mode):
    cell = make_cell(mode, nhead=2, dim=32)
    x = torch.randn(2, 300, 32)
    pad = padding_mask([300, 120], 300)
    config = DynChunkTrainConfig(16, None)
    for kwargs in [dict(), dict(dynchunktrain_config=config)]:
        reference, _ = cell(x, key_padding_mask=pad, **kwargs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = cell(x, key_padding_mask=pad, **kwargs)
        assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
        error = (out.float() - reference)[~pad].abs().max()
        assert error < 0.05 * reference.abs().max()


def test_summary_sum_is_accumulated_in_float32_under_autocast():
    cell = make_cell(nhead=1, dim=8)
    sums, counts = cell._chunk_sums(torch.ones(1, 1, 4096, 8, dtype=torch.bfloat16), None, 4096)
    assert sums.dtype == torch.float32 and sums.unique().tolist() == [4096.0] and counts.tolist() == [[4096.0]]


@pytest.mark.parametrize("nhead", [1, 4])
def test_initialisation_is_the_published_cells(nhead):
    """Block-diagonal layers: kaiming_uniform_(a=sqrt(5)) on the [nhead, in / nhead, out / nhead] weight and the
    [nhead, out / nhead] bias, as whole tensors (the published layers'); dense layers: nn.Linear's, zero bias."""
    cell = SummaryMixing(256, nhead, [512], 256, [512], 256)
    for layer in list(cell.local_layers) + list(cell.summary_layers):
        bound = 1 / math.sqrt(layer.weight.shape[1] * layer.weight.shape[2])
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.95 * bound
        bias_bound = 1 / math.sqrt(layer.bias.shape[1])
        assert layer.bias.abs().max() <= bias_bound and layer.bias.abs().max() > 0.5 * bias_bound
    assert not cell.combiner.bias.any()
    fast = SummaryMixing(256, nhead, mode="SummaryMixing-fast", local_proj_out_dim=256)
    assert not fast.projection.bias.any() and not fast.combiner.bias.any()


@pytest.mark.parametrize(
    "mode,published",
    [("SummaryMixing", 791_040), ("SummaryMixing-fast", 1_050_112), ("SummaryMixing-lite", 132_096),
     ("SummaryMixing-expdecay", 791_040)],
)  # fmt: skip
def test_parameter_counts_are_the_published_cells(mode, published):
    """d 512, 4 heads, hidden [512], out 512 (shared/notes 1e). The published -lite cell also registers two
    LayerNorms that it never uses (2,048 parameters with use_layernorm): they are not built here."""
    cell = SummaryMixing(512, 4, [512], 512, [512], 512, mode=mode)
    assert sum(p.numel() for p in cell.parameters() if p.requires_grad) == published
    fast_without_norm = SummaryMixing(512, 4, [512], 512, [512], 512, mode="SummaryMixing-fast", use_layernorm=False)
    assert sum(p.numel() for p in fast_without_norm.parameters()) == 1_050_112


@pytest.mark.parametrize("mode", ["SummaryMixing", "SummaryMixing-fast", "SummaryMixing-expdecay"])
def test_training_dropout_is_the_published_cells(mode):
    """Dropout on every frame's concatenation [f(x_t); mean], the summary's copies dropped independently: with
    the same random numbers, the published computation gives the same output."""
    cell = make_cell(mode, dropout=0.3).train()
    x = torch.randn(2, 6, 8)
    lengths = [6, 4]
    pad = padding_mask(lengths, 6)
    torch.manual_seed(5)
    out, _ = cell(x, key_padding_mask=pad)
    torch.manual_seed(5)
    masks = torch.nn.functional.dropout(torch.ones(2 * 6, cell.local_dim + cell.summary_dim), 0.3).view(2, 6, -1)
    frames = iter([(b, t) for b in range(2) for t in range(lengths[b])])

    def dropout(concatenated):
        b, t = next(frames)
        return concatenated * masks[b, t]

    expected = naive_output(cell, x, lengths, whole_utterance, dropout)
    torch.testing.assert_close(out[~pad], expected[~pad], atol=ATOL, rtol=0)


def test_expdecay_is_linear_time_and_exact_on_long_sequences():
    """Two decayed scans (float64) give the published [T, T] weighting's sums, over 3000 frames and chunk windows."""
    cell = make_cell("SummaryMixing-expdecay", decay_constant=0.995).double()
    x = torch.randn(2, 3000, 8, dtype=torch.float64)
    pad = padding_mask([3000, 2111], 3000)
    for config in [None, DynChunkTrainConfig(16, 4), DynChunkTrainConfig(7, None)]:
        fast, _ = cell(x, key_padding_mask=pad, dynchunktrain_config=config)
        mask = None if config is None else make_transformer_src_mask(x, dynchunktrain_config=config)
        reference, _ = cell(x, key_padding_mask=pad, attn_mask=mask) if mask is not None else (None, None)
        if reference is None:
            reference, _ = cell(x, key_padding_mask=pad, attn_mask=torch.zeros(3000, 3000, dtype=torch.bool))
        torch.testing.assert_close(fast[~pad], reference[~pad], atol=1e-9, rtol=0)


def test_dropout_only_in_training():
    cell = make_cell(dropout=0.5)
    x = torch.randn(2, 6, 8)
    assert torch.equal(cell(x)[0], cell(x)[0])
    cell.train()
    assert not torch.equal(cell(x)[0], cell(x)[0])


def test_drop_in_for_speechbrain_conformer_attention():
    layer = ConformerEncoderLayer(d_model=8, d_ffn=16, nhead=2, kernel_size=3, attention_type="regularMHA")
    layer.mha_layer = make_cell(nhead=2)
    x = torch.randn(2, 6, 8)
    out, attn = layer(x, src_key_padding_mask=padding_mask([6, 4], 6))
    assert out.shape == x.shape and attn is None and torch.isfinite(out).all()


def test_docstring_examples_run():
    assert doctest.testmod(summarymixing.cell).failed == 0


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: SummaryMixing(8, mode="SummaryMixing-turbo"), "unknown SummaryMixing mode"),
        (lambda: SummaryMixing(10, nhead=4), "enc_dim=10 must be a positive multiple of nhead=4"),
        (lambda: SummaryMixing(8, 2, [8, 5], 8, [8], 8), r"local_proj_hid_dim\[1\]=5"),
        (lambda: SummaryMixing(8, nhead=0), "nhead must be an int >= 1, got 0"),
    ],
)
def test_construction_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(query=torch.randn(2, 5, 6)), r"query must be \[batch, time, enc_dim=8\], got shape \(2, 5, 6\)"),
        (dict(query=torch.randn(5, 8)), r"got shape \(5, 8\)"),
        (dict(key_padding_mask=torch.zeros(2, 4, dtype=torch.bool)), r"key_padding_mask.*\[2, 5\].*\(2, 4\)"),
        (dict(key_padding_mask=torch.zeros(2, 5)), r"key_padding_mask must be a bool.*torch.float32"),
        (dict(attn_mask=torch.zeros(5, 4, dtype=torch.bool)), r"attn_mask must be \[time, time\] = \[5, 5\]"),
        (dict(attn_mask=torch.zeros(5, 5, dtype=torch.long)), "attn_mask must be bool.*torch.int64"),
        (dict(attn_mask=torch.full((5, 5), -1.0)), "only hold 0"),
        (dict(dynchunktrain_config=DynChunkTrainConfig(0, None)), "chunk_size must be an int >= 1"),
        (dict(dynchunktrain_config=DynChunkTrainConfig(2, -1)), "left_context_size must be None or an int >= 0"),
        (dict(dynchunktrain_config=object()), "chunk_size must be an int >= 1, got None"),
        (dict(query=torch.randn(2, 5, 8, dtype=torch.float64)), "query is torch.float64 but the cell's parameters are"),
    ],
)
def test_forward_errors_name_the_argument_and_shapes(kwargs, message):
    cell = make_cell()
    kwargs.setdefault("query", torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=message):
        cell(**kwargs)


def test_streaming_errors():
    cell = make_cell()
    with pytest.raises(ValueError, match="left_context_chunks must be None or an int >= 0, got -1"):
        cell.make_streaming_state(-1)
    with pytest.raises(ValueError, match="state must come from make_streaming_state"):
        cell.forward_streaming(torch.randn(1, 2, 8), {})
    state = cell.make_streaming_state()
    assert isinstance(state, SummaryMixingStreamingState)
    cell.forward_streaming(torch.randn(2, 3, 8), state)
    with pytest.raises(ValueError, match="chunk has batch size 1 but the streaming state was built with 2"):
        cell.forward_streaming(torch.randn(1, 3, 8), state)
    with pytest.raises(ValueError, match=r"chunk must be \[batch, time, enc_dim=8\]"):
        cell.forward_streaming(torch.randn(2, 3, 4), state)
    with pytest.raises(ValueError, match="this streaming state was made by another SummaryMixing cell"):
        make_cell().forward_streaming(torch.randn(2, 3, 8), state)


def test_benchmark_flop_count_and_exponent_fit():
    from summarymixing.benchmarks.cell import cell_matmul_flops
    from summarymixing.benchmarks.timing import fit_exponent

    cell = SummaryMixing(512, 4, [512], 512, [512], 512)
    headwise = 4 * 2 * 512 * 512 // 4  # four head-wise layers, each 4 heads of 128 x 128
    # training with dropout (as published): the combiner reads every frame's [f; summary] concatenation
    per_frame = headwise + 2 * 1024 * 512
    assert cell_matmul_flops(cell, 2, 100, 7) == 3 * 2 * 100 * per_frame
    # without dropout the summary half of the combiner runs once per summary
    cell.eval()
    per_frame = headwise + 2 * 512 * 512
    assert cell_matmul_flops(cell, 2, 100, 7) == 3 * 2 * (100 * per_frame + 7 * 2 * 512 * 512)
    lengths = [100, 1000, 2000, 4000]
    assert fit_exponent(lengths, [5.0, 10.0, 20.0, 40.0]) == pytest.approx(1.0)
    assert fit_exponent(lengths, [t**2 for t in lengths]) == pytest.approx(2.0)
    assert math.isnan(fit_exponent([100, 1000], [1.0, None]))


def test_benchmark_counts_every_activated_value():
    from summarymixing.benchmarks.cell import activated_widths

    # f: 512 -> 512 -> 512, s: 512 -> 512 -> 512, combiner output 512, each followed by the activation
    assert sorted(activated_widths(SummaryMixing(512, 4, [512], 512, [512], 512))) == [512] * 5
    # fast: one dense projection to 2 x local_proj_out_dim, then the combiner; lite: no combiner
    assert activated_widths(SummaryMixing(64, 2, [], 32, [], 48, mode="SummaryMixing-fast")) == [64, 64]
    lite = SummaryMixing(64, 2, [16], 32, [16], 64, mode="SummaryMixing-lite")
    assert sorted(activated_widths(lite)) == [16, 64]
