"""The settings that make a paper YAML the configuration behind the numbers it cites (the parameter counts are
tests/test_params.py's): built small by overriding sizes only, each YAML is checked for the settings that differ
between the SpeechBrain 0.5 runs of 2307.07421's Table 1, the 1.0 recipes and SpeechBrain's own baselines."""

import os

import pytest
import torch
from speechbrain.nnet.schedulers import NoamScheduler, WarmAndExpDecayLRSchedule

from summarymixing.asr.legacy_specaugment import LegacySpecAugment
from summarymixing.experiment import load

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_ASR = {"d_model": 16, "nhead": 1, "num_encoder_layers": 1, "num_decoder_layers": 1, "csgu_linear_units": 16,
             "local_proj_hid_dim": [16], "summary_hid_dim": [16], "output_neurons": 16, "lm_d_model": 16,
             "lm_nhead": 1, "lm_num_layers": 1, "lm_d_ffn": 16}  # fmt: skip
SMALL_TRANSDUCER = {"d_model": 16, "nhead": 1, "num_encoder_layers": 1, "d_ffn": 16, "dec_neurons": 16,
                    "joint_dim": 16, "output_neurons": 16}  # fmt: skip


def asr(name, **sizes):
    hparams = load(os.path.join(REPO, "hparams", "asr", name), {
        "output_folder": "/nonexistent", "data_folder": "/nonexistent", "asr": {**SMALL_ASR, **sizes}})  # fmt: skip
    return hparams, hparams["asr"]["Transformer"]


def cell_dropout(transformer):
    return transformer.encoder.layers[0].mha_layer.dropout.p


@pytest.mark.parametrize(
    "name, dropout, speeds, legacy_masks, valid_normalised",
    [("librispeech_conformer_summarymixing.yaml", 0.1, [95, 100, 105], None, True),
     ("librispeech_branchformer_summarymixing.yaml", 0.0, [95, 100, 105], 3, False),
     ("librispeech_branchformer_summarymixing_lite.yaml", None, [95, 100, 105], 3, False),
     ("commonvoice_branchformer_summarymixing_large.yaml", 0.1, None, None, True),
     ("commonvoice_branchformer_summarymixing_small.yaml", 0.0, None, 2, True),
     ("aishell_branchformer_summarymixing_large.yaml", 0.1, None, None, True),
     ("aishell_branchformer_summarymixing_small.yaml", 0.0, None, 2, True),
     ("tedlium2_branchformer_summarymixing.yaml", 0.1, [95, 100, 105], None, True)],
)  # fmt: skip
def test_each_asr_yaml_has_its_sources_cell_augmentation_and_search(
    name, dropout, speeds, legacy_masks, valid_normalised
):
    hparams, transformer = asr(name)
    if dropout is not None:  # -lite has no concatenation to drop
        assert cell_dropout(transformer) == dropout
    assert (hparams["speed_perturb"] and hparams["speed_perturb"].speeds) == speeds
    augment = hparams["fea_augment"]
    assert isinstance(augment, LegacySpecAugment) == (legacy_masks is not None)
    if legacy_masks:
        assert (augment.n_time_mask, augment.time_mask_width, augment.n_freq_mask, augment.freq_mask_width) == (
            legacy_masks, 40, 2, 30)  # fmt: skip
        assert (augment.time_warp_window, augment.replace_with_zero) == (5, False)
    assert hparams["asr"]["valid_search"].length_normalization == valid_normalised
    assert hparams["asr"]["test_search"].length_normalization


@pytest.mark.parametrize("size", ["commonvoice", "aishell"])
def test_the_small_decoders_have_the_default_feed_forward_the_published_yamls_give_them(size):
    _, transformer = asr(f"{size}_branchformer_summarymixing_small.yaml", d_ffn=2048)
    assert transformer.decoder.layers[0].pos_ffn.ffn[0].out_features == 2048
    hparams = load(os.path.join(REPO, "hparams", "asr", f"{size}_branchformer_summarymixing_small.yaml"),
                   {"output_folder": "/nonexistent", "data_folder": "/nonexistent"})  # fmt: skip
    assert hparams["asr"]["d_ffn"] == 2048


