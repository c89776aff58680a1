"""Streaming TransformerASR: chunk by chunk equals dynamic-chunk encoding of the whole utterance, with a state
that does not grow, inside SpeechBrain's EncoderWrapper and StreamingASR; no [T, T] mask for SummaryMixing."""

import pytest
import torch
from speechbrain.inference.ASR import StreamingASR
from speechbrain.lobes.features import StreamingFeatureWrapper
from speechbrain.lobes.models.transformer import TransformerASR as speechbrain_asr
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
from speechbrain.utils.filter_analysis import FilterProperties

from summarymixing import SummaryMixing, TransformerASR

FEATURES = 6


def make_model(attention_type="SummaryMixing", num_layers=3, **kwargs):
    options = dict(
        tgt_vocab=8, input_size=FEATURES, d_model=16, nhead=2, num_encoder_layers=num_layers,
        num_decoder_layers=0, d_ffn=32, encoder_module="conformer", normalize_before=True, kernel_size=5,
    )  # fmt: skip
    torch.manual_seed(0)
    return TransformerASR(attention_type=attention_type, **{**options, **kwargs}).eval()


def stream(model, features, config):
    context = model.make_streaming_context(config)
    chunks = features.split(config.chunk_size, dim=1)
    return torch.cat([model.encode_streaming(chunk, context) for chunk in chunks], dim=1), context


@pytest.mark.parametrize("chunk_size", [4, 9, 16, 32])
def test_summary_mixing_stream_equals_chunked_encoding(chunk_size):
    model = make_model()
    features = torch.randn(2, 3 * chunk_size + 3, FEATURES)  # four chunks, the last one shorter
    for left_context_size in (None, 0, 2):
        config = DynChunkTrainConfig(chunk_size, left_context_size)
        streamed, _ = stream(model, features, config)
        assert (streamed - model.encode(features, dynchunktrain_config=config)).abs().max() <= 1e-4


@pytest.mark.parametrize(
    "attention_type,positional_encoding,left_context_size",
    [("SummaryMixing", None, 2), ("RelPosMHAXL", None, None), ("regularMHA", "fixed_abs_sine", 2),
     ("RoPEMHA", None, None)],
)  # fmt: skip
def test_every_attention_streams_with_any_left_context(attention_type, positional_encoding, left_context_size):
    model = make_model(attention_type, num_layers=2, positional_encoding=positional_encoding)
    features = torch.randn(1, 30, FEATURES)
    config = DynChunkTrainConfig(8, left_context_size)
    streamed, _ = stream(model, features, config)
    assert (streamed - model.encode(features, dynchunktrain_config=config)).abs().max() <= 1e-4


@pytest.mark.parametrize("left_context_size", [None, 1])
def test_summary_mixing_transformer_encoder_streams(left_context_size):
    model = make_model(encoder_module="transformer", normalize_before=False)
    features = torch.randn(2, 27, FEATURES)
    config = DynChunkTrainConfig(5, left_context_size)
    streamed, _ = stream(model, features, config)
    assert (streamed - model.encode(features, dynchunktrain_config=config)).abs().max() <= 1e-4


def test_absolute_positions_continue_across_chunks_and_past_max_length():
    model = make_model(max_length=20)
    features = torch.randn(1, 50, FEATURES)
    config = DynChunkTrainConfig(8, None)
    streamed, context = stream(model, features, config)
    assert context.frame_offset == 50
    assert (streamed - model.encode(features, dynchunktrain_config=config)).abs().max() <= 1e-4


def test_streaming_state_holds_no_frames_for_the_mixer():
    model = make_model(num_layers=2)
    config = DynChunkTrainConfig(4, 2)
    context = model.make_streaming_context(config)
    for chunk in torch.randn(2, 20, FEATURES).split(4, dim=1):
        model.encode_streaming(chunk, context)
    for layer, layer_context in zip(model.encoder.layers, context.encoder_context.layers):
        # the depthwise convolution's input at the last `padding` frames: [batch, channels, padding]
        assert layer_context.dcconv_left_context.shape[2] == layer.convolution_module.padding
        state = layer_context.mixer_state
        assert len(state.chunk_sums) == 2 and all(s.dim() == 3 for s in state.chunk_sums)  # [nhead, B, F]
    unlimited = model.make_streaming_context(DynChunkTrainConfig(4, None))
    for chunk in torch.randn(2, 20, FEATURES).split(4, dim=1):
        model.encode_streaming(chunk, unlimited)
    assert unlimited.encoder_context.layers[0].mixer_state.running_sum.shape == (2, 2, 8)


