#!/usr/bin/env python3
"""Keyword spotting on Google Speech Commands v2 with SummaryMixing or self-attention encoders (arXiv 2307.07421).

Trains a Conformer encoder (SummaryMixing, or SpeechBrain's attention for the MHSA twin), mean-pooled, with a
linear classifier on the 12-class task (ten commands, _unknown_, _silence_; ``--num_classes=35`` for every word),
keeps the best checkpoint by validation accuracy, writes the test accuracy to ``accuracy.json`` and exports a
folder that SpeechBrain's ``EncoderClassifier`` loads.

Run (the bundled mini corpus, CPU, minutes):
    python recipes/kws/train.py hparams/kws/mini.yaml

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.data.labelled_audio import labelled_audio_datasets
from summarymixing.data.speech_commands import labels
from summarymixing.kws.brain import KeywordBrain


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    train_data, valid_data, test_data, train_loader_options = labelled_audio_datasets(
        hparams, hparams["label_encoder"], labels(hparams["kws"]["n_classes"])
    )
    brain = KeywordBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        train_data,
        valid_data,
        train_loader_kwargs=train_loader_options,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        brain.evaluate(test_data, max_key="accuracy", test_loader_kwargs=hparams["test_dataloader_opts"])
        brain.export_for_inference(os.path.dirname(run.base_file))
        print(f"\nTest accuracy: {brain.test_accuracy:.2f}%")
        print(f"Results, logs and the EncoderClassifier folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
