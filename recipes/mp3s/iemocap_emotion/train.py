#!/usr/bin/env python3
"""MP3S probe: IEMOCAP four-class emotion recognition, leave-one-session-out, frozen wav2vec 2.0 encoder.

The frozen encoder's hidden layers are summed with learned softmax weights and fed to a probing head
(ECAPA-TDNN with a cosine classifier, or a time-pooled linear classifier, chosen by the hparams
file). One probe is trained per fold: for each speaker ``k`` in ``test_speakers`` (1-10, Session1 F,
Session1 M, Session2 F, ...), speaker ``k`` is the test set, the other speaker of the same session the
validation set, and the four other sessions the training set. Each fold has its own folder
``<output_folder>/speaker_<k>``; the reported accuracy is the mean over the folds.

To run (full scale; add torchrun for DDP):
    python recipes/mp3s/iemocap_emotion/train.py hparams/mp3s/iemocap_emotion/ecapa.yaml \
        --ssl_folder results/wav2vec2/summarymixing --data_folder /path/to/IEMOCAP_full_release

On the bundled mini corpus (laid out in IEMOCAP's format, prepared by the real preparation):
    python recipes/mp3s/iemocap_emotion/train.py hparams/mp3s/iemocap_emotion/mini.yaml \
        --ssl_folder results/wav2vec2/mini/1986

An interrupted run resumes from the last checkpoint of the fold it was in when started again.

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import run_on_main

from summarymixing import experiment
from summarymixing.probes import ClassificationProbeBrain, head_label, write_results
from summarymixing.probes.data import add_audio, add_labels, load_manifest
from summarymixing.probes.recipe import fit_probe


def dataio_prepare(hparams):
    """Creates the train, valid and test datasets of one fold with waveforms and encoded emotions."""
    datasets = {
        name: load_manifest(hparams[f"{name}_annotation"], hparams["sorting"], hparams["select_n"])
        for name in ("train", "valid", "test")
    }
    add_audio(list(datasets.values()), hparams["sample_rate"])
    add_labels(
        list(datasets.values()),
        "emo",
        os.path.join(hparams["save_folder"], "label_encoder.txt"),
        hparams["output_neurons"],
    )
    sb.dataio.dataset.set_output_keys(list(datasets.values()), ["id", "sig", "label_encoded"])
    return datasets


def run_fold(hparams, run_opts):
    """Prepares, trains and tests the probe of one fold; returns (test stats, layer weights)."""
    datasets = dataio_prepare(hparams)
    probe = fit_probe(ClassificationProbeBrain, hparams, run_opts, datasets["train"], datasets["valid"])
    probe.evaluate(datasets["test"], min_key="error_rate", test_loader_kwargs=hparams["test_dataloader_opts"])
    return probe.test_stats, probe.layer_weights()


def main(argv):
    """Runs every leave-one-session-out fold and writes the mean accuracy to ``results.json``."""
    run = experiment.setup(argv)
    hparams = run.hparams
    metrics, fold_weights = {}, []
    for speaker in hparams["test_speakers"]:
        fold_hparams = run.load_with({"test_spk_id": speaker})
        experiment.prepare(fold_hparams)
        stats, weights = run_fold(fold_hparams, run.run_opts)
        metrics[f"accuracy speaker{speaker}"] = stats["accuracy"]
        fold_weights.append(weights)
    metrics["accuracy"] = sum(metrics.values()) / len(metrics)
    run_on_main(  # the barrier keeps the other processes alive until the results are written
        write_results,
        kwargs={
            "output_folder": hparams["output_folder"],
            "task": "iemocap_emotion",
            "head": head_label(hparams),
            "metrics": metrics,
            "reported": ["accuracy"],
            "layer_weights": torch.tensor(fold_weights).mean(dim=0).tolist(),
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