def test_summary_mixing_never_builds_a_time_by_time_mask(monkeypatch):
    def refuse_mask(src, causal=False, dynchunktrain_config=None):
        assert not causal and dynchunktrain_config is None, "a [T, T] mask was built"

    def refuse_masked_sums(*args):
        raise AssertionError("the cell's [T, T] path ran")

    monkeypatch.setattr(speechbrain_asr, "make_transformer_src_mask", refuse_mask)
    monkeypatch.setattr(SummaryMixing, "_masked_sums", refuse_masked_sums)
    features, lengths = torch.randn(2, 20, FEATURES), torch.tensor([1.0, 0.6])
    make_model().encode(features, lengths, dynchunktrain_config=DynChunkTrainConfig(4, 1))
    make_model(causal=True).encode(features, lengths)
    make_model(encoder_module="transformer", causal=True, normalize_before=False).encode(features, lengths)
    transformer = make_model(encoder_module="transformer", normalize_before=False)
    transformer.encode(features, lengths, dynchunktrain_config=DynChunkTrainConfig(4, None))


def test_encoder_wrapper_streams():
    model = make_model()
    wrapper = speechbrain_asr.EncoderWrapper(model)
    features = torch.randn(1, 24, FEATURES)
    config = DynChunkTrainConfig(8, 1)
    context = wrapper.make_streaming_context(config)
    streamed = torch.cat([wrapper.forward_streaming(chunk, context) for chunk in features.split(8, dim=1)], 1)
    assert (streamed - wrapper(features, dynchunktrain_config=config)).abs().max() <= 1e-4


class SampleWindows(torch.nn.Module):
    """A stand-in feature extractor: frame t is samples t..t+2 and their squares. With the filter properties
    below, SpeechBrain's streaming wrapper turns each chunk of ``chunk_size`` samples into ``chunk_size`` frames."""

    def forward(self, wav, lengths=None):
        windows = wav.unfold(1, 3, 1)
        return torch.cat((windows, windows**2), dim=-1)


def test_speechbrain_streaming_asr_encodes_chunks_like_the_offline_model():
    model = make_model()
    extractor = StreamingFeatureWrapper(SampleWindows(), FilterProperties(window_size=3, stride=2))
    asr = StreamingASR(
        modules={"enc": speechbrain_asr.EncoderWrapper(model), "proj_enc": torch.nn.Identity()},
        hparams={
            "fea_streaming_extractor": extractor,
            "make_decoder_streaming_context": lambda: None,
            "decoding_function": None,
            "make_tokenizer_streaming_context": lambda: None,
            "tokenizer_decode_streaming": None,
        },
        run_opts={"device": "cpu"},
    )
    config = DynChunkTrainConfig(8, None)
    context = asr.make_streaming_context(config)
    samples = asr.get_chunk_size_frames(config)
    wav = torch.randn(1, 5 * samples)
    encoded = torch.cat([asr.encode_chunk(context, chunk) for chunk in wav.split(samples, dim=1)], dim=1)
    features_context = extractor.make_streaming_context()
    features = torch.cat([extractor(chunk, context=features_context) for chunk in wav.split(samples, dim=1)], 1)
    assert encoded.shape[1] == 5 * config.chunk_size
    assert (encoded - model.encode(features, dynchunktrain_config=config)).abs().max() <= 1e-4


def test_offline_encoders_refuse_to_stream_clearly():
    with pytest.raises(NotImplementedError, match="branchformer encoder is offline"):
        make_model(encoder_module="branchformer").make_streaming_context(DynChunkTrainConfig(4, None))
    with pytest.raises(NotImplementedError, match="Transformer encoder with regularMHA does not stream"):
        make_model("regularMHA", encoder_module="transformer").make_streaming_context(DynChunkTrainConfig(4, None))
    with pytest.raises(NotImplementedError, match="HyperMixing"):
        make_model("hypermixing").make_streaming_context(DynChunkTrainConfig(4, None))
    with pytest.raises(TypeError, match="make_streaming_context"):
        make_model().encode_streaming(torch.randn(1, 4, FEATURES), context=None)


def test_chunks_must_have_the_size_the_context_was_made_for():
    model = make_model()
    context = model.make_streaming_context(DynChunkTrainConfig(4, None))
    model.encode_streaming(torch.randn(1, 4, FEATURES), context)
    with pytest.raises(ValueError, match="a chunk of 5 frames, but the context was made for chunks of 4 frames"):
        model.encode_streaming(torch.randn(1, 5, FEATURES), context)
    model.encode_streaming(torch.randn(1, 3, FEATURES), context)  # a stream's last chunk may be shorter
    with pytest.raises(ValueError, match="a chunk came after a shorter one"):
        model.encode_streaming(torch.randn(1, 4, FEATURES), context)
    with pytest.raises(ValueError, match="make_streaming_context needs a DynChunkTrainConfig"):
        model.make_streaming_context(None)
