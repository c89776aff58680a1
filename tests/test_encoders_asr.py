"""summarymixing.TransformerASR: SpeechBrain's model for SpeechBrain attention types, YAML, checkpoints, the
decoder inside S2STransformerBeamSearcher, hidden states, padding, initialisation."""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.decoders import S2STransformerBeamSearcher
from speechbrain.lobes.models.transformer import TransformerASR as speechbrain_asr
from speechbrain.nnet.linear import Linear
from speechbrain.utils.checkpoints import Checkpointer, average_checkpoints
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing import SummaryMixing, TransformerASR

SIZES = dict(tgt_vocab=9, input_size=6, d_model=16, nhead=2, num_encoder_layers=2, d_ffn=32, kernel_size=5)


def make_model(cls=TransformerASR, encoder_module="conformer", num_decoder_layers=1, **kwargs):
    torch.manual_seed(0)
    options = dict(normalize_before=encoder_module == "conformer", causal=False, dropout=0.0)
    return cls(encoder_module=encoder_module, num_decoder_layers=num_decoder_layers, **SIZES, **{**options, **kwargs})


@pytest.mark.parametrize(
    "encoder_module,attention_type",
    [("conformer", "RelPosMHAXL"), ("conformer", "regularMHA"), ("branchformer", "RelPosMHAXL"),
     ("transformer", "regularMHA")],
)  # fmt: skip
def test_speechbrain_attention_gives_speechbrain_model(encoder_module, attention_type):
    ours = make_model(encoder_module=encoder_module, attention_type=attention_type).eval()
    theirs = make_model(speechbrain_asr.TransformerASR, encoder_module, attention_type=attention_type).eval()
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    src, tgt, lengths = torch.randn(2, 14, 6), torch.randint(1, 9, (2, 5)), torch.tensor([1.0, 0.7])
    for a, b in zip(ours(src, tgt, lengths), theirs(src, tgt, lengths)):
        assert torch.equal(a, b)
    assert torch.equal(ours.decode(tgt, ours.encode(src), torch.tensor([14, 10]))[0],
                       theirs.decode(tgt, theirs.encode(src), torch.tensor([14, 10]))[0])  # fmt: skip
    if encoder_module == "conformer":
        config = DynChunkTrainConfig(4, 1)
        assert torch.equal(
            ours.encode(src, dynchunktrain_config=config), theirs.encode(src, dynchunktrain_config=config)
        )


