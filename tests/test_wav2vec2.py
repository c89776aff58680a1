"""Unit tests of the wav2vec 2.0 pieces: frame counting, masks, loss, context encoder, pre-trained loader."""

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.lobes.models.wav2vec import W2VTargetQuantiser
from speechbrain.nnet.losses import ContrastiveLoss

from summarymixing.wav2vec2 import (
    ContextEncoder,
    MaskingCollate,
    MatmulGumbelVectorQuantiser,
    MelCNNFrontEnd,
    PretrainedWav2Vec2,
    Wav2Vec2Loss,
    compute_span_mask,
    load_pretrained,
)
from summarymixing.wav2vec2.loss import sample_negative_indices


@pytest.fixture(scope="module")
def frontend():
    torch.manual_seed(0)
    return MelCNNFrontEnd(channels=(8, 8)).eval()


def test_frame_counter_matches_the_front_end_for_many_lengths(frontend):
    hop = 160
    lengths = [960, 1119, 1120, 1279, 1280, 1281, 1439, 1440] + [k * hop + d for k in (10, 50, 99) for d in (-1, 0, 1)]
    lengths += torch.randint(960, 48000, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    with torch.no_grad():
        for length in lengths:
            latents, frame_lens = frontend(torch.randn(1, length))
            assert latents.shape[1] == frame_lens.item() == frontend.frame_counter(torch.tensor([length])).item()
    counts = frontend.frame_counter(torch.tensor(lengths))
    # unpadded convolutions: kernel 3 stride 2, then kernel 3 stride 1
    assert counts.tolist() == [((n // hop + 1) - 3) // 2 + 1 - 2 for n in lengths]
    with pytest.raises(ValueError, match="an utterance of 959 samples is too short for the convolutions"):
        frontend(torch.randn(1, 959))


def test_padded_batch_gives_each_utterance_its_own_frames(frontend):
    lengths = [16000, 12345, 8000, 1601]
    wavs = [torch.randn(n) for n in lengths]
    batch = torch.zeros(len(wavs), max(lengths))
    for row, wav in zip(batch, wavs):
        row[: len(wav)] = wav
    with torch.no_grad():
        latents, frame_lens = frontend(batch, torch.tensor(lengths) / max(lengths))
        for i, wav in enumerate(wavs):
            alone, alone_lens = frontend(wav[None])
            assert frame_lens[i] == alone_lens[0]
            torch.testing.assert_close(latents[i, : frame_lens[i]], alone[0], atol=1e-5, rtol=1e-5)
            assert not latents[i, frame_lens[i] :].any()


def test_span_masks_stay_inside_each_utterance_with_equal_counts():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        frame_lens = torch.randint(10, 400, (5,), generator=generator)
        mask = compute_span_mask(frame_lens, 0.65, 10, generator=generator)
        assert mask.shape == (5, int(frame_lens.max()))
        counts = mask.sum(dim=1)
        assert (counts == counts[0]).all() and counts[0] % 10 == 0 and counts[0] > 0
        for row, length in zip(mask, frame_lens):
            assert not row[length:].any()
            assert row.sum() <= length
    mask = compute_span_mask([1000] * 8, 0.65, 10, generator=generator)
    assert 0.6 < mask.float().mean() < 0.7


def test_span_masks_are_spans():
    mask = compute_span_mask([2000], 0.05, 10, generator=torch.Generator().manual_seed(3))[0].int()
    edges = (mask[1:] - mask[:-1]).abs().sum() + mask[0] + mask[-1]
    assert edges <= 2 * mask.sum() // 10  # runs of at least 10 frames


def test_span_mask_errors():
    with pytest.raises(ValueError, match="fewer than mask_length"):
        compute_span_mask([50, 9], 0.65, 10)
    with pytest.raises(ValueError, match="mask_prob"):
        compute_span_mask([50], 0.0, 10)
    collate = MaskingCollate(MelCNNFrontEnd(channels=(4, 4)).frame_counter, 0.65, 10)
    with pytest.raises(ValueError, match=r"\['long', 'short'\]"):
        collate([{"id": "long", "sig": torch.randn(16000)}, {"id": "short", "sig": torch.randn(1000)}])


def test_collated_masks_have_the_front_end_frames(frontend):
    collate = MaskingCollate(frontend.frame_counter, 0.65, 10)
    lengths = [16000, 30001, 9999]
    batch = collate([{"id": str(n), "sig": torch.randn(n)} for n in lengths])
    with torch.no_grad():
        latents, frame_lens = frontend(batch.sig.data, batch.sig.lengths)
    assert batch.mask.data.shape == latents.shape[:2]
    for row, length in zip(batch.mask.data, frame_lens):
        assert row[:length].any() and not row[length:].any()


def test_loss_equals_speechbrains_contrastive_loss():
    torch.manual_seed(0)
    predictions, targets = torch.randn(3, 40, 16), torch.randn(3, 40, 16)
    targets[:, 5] = targets[:, 6]  # equal targets: such negatives are excluded
    loss_fn = Wav2Vec2Loss(num_negatives=20, temperature=0.1, diversity_weight=0.1)
    torch.manual_seed(1)
    stats = loss_fn(predictions, targets, torch.tensor(0.3))
    torch.manual_seed(1)
    indices = sample_negative_indices(3, 40, 20)
    negatives = torch.stack([targets[b][indices[b]] for b in range(3)]).permute(2, 0, 1, 3)
    summed, accuracy = ContrastiveLoss(0.1)(predictions, targets, negatives)
    torch.testing.assert_close(stats["contrastive_loss"], summed / (3 * 40))
    torch.testing.assert_close(stats["accuracy"], accuracy)
    torch.testing.assert_close(stats["loss"], stats["contrastive_loss"] + 0.03)


def test_loss_shape_errors():
    with pytest.raises(ValueError, match="masked_frames"):
        Wav2Vec2Loss()(torch.randn(2, 5, 4), torch.randn(2, 6, 4), torch.tensor(0.0))
    with pytest.raises(ValueError, match="at least 2"):
        Wav2Vec2Loss()(torch.randn(2, 1, 4), torch.randn(2, 1, 4), torch.tensor(0.0))


@pytest.mark.parametrize("training", [True, False])
def test_matmul_quantiser_equals_speechbrains(training):
    torch.manual_seed(0)
    speechbrain_quantiser = W2VTargetQuantiser(in_dim=24, out_dim=16, num_vars=40).train(training)
    matmul_quantiser = W2VTargetQuantiser(in_dim=24, out_dim=16, num_vars=40, quantiser=MatmulGumbelVectorQuantiser)
    matmul_quantiser.load_state_dict(speechbrain_quantiser.state_dict())  # same parameter names
    matmul_quantiser.train(training)
    latents = torch.randn(3, 50, 24)
    results = []
    for quantiser in (speechbrain_quantiser, matmul_quantiser):
        inputs = latents.clone().requires_grad_()
        torch.manual_seed(1)  # the same Gumbel noise
        targets, meta = quantiser(inputs)
        (targets.square().sum() + meta["diversity_loss"]).backward()
        grads = [inputs.grad] + [parameter.grad for parameter in quantiser.parameters() if parameter.requires_grad]
        results.append((targets, meta, grads))
    (expected, expected_meta, expected_grads), (targets, meta, grads) = results
    assert torch.equal(targets, expected)  # the same codes: one non-zero term per sum
    assert meta == expected_meta
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad)  # sums taken in another order


def tiny_model(freeze):
    torch.manual_seed(0)
    conformer = ConformerEncoder(
        3, 16, 32, 2, attention_type="regularMHA", output_hidden_states=True, layerdrop_prob=0.5
    )
    return PretrainedWav2Vec2(MelCNNFrontEnd(channels=(8, 8)), ContextEncoder(8, 16, conformer), freeze=freeze)


def test_hidden_states_order_and_count():
    model = tiny_model(freeze=True)
    wavs, wav_lens = torch.randn(2, 8000), torch.tensor([1.0, 0.5])
    hidden = model(wavs, wav_lens)
    assert hidden.shape == (model.num_hidden, 2, 23, model.hidden_size) == (4, 2, 23, 16)
    latents, frame_lens = model.frontend(wavs, wav_lens)
    output, _ = model.context_encoder(latents, frame_lens)
    projected = model.context_encoder.input_projector(latents)
    torch.testing.assert_close(hidden[0], projected + model.context_encoder.positional_encoding(projected))
    padding = torch.arange(23)[None, :] >= frame_lens[:, None]
    torch.testing.assert_close(
        hidden[-1], model.context_encoder.latent_encoder.layers[-1](hidden[-2], src_key_padding_mask=padding)[0]
    )
    torch.testing.assert_close(output, model.context_encoder.latent_encoder.norm(hidden[-1]))


def test_frozen_model_stays_in_eval_without_grad():
    model = tiny_model(freeze=True).train()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert not model(torch.randn(1, 4000)).requires_grad
    trainable = tiny_model(freeze=False).train()
    assert trainable.training
    assert all(trainable(torch.randn(1, 4000)).shape[0] == 4 for _ in range(5))  # layerdrop off
    trainable(torch.randn(1, 4000)).sum().backward()
    assert trainable.context_encoder.input_projector.weight.grad is not None


def test_mask_shape_mismatch_is_an_error():
    model = tiny_model(freeze=True)
    with pytest.raises(ValueError, match="mask shape"):
        model.context_encoder(torch.randn(1, 10, 8), torch.tensor([10]), torch.zeros(1, 11, dtype=torch.bool))


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a wav2vec2 pre-training run folder"):
        load_pretrained(tmp_path)
    (tmp_path / "save").mkdir()
    (tmp_path / "hyperparams.yaml").write_text("lr: 0.1\n")
    with pytest.raises(KeyError, match="frontend"):
        load_pretrained(tmp_path)