def test_the_conformer_baseline_is_speechbrains_and_the_mixer_only_twin_keeps_the_summarymixing_lm_weight():
    for name, lm_weight in (("librispeech_conformer_mhsa.yaml", 0.60), ("librispeech_conformer_mhsa_mixer_only.yaml",
                                                                         0.66)):  # fmt: skip
        hparams, transformer = asr(name, nhead=8)
        assert hparams["asr"]["lm_weight"] == lm_weight and transformer.attention_type == "RelPosMHAXL"


def transducer(name, **sizes):
    return load(os.path.join(REPO, "hparams", "transducer", name), {
        "output_folder": "/nonexistent", "data_folder": "/nonexistent",
        "transducer": {**SMALL_TRANSDUCER, **sizes}})  # fmt: skip


def test_the_transducer_baselines_are_speechbrains_recipes_and_the_summarymixing_files_the_published_ones():
    published = transducer("librispeech_summarymixing.yaml")
    assert published["test_beam_size"] == 10 and published["lm_weight"] == 0.5
    assert published["dynamic_batch_sampler_train"]["max_batch_ex"] is None
    assert published["avoid_if_longer_than"] >= 1e5 and isinstance(published["lr_annealing"], WarmAndExpDecayLRSchedule)
    baseline = transducer("librispeech_mhsa.yaml", nhead=8)
    model = baseline["transducer"]
    assert (model["attention_type"], model["nhead"], model["dropout"]) == ("RelPosMHAXL", 8, 0.1)
    assert isinstance(baseline["lr_annealing"], NoamScheduler) and baseline["optimizer_step_limit"] is None
    voxpopuli = transducer("voxpopuli_summarymixing.yaml")
    assert voxpopuli["bos_index"] == 1 and voxpopuli["tokenizer"].keywords["bos_id"] == 1
    assert voxpopuli["tokenizer"].keywords["eos_id"] == 2 and voxpopuli["fea_augment"] is None
    speechbrain_voxpopuli = transducer("voxpopuli_mhsa.yaml", nhead=8, output_neurons=512, joint_dim=512)
    assert speechbrain_voxpopuli["augment_warmup_steps"] == 5000 and speechbrain_voxpopuli["warmup_steps"] == 10000
    assert speechbrain_voxpopuli["fea_augment"] is not None


def test_legacy_specaugment_draws_as_speechbrain_0_5():
    torch.manual_seed(0)
    augment = LegacySpecAugment(time_warp_window=0, freq_mask_width=30, n_freq_mask=2, time_mask_width=40,
                                n_time_mask=3, replace_with_zero=True)  # fmt: skip
    features = torch.ones(64, 200, 80)
    masked, _ = augment(features, torch.ones(64))
    zero = masked == 0
    time_masked = zero.all(dim=2)  # whole frames
    frequency_masked = zero.all(dim=1)  # whole bins
    assert int(time_masked.sum(dim=1).max()) <= 3 * 39 and int(frequency_masked.sum(dim=1).max()) <= 2 * 29
    assert time_masked.any() and frequency_masked.any()
    mean_filled = LegacySpecAugment(time_warp_window=0, n_freq_mask=0)(torch.arange(12.0).view(1, 12, 1), None)[0]
    assert set(mean_filled.flatten().tolist()) <= set(range(12)) | {5.5}
    warped, _ = LegacySpecAugment(n_freq_mask=0, n_time_mask=0)(torch.randn(2, 50, 8), None)
    assert warped.shape == (2, 50, 8)
    short = torch.randn(1, 10, 8)
    assert torch.equal(LegacySpecAugment(n_freq_mask=0, n_time_mask=0)(short, None)[0], short)  # too short to warp