@pytest.mark.parametrize("encoder_module", ["conformer", "branchformer", "transformer"])
def test_summary_mixing_model_is_padding_invariant_end_to_end(encoder_module):
    model = make_model(encoder_module=encoder_module, mode="SummaryMixing-fast").eval()
    src, tgt = torch.randn(2, 20, 6), torch.randint(1, 9, (2, 4))
    encoded, decoded = model(src, tgt, torch.tensor([1.0, 0.6]))
    encoded_alone, decoded_alone = model(src[1:, :12], tgt[1:])
    torch.testing.assert_close(encoded[1, :12], encoded_alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(decoded[1], decoded_alone[0], atol=1e-5, rtol=1e-5)


def test_hidden_states_are_encoder_input_then_each_layer_output():
    model = make_model(output_hidden_states=True, num_decoder_layers=0).eval()
    src = torch.randn(2, 10, 6)
    encoded, hidden_states = model.encode(src)
    assert len(hidden_states) == SIZES["num_encoder_layers"] + 1
    embedded = model.custom_src_module(src)
    torch.testing.assert_close(hidden_states[0], embedded + model.positional_encoding(embedded))
    torch.testing.assert_close(encoded, model.encoder.norm(hidden_states[-1]))
    assert len(model(src, None)) == 3  # SpeechBrain's raw encoder outputs: output, attentions, hidden states


def test_yaml_instantiation_and_encoder_wrapper():
    hparams = load_hyperpyyaml(
        """
        model: !new:summarymixing.TransformerASR
            tgt_vocab: 9
            input_size: 6
            d_model: 16
            nhead: 2
            num_encoder_layers: 2
            num_decoder_layers: 0
            d_ffn: 32
            encoder_module: conformer
            normalize_before: True
            attention_type: SummaryMixing
            mode: SummaryMixing-lite
            summary_hid_dim: [32, 32]
            use_layernorm: False
            mixing_activation: !name:torch.nn.ReLU
        enc: !new:speechbrain.lobes.models.transformer.TransformerASR.EncoderWrapper
            transformer: !ref <model>
        """
    )
    cell = hparams["model"].encoder.layers[1].mha_layer
    assert (cell.mode, len(cell.summary_layers), type(cell.activation)) == ("SummaryMixing-lite", 3, torch.nn.ReLU)
    assert hparams["enc"](torch.randn(1, 7, 6)).shape == (1, 7, 16)


def test_checkpoint_reload_and_averaging_give_the_saved_model(tmp_path):
    model = make_model().eval()
    src, tgt = torch.randn(1, 9, 6), torch.randint(1, 9, (1, 3))
    checkpointer = Checkpointer(tmp_path, recoverables={"model": model})
    checkpointer.save_checkpoint()
    restored = make_model(mode="SummaryMixing").eval()
    with torch.no_grad():
        restored.encoder.layers[0].mha_layer.combiner.weight.zero_()
    Checkpointer(tmp_path, recoverables={"model": restored}).recover_if_possible()
    for a, b in zip(model(src, tgt), restored(src, tgt)):
        assert torch.equal(a, b)
    averaged = average_checkpoints(checkpointer.list_checkpoints() * 2, recoverable_name="model")
    assert averaged.keys() == model.state_dict().keys()
    torch.testing.assert_close(averaged["encoder.layers.0.mha_layer.combiner.weight"],
                               model.state_dict()["encoder.layers.0.mha_layer.combiner.weight"])  # fmt: skip


def test_beam_searcher_decodes_with_the_summary_mixing_model():
    model = make_model().eval()
    output_layer = Linear(input_size=16, n_neurons=9)
    searcher = S2STransformerBeamSearcher(
        modules=[model, output_layer], bos_index=1, eos_index=2, min_decode_ratio=0.0, max_decode_ratio=1.0,
        beam_size=1, using_eos_threshold=False,
    )  # fmt: skip
    src = torch.randn(1, 6, 6)
    encoded = model.encode(src)
    hypotheses = searcher(encoded, torch.ones(1))[0][0]
    assert len(hypotheses) > 0
    tokens = torch.tensor([[1]])
    for _ in range(len(hypotheses)):  # the same path, step by step, through TransformerASR.decode
        prediction, _ = model.decode(tokens, encoded, torch.tensor([6]))
        tokens = torch.cat((tokens, output_layer(prediction[:, -1:]).argmax(-1)), dim=1)
    assert hypotheses == tokens[0, 1:].tolist()


def test_speechbrain_initialisation_reaches_the_cells_as_published():
    """SpeechBrain's xavier_normal_ covers every matrix of the model, the published SummaryMixing cells' too."""
    model = make_model()
    cell = model.encoder.layers[0].mha_layer
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(cell.local_layers[0].weight)
    expected = (2.0 / (fan_in + fan_out)) ** 0.5
    stds = [layer.weight.std().item() for layer in [*cell.local_layers, *cell.summary_layers]]
    assert all(0.5 * expected < std < 2.0 * expected for std in stds), (stds, expected)


def test_bad_configurations_fail_clearly():
    with pytest.raises(ValueError, match="unknown encoder_module 'zipformer'"):
        make_model(encoder_module="zipformer")
    with pytest.raises(ValueError, match="unknown positional_encoding 'sine'"):
        make_model(positional_encoding="sine")
    with pytest.raises(ValueError, match="normalize_before must be True for the Conformer"):
        make_model(normalize_before=False)
    with pytest.raises(ValueError, match=r"TransformerASR \(branchformer\): unknown attention_type 'RoPEMHA'"):
        make_model(encoder_module="branchformer", attention_type="RoPEMHA")
    for attention_type in ("SummaryMixing", "RelPosMHAXL"):
        model = make_model(attention_type=attention_type)
        with pytest.raises(ValueError, match=rf"src must be \[batch, time, {model.input_size}\] features"):
            model.encode(torch.randn(1, 10, model.input_size + 1))
        with pytest.raises(ValueError, match=r"src has no frames to encode \(shape \(1, 0, "):
            model.encode(torch.randn(1, 0, model.input_size))


def test_summary_decoder_is_causal_exact_under_padding_and_matches_the_masked_computation():
    """The decoder of Table 1's "SummaryMixing + summary decoder" row: each decoder layer's self-attention is a
    causal SummaryMixing (one-token chunks, linear time)."""
    from speechbrain.lobes.models.transformer.Transformer import get_lookahead_mask

    from summarymixing.encoders.mixing import CausalSummaryMixing

    torch.manual_seed(0)
    model = TransformerASR(
        20, 16, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=2, d_ffn=64,
        encoder_module="branchformer", decoder_attention_type="SummaryMixing",
    ).eval()  # fmt: skip
    assert all(type(layer.self_attn) is CausalSummaryMixing for layer in model.decoder.layers)
    src, lengths = torch.randn(2, 30, 16), torch.tensor([1.0, 0.6])
    tokens = torch.randint(1, 20, (2, 9))
    tokens[1, 6:] = 0  # padding
    with torch.no_grad():
        _, decoded = model(src, tokens, lengths)
        _, prefix = model(src, tokens[:, :4], lengths)  # the future never changes the past
        torch.testing.assert_close(decoded[:, :4], prefix, atol=1e-6, rtol=0)
        # the padded row alone, without its padding (float rounding of the encoder and of SpeechBrain's
        # cross-attention over fewer keys differ at the 1e-4 level)
        _, alone = model(src[1:, :18], tokens[1:, :6])
        torch.testing.assert_close(decoded[1, :6], alone[0], atol=5e-4, rtol=0)
        cell, x = model.decoder.layers[0].self_attn, torch.randn(2, 9, 32)
        padding = tokens == 0
        masked = SummaryMixing.forward(cell, x, attn_mask=get_lookahead_mask(x), key_padding_mask=padding)[0]
        torch.testing.assert_close(cell(x, key_padding_mask=padding)[0][~padding], masked[~padding], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="look-ahead mask"):
        cell(x, attn_mask=torch.zeros(9, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="decoder_attention_type 'SummaryMix'"):
        TransformerASR(20, 16, d_model=32, nhead=2, num_decoder_layers=1, decoder_attention_type="SummaryMix")
