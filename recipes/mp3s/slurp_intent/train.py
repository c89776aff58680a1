#!/usr/bin/env python3
"""MP3S probe: SLURP spoken intent classification (scenarios, as in MP3S) on a frozen wav2vec 2.0 encoder.

The frozen encoder's hidden layers are summed with learned softmax weights and fed to a probing head
(time-pooled linear classifier, or BiLSTM + linear projection + pooling + linear classifier, chosen by
the hparams file). Trained on ``train_real``, validated on ``devel``; accuracy on ``test``. The label
is the manifest column named by ``label_key`` (``scenario``: the 18 SLURP scenarios, as in MP3S and the
SummaryMixing SSL paper; ``intent`` for the full intents).

To run (full scale; add torchrun for DDP):
    python recipes/mp3s/slurp_intent/train.py hparams/mp3s/slurp_intent/bilstm.yaml \
        --ssl_folder results/wav2vec2/summarymixing --data_folder /path/to/SLURP

On the bundled mini corpus (laid out in SLURP's format, prepared by the real preparation):
    python recipes/mp3s/slurp_intent/train.py hparams/mp3s/slurp_intent/mini.yaml \
        --ssl_folder results/wav2vec2/mini/1986

An interrupted run resumes from its last checkpoint when started again with the same output folder.

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from summarymixing import experiment
from summarymixing.probes import ClassificationProbeBrain, head_label, write_results
from summarymixing.probes.data import add_audio, add_labels, load_manifest
from summarymixing.probes.recipe import fit_probe


def dataio_prepare(hparams):
    """Creates the train, valid and test datasets with waveforms and encoded labels."""
    datasets = {
        name: load_manifest(hparams[f"{name}_csv"], hparams["sorting"], hparams["select_n"])
        for name in ("train", "valid", "test")
    }
    add_audio(list(datasets.values()), hparams["sample_rate"])
    add_labels(
        list(datasets.values()),
        hparams["label_key"],
        os.path.join(hparams["save_folder"], "label_encoder.txt"),
        hparams["output_neurons"],
    )
    sb.dataio.dataset.set_output_keys(list(datasets.values()), ["id", "sig", "label_encoded"])
    return datasets


def main(argv):
    """Prepares the data, trains the probe, tests it and writes ``results.json``."""
    run = experiment.setup(argv)
    hparams, run_opts = run.hparams, run.run_opts
    datasets = dataio_prepare(hparams)
    probe = fit_probe(ClassificationProbeBrain, hparams, run_opts, datasets["train"], datasets["valid"])
    probe.evaluate(datasets["test"], min_key="error_rate", test_loader_kwargs=hparams["test_dataloader_opts"])
    run_on_main(  # the barrier keeps the other processes alive until the results are written
        write_results,
        kwargs={
            "output_folder": hparams["output_folder"],
            "task": "slurp_intent",
            "head": head_label(hparams),
            "metrics": probe.test_stats,
            "reported": ["accuracy"],
            "layer_weights": probe.layer_weights(),
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
