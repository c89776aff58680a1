"""Unit tests of the MP3S probing package (summarymixing.probes) with a tiny stand-in encoder."""

import json
import os

import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.lobes.models.ContextNet import ContextNet
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
from speechbrain.lobes.models.Xvector import Xvector
from speechbrain.nnet.losses import LogSoftmaxWrapper
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.train_logger import FileTrainLogger

from summarymixing.probes import (
    BiLSTM,
    BiLSTMPooling,
    ClassificationProbeBrain,
    FrozenEncoder,
    LengthFree,
    MeanPooling,
    WeightedLayerSum,
    cosine_scores,
    format_layer_weights,
    plot_layer_weights,
    read_results,
    read_trials,
    results_table,
    verification_metrics,
    write_results,
)
from summarymixing.probes.data import add_labels, load_manifest


class StandInEncoder(torch.nn.Module):
    """Same contract as summarymixing.wav2vec2.load_pretrained: [num_hidden, B, T, D] hidden states."""

    num_hidden = 3
    hidden_size = 8

    def __init__(self):
        super().__init__()
        self.frame = torch.nn.Linear(160, self.hidden_size)
        self.layers = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5)) for _ in range(2)
        )

    def forward(self, wavs, wav_lens=None):
        hidden = [self.frame(wavs[:, : wavs.shape[1] // 160 * 160].unflatten(1, (-1, 160)))]
        for layer in self.layers:
            hidden.append(torch.tanh(layer(hidden[-1])))
        return torch.stack(hidden)


def test_weighted_sum_starts_uniform_and_learns():
    weighted_sum = WeightedLayerSum(num_layers=3)
    hidden = torch.randn(3, 2, 4, 5)
    torch.testing.assert_close(weighted_sum(hidden), hidden.mean(dim=0))
    optimiser = torch.optim.Adam(weighted_sum.parameters(), lr=0.1)
    for _ in range(20):  # pull the output towards layer 2
        loss = (weighted_sum(hidden) - hidden[2]).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    weights = weighted_sum.layer_weights()
    assert sum(weights) == pytest.approx(1.0)
    assert weights[2] > 0.5 > weights[0]


def test_weighted_sum_layer_norm_and_shape_errors():
    weighted_sum = WeightedLayerSum(num_layers=2, layer_norm=True)
    hidden = torch.randn(2, 3, 4, 6) * 100 + 7
    out = weighted_sum(hidden)
    expected = torch.nn.functional.layer_norm(hidden, (6,)).mean(dim=0)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match=r"num_layers=2.*\(3, 3, 4, 6\)"):
        weighted_sum(torch.randn(3, 3, 4, 6))
    with pytest.raises(ValueError, match="at least 1"):
        WeightedLayerSum(num_layers=0)


def test_frozen_encoder_stays_frozen():
    frozen = FrozenEncoder(StandInEncoder())
    frozen.train()
    assert not frozen.training and not frozen.encoder.training
    assert not any(param.requires_grad for param in frozen.parameters())
    wavs = torch.randn(2, 1600)
    out1, out2 = frozen(wavs), frozen(wavs)  # eval mode: dropout is off, so deterministic
    torch.testing.assert_close(out1, out2)
    assert not out1.requires_grad
    with pytest.raises(TypeError, match="num_hidden"):
        FrozenEncoder(torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "head, out_shape",
    [
        (BiLSTM(8, hidden_size=6), (2, 7, 12)),
        (
            LengthFree(
                ContextNet(
                    input_shape=(None, None, 8),
                    out_channels=12,
                    conv_channels=[16] * 2,
                    strides=[1, 1],
                    num_blocks=2,
                    num_layers=1,
                )
            ),
            (2, 7, 12),
        ),
        (MeanPooling(), (2, 1, 8)),
        (BiLSTMPooling(8, hidden_size=6), (2, 1, 8)),
        (ECAPA_TDNN(8, channels=[16, 16, 16, 16, 48], lin_neurons=10), (2, 1, 10)),
        (Xvector(in_channels=8, tdnn_channels=[16, 16, 16, 16, 24], lin_neurons=10), (2, 1, 10)),
    ],
    ids=["bilstm", "contextnet", "pooled", "bilstm_pooled", "ecapa", "xvector"],
)
def test_heads_take_feats_and_lengths(head, out_shape):
    feats = torch.randn(2, 7, 8, requires_grad=True)
    out = head(feats, torch.tensor([1.0, 0.5]))
    assert out.shape == out_shape
    out.sum().backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()


def test_mean_pooling_ignores_padding():
    feats = torch.randn(2, 6, 3)
    padded = feats.clone()
    padded[1, 3:] = 1e6
    lengths = torch.tensor([1.0, 0.5])
    torch.testing.assert_close(MeanPooling()(feats, lengths), MeanPooling()(padded, lengths))
    torch.testing.assert_close(MeanPooling()(feats, lengths)[1, 0], feats[1, :3].mean(dim=0))


def _classification_probe(tmp_path, encoder):
    weighted_sum = WeightedLayerSum(encoder.num_hidden)
    head = MeanPooling()
    output_layer = sb.nnet.linear.Linear(input_size=8, n_neurons=2)
    epoch_counter = EpochCounter(limit=2)
    checkpointer = Checkpointer(
        tmp_path / "save",
        recoverables={"weighted_sum": weighted_sum, "output_layer": output_layer, "counter": epoch_counter},
    )
    hparams = {
        "model_opt_class": lambda params: torch.optim.Adam(params, lr=0.05),
        "weights_opt_class": lambda params: torch.optim.Adam(params, lr=0.05),
        "lr_annealing_model": sb.nnet.schedulers.NewBobScheduler(initial_value=0.05),
        "lr_annealing_weights": sb.nnet.schedulers.NewBobScheduler(initial_value=0.05),
        "compute_cost": LogSoftmaxWrapper(torch.nn.Identity()),
        "epoch_counter": epoch_counter,
        "train_logger": FileTrainLogger(tmp_path / "train_log.txt"),
    }
    modules = {
        "ssl_encoder": FrozenEncoder(encoder),
        "weighted_sum": weighted_sum,
        "head": head,
        "output_layer": output_layer,
    }
    return ClassificationProbeBrain(
        modules, hparams=hparams, checkpointer=checkpointer, run_opts={"noprogressbar": True}
    )


def _toy_classification_set():
    generator = torch.Generator().manual_seed(0)
    data = {}
    for index in range(8):
        label = index % 2
        data[f"utt{index}"] = {"wav": torch.randn(1600, generator=generator) * (1 + 2 * label), "label": label}
    dataset = DynamicItemDataset(data)
    dataset.add_dynamic_item(lambda wav: wav, takes="wav", provides="sig")
    dataset.add_dynamic_item(lambda label: torch.tensor([label]), takes="label", provides="label_encoded")
    dataset.set_output_keys(["id", "sig", "label_encoded"])
    return dataset


def test_probing_leaves_the_encoder_unchanged_and_trains_the_layer_weights(tmp_path):
    encoder = StandInEncoder()
    before = {name: value.clone() for name, value in encoder.state_dict().items()}
    probe = _classification_probe(tmp_path, encoder)
    dataset = _toy_classification_set()
    probe.fit(
        probe.hparams.epoch_counter,
        dataset,
        dataset,
        train_loader_kwargs={"batch_size": 4},
        valid_loader_kwargs={"batch_size": 4},
    )
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=f"encoder {name} changed")
    assert all(param.grad is None for param in encoder.parameters())
    assert probe.layer_weights() != pytest.approx([1 / 3] * 3)
    assert set(probe.optimizers_dict) == {"model_optimizer", "weights_optimizer"}
    checkpoint = probe.checkpointer.find_checkpoint()
    assert {"weighted_sum", "weights_optimizer", "model_optimizer"} <= set(checkpoint.paramfiles)
    saved = torch.load(checkpoint.paramfiles["weighted_sum"])
    torch.testing.assert_close(torch.softmax(saved["weights"], 0).tolist(), probe.layer_weights())
    assert "layer_weights:" in (tmp_path / "train_log.txt").read_text()
    probe.evaluate(dataset, min_key="error_rate", test_loader_kwargs={"batch_size": 4})
    assert 0.0 <= probe.test_stats["accuracy"] <= 100.0


def test_read_trials_and_cosine_scoring(tmp_path):
    trials = tmp_path / "trials.txt"
    trials.write_text("1 a/x/1.wav a/y/2.wav\n0 a/x/1.wav b/z/3.wav\n")
    parsed = read_trials(trials)
    assert parsed == [(1, "a/x/1", "a/y/2"), (0, "a/x/1", "b/z/3")]
    embeddings = {
        "a/x/1": torch.tensor([1.0, 0.0]),
        "a/y/2": torch.tensor([1.0, 0.1]),
        "b/z/3": torch.tensor([-1.0, 0.2]),
    }
    positive, negative = cosine_scores(parsed, embeddings)
    assert verification_metrics(positive, negative)["EER"] == 0.0
    with pytest.raises(KeyError, match="b/z/3"):
        cosine_scores(parsed, {key: embeddings[key] for key in ("a/x/1", "a/y/2")})
    trials.write_text("yes a.wav b.wav\n")
    with pytest.raises(ValueError, match="trials.txt:1"):
        read_trials(trials)
    with pytest.raises(ValueError, match="both"):
        verification_metrics(positive, positive[:0])


def test_results_files_and_side_by_side_table(tmp_path):
    weights = [0.2, 0.3, 0.5]
    for encoder, wer in [("summarymixing", 12.5), ("mhsa", 13.0)]:
        folder = tmp_path / encoder
        folder.mkdir()
        write_results(
            folder,
            "librispeech_asr",
            "bilstm",
            {"WER test-clean": wer, "CER test-clean": 4.0},
            ["WER test-clean"],
            weights,
        )
    results = {name: [read_results(tmp_path / name)] for name in ("summarymixing", "mhsa")}
    assert results["mhsa"][0]["layer_weights"] == weights
    assert read_results(tmp_path) is None
    table = results_table(results).splitlines()
    assert table[0] == "| encoder | librispeech_asr bilstm: WER test-clean |"
    assert table[2:] == ["| summarymixing | 12.50 |", "| mhsa | 13.00 |"]
    with pytest.raises(KeyError, match="EER"):
        write_results(tmp_path, "voxceleb", "ecapa", {"minDCF": 0.1}, ["EER"], weights)
    assert json.loads((tmp_path / "mhsa" / "results.json").read_text())["head"] == "bilstm"


def test_layer_weights_table_and_plot(tmp_path):
    weights = {"asr": [0.1, 0.9], "speaker": [0.7, 0.3]}
    assert format_layer_weights(weights).splitlines()[2] == "| asr | 0.100 | 0.900 |"
    path = tmp_path / "weights.png"
    plot_layer_weights(weights, path, title="tiny")
    assert os.path.getsize(path) > 0


def test_interrupted_probe_resumes_from_its_checkpoint(tmp_path):
    encoder = StandInEncoder()
    dataset = _toy_classification_set()
    first = _classification_probe(tmp_path, encoder)
    first.fit(
        first.hparams.epoch_counter,
        dataset,
        dataset,
        train_loader_kwargs={"batch_size": 4},
        valid_loader_kwargs={"batch_size": 4},
    )
    trained_weights = first.layer_weights()
    resumed = _classification_probe(tmp_path, encoder)  # a fresh process: new modules, same folder
    resumed.hparams.epoch_counter.limit = 3
    resumed.fit(
        resumed.hparams.epoch_counter,
        dataset,
        dataset,
        train_loader_kwargs={"batch_size": 4},
        valid_loader_kwargs={"batch_size": 4},
    )
    log = (tmp_path / "train_log.txt").read_text()
    assert [line.split(",")[0] for line in log.splitlines()] == ["epoch: 1", "epoch: 2", "epoch: 3"]
    assert f"layer_weights: {' '.join(f'{w:.3f}' for w in trained_weights)}" in log.splitlines()[1]
    assert resumed.layer_weights() != trained_weights  # epoch 3 went on from the restored weights


def test_manifests_and_labels_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_manifest(str(tmp_path / "missing.csv"))
    manifest = tmp_path / "train.csv"
    manifest.write_text("ID,duration,wav,emo\na,2.0,a.wav,sad\nb,1.0,b.wav,neu\nc,3.0,c.wav,ang\n")
    dataset = load_manifest(str(manifest), sorting="ascending", select_n=2)
    assert dataset.data_ids == ["b", "a"]
    assert load_manifest(str(manifest), max_duration=2.5).data_ids == ["b", "a"]
    with pytest.raises(ValueError, match="sorting"):
        load_manifest(str(manifest), sorting="by_speaker")
    full = load_manifest(str(manifest))
    with pytest.raises(ValueError, match="3 classes of 'emo' but the classifier has 2 outputs"):
        add_labels([full], "emo", str(tmp_path / "labels.txt"), num_classes=2)
    encoder = add_labels([full], "emo", str(tmp_path / "labels2.txt"), num_classes=4)
    full.set_output_keys(["id", "label_encoded"])
    assert sorted(encoder.decode_ndim(item["label_encoded"])[0] for item in full) == ["ang", "neu", "sad"]
