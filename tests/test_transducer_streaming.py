"""Streaming from audio with ``StreamingTransducerASR`` equals the masked decoding of the whole utterance.

A model built from the run folder's inference YAML (hparams/transducer/inference.yaml + model.yaml), with random
weights scaled so that the joint network emits a token on most frames: every frame's decision is compared.
"""

import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.transducer.decoding import decode_masked
from summarymixing.transducer.inference import StreamingTransducerASR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFERENCE_YAML = os.path.join(REPO, "hparams", "transducer", "inference.yaml")
TINY_MODEL = {
    "output_neurons": 12, "n_mels": 20, "cnn_channels": [4, 4], "cnn_out_features": 20, "d_model": 16,
    "nhead": 2, "num_encoder_layers": 2, "d_ffn": 32, "kernel_size": 7, "dec_neurons": 16, "joint_dim": 16,
}  # fmt: skip


def spaced_ids(tokenizer, tokens, context):
    """A stand-in streaming detokeniser: token ids as text, so that hypotheses compare without a tokenizer."""
    return "".join(f" {token}" for token in tokens)


@pytest.fixture(scope="module")
def streaming_asr(one_thread):
    with open(INFERENCE_YAML, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, {"transducer": TINY_MODEL})
    hparams["tokenizer_decode_streaming"] = spaced_ids
    torch.manual_seed(0)
    model = hparams["transducer"]["model"]
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    hparams["transducer"]["transducer_lin"].w.weight.data[0] = 0.0  # blank scores 0: others often win
    hparams["transducer"]["front_end"](torch.randn(4, 16000))  # the normaliser learns its statistics
    return StreamingTransducerASR(modules=hparams["modules"], hparams=hparams)


@pytest.mark.parametrize(
    "config", [DynChunkTrainConfig(8, 2), DynChunkTrainConfig(5, None), DynChunkTrainConfig(16, 0)]
)
def test_streamed_from_audio_equals_masked(streaming_asr, config):
    transducer = streaming_asr.hparams.transducer
    torch.manual_seed(1)
    lengths = [24000, 17123, 9000, 5000]
    audio = [0.1 * torch.randn(length) for length in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(audio, batch_first=True)
    with torch.no_grad():
        frames, frame_lens = transducer["front_end"](batch, torch.tensor(lengths) / batch.shape[1])
        masked = decode_masked(
            transducer["enc"], transducer["proj_enc"], transducer["greedy_searcher"], frames, frame_lens, config
        )
    streamed = ["".join(streaming_asr.transcribe_waveform_streaming(wave, config)) for wave in audio]
    assert [" ".join(map(str, tokens)) for tokens in masked] == [text.strip() for text in streamed]
    assert min(len(tokens) for tokens in masked) > 5  # dense emissions: most frames decide a token


def test_chunks_of_any_size_give_the_same_text(streaming_asr):
    """Audio arriving in pieces of any size (a microphone's buffers) gives what whole chunks give."""
    config = DynChunkTrainConfig(8, None)
    wave = 0.1 * torch.randn(20000)
    reference = "".join(streaming_asr.transcribe_waveform_streaming(wave, config))
    context = streaming_asr.make_streaming_context(config)
    pieces = wave.split(777)
    text = "".join(
        streaming_asr.transcribe_chunk(context, piece[None], final=index == len(pieces) - 1)[0]
        for index, piece in enumerate(pieces)
    )
    assert text == reference


def test_chunk_size_is_whole_encoder_frames(streaming_asr):
    # SpeechBrain 1.1.2's StreamingASR asks for (frame_samples - 1) * chunk_size samples, and drifts
    assert streaming_asr.get_chunk_size_frames(DynChunkTrainConfig(16, None)) == 16 * 640


def test_bad_audio_is_refused(streaming_asr):
    config = DynChunkTrainConfig(8, None)
    with pytest.raises(ValueError, match="1 samples of audio, fewer than"):
        list(streaming_asr.transcribe_waveform_streaming(torch.zeros(1), config))
    with pytest.raises(ValueError, match="NaN or infinite"):
        list(streaming_asr.transcribe_waveform_streaming(torch.full((8000,), float("nan")), config))
    context = streaming_asr.make_streaming_context(config)
    with pytest.raises(ValueError, match="must end together"):
        streaming_asr.transcribe_chunk(context, torch.zeros(2, 5120), torch.tensor([1.0, 0.5]))
