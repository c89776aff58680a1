"""The front end (fbank -> normalisation -> CNN): padding invariance, exact streaming from audio, clear errors."""

import pytest
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.processing.features import InputNormalization

from summarymixing.encoders.frontend import FrontEnd


def make_front_end(n_fft=512, residual=False, layers_per_block=1, padding_mode=None):
    torch.manual_seed(0)
    cnn = ConvolutionFrontEnd(
        input_shape=[1, 10, 20], num_blocks=2, num_layers_per_block=layers_per_block, out_channels=[4, 6],
        kernel_sizes=[3, 5], strides=[2, 2], residuals=[residual, residual],
    )  # fmt: skip
    if padding_mode is not None:
        for module in cnn.modules():
            if hasattr(module, "padding_mode"):
                module.padding_mode = padding_mode
    front_end = FrontEnd(Fbank(n_mels=20, n_fft=n_fft), InputNormalization(update_until_epoch=1), cnn)
    front_end(torch.randn(3, 16000), torch.tensor([1.0, 0.8, 0.5]))  # the normaliser learns its statistics
    return front_end.eval()


@pytest.mark.parametrize(
    "options", [{}, {"residual": True}, {"layers_per_block": 2}, {"padding_mode": "constant"}, {"n_fft": 400}]
)
def test_padding_never_changes_an_utterances_frames(options):
    front_end = make_front_end(**options)
    lengths = [16000, 11111, 4321, 3000, 1601]
    audio = [torch.randn(length) for length in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(audio, batch_first=True)
    with torch.no_grad():
        frames, relative = front_end(batch, torch.tensor(lengths) / batch.shape[1])
        counts = front_end.frame_counts(torch.tensor(lengths))
        assert torch.equal(torch.round(relative * frames.shape[1]).long(), counts)
        for wave, count, padded in zip(audio, counts, frames):
            alone, _ = front_end(wave[None], torch.ones(1))
            assert alone.shape[1] == count
            torch.testing.assert_close(padded[:count], alone[0], atol=2e-5, rtol=0)


@pytest.mark.parametrize("chunk_samples", [640, 1000, 2560, 10240])
@pytest.mark.parametrize("length", [5000, 12800, 16001])
def test_streaming_gives_the_offline_frames(chunk_samples, length):
    front_end = make_front_end(residual=True)
    # digital silence, then a quiet part, then a loud one: SpeechBrain's fbank floor (the utterance's loudest value
    # minus 80 dB) would make the silent frames depend on the loud future
    wave = torch.cat([torch.zeros(1, 3000), 1e-3 * torch.randn(1, length // 2), 10.0 * torch.randn(1, length)], dim=1)
    with torch.no_grad():
        offline, _ = front_end(wave)
        context = front_end.make_streaming_context()
        chunks = list(wave.split(chunk_samples, dim=1)) + [wave[:, :0]]  # an empty final chunk is fine too
        streamed = [front_end.forward_streaming(c, context, final=i == len(chunks) - 1) for i, c in enumerate(chunks)]
    streamed = torch.cat(streamed, dim=1)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=2e-5, rtol=0)


def test_a_frame_is_emitted_as_soon_as_its_audio_has_arrived():
    front_end = make_front_end()
    context = front_end.make_streaming_context()
    needed = 5 * front_end.frame_samples + front_end.reach + 1  # samples that determine frames 0..5
    with torch.no_grad():
        first = front_end.forward_streaming(torch.randn(1, needed - 1), context)
        second = front_end.forward_streaming(torch.randn(1, 1), context)
    assert (first.shape[1], second.shape[1]) == (5, 1)
    assert context.samples.shape[1] <= 2 * front_end.reach + 2 * front_end.frame_samples  # O(receptive field)


def test_streaming_errors():
    front_end = make_front_end()
    with pytest.raises(RuntimeError, match="eval mode"):
        front_end.train().forward_streaming(torch.randn(1, 100), front_end.make_streaming_context())
    front_end.eval()
    context = front_end.make_streaming_context()
    front_end.forward_streaming(torch.randn(1, 2000), context, final=True)
    with pytest.raises(ValueError, match="this stream has ended"):
        front_end.forward_streaming(torch.randn(1, 100), context)
    with pytest.raises(ValueError, match="without a single sample"):
        front_end.forward_streaming(torch.randn(1, 0), front_end.make_streaming_context(), final=True)
    with pytest.raises(TypeError, match="make_streaming_context"):
        front_end.forward_streaming(torch.randn(1, 100), object())
    floored = FrontEnd(Fbank(n_mels=20), front_end.normalize, front_end.cnn, utterance_floor=True).eval()
    with pytest.raises(ValueError, match="streaming needs utterance_floor=False"):
        floored.forward_streaming(torch.randn(1, 100), floored.make_streaming_context())
    front_end.normalize.norm_type = "sentence"
    with pytest.raises(ValueError, match="global feature normalisation"):
        front_end.forward_streaming(torch.randn(1, 100), front_end.make_streaming_context())


def test_input_errors():
    front_end = make_front_end()
    with pytest.raises(ValueError, match="relative lengths in \\(0, 1\\].*absolute lengths"):
        front_end(torch.randn(2, 1000), torch.tensor([1000.0, 500.0]))
    with pytest.raises(ValueError, match=r"wavs must be \[batch, samples\]"):
        front_end(torch.randn(1000))
    with pytest.raises(ValueError, match="shorter than the .* samples"):
        front_end(torch.randn(1, 10))
