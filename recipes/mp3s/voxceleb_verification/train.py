#!/usr/bin/env python3
"""MP3S probe: VoxCeleb1 speaker verification on a frozen wav2vec 2.0 encoder.

The frozen encoder's hidden layers are summed with learned softmax weights and fed to a speaker
embedding head (ECAPA-TDNN or x-vector, chosen by the hparams file) trained as a speaker classifier
with an additive-angular-margin softmax on the training speakers' chunks. The verification speakers
(those of the trial list) are unseen in training: each trial is scored by the cosine similarity of the
two utterances' embeddings, and the EER and minDCF (``speechbrain.utils.metric_stats``) are reported,
with the speaker-classification accuracy on the held-out chunks.

To run (full scale; add torchrun for DDP):
    python recipes/mp3s/voxceleb_verification/train.py hparams/mp3s/voxceleb_verification/ecapa.yaml \
        --ssl_folder results/wav2vec2/summarymixing --data_folder /path/to/VoxCeleb1 \
        --verification_file /path/to/VoxCeleb1/meta/veri_test2.txt

On the bundled mini corpus (laid out in VoxCeleb1's format, prepared by the real preparation):
    python recipes/mp3s/voxceleb_verification/train.py hparams/mp3s/voxceleb_verification/mini.yaml \
        --ssl_folder results/wav2vec2/mini/1986

An interrupted run resumes from its last checkpoint when started again with the same output folder.

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import run_on_main
from tqdm import tqdm

from summarymixing import experiment
from summarymixing.probes import (
    ClassificationProbeBrain,
    cosine_scores,
    head_label,
    read_trials,
    verification_metrics,
    write_results,
)
from summarymixing.probes.data import add_audio, add_labels, load_manifest
from summarymixing.probes.recipe import fit_probe


class VoxCelebProbe(ClassificationProbeBrain):
    """Speaker-classification probe that also embeds utterances for verification."""

    def embeddings(self, dataset, loader_kwargs):
        """Returns ``{utterance id: embedding}`` for every utterance of ``dataset`` (eval mode)."""
        loader = sb.dataio.dataloader.make_dataloader(dataset, **loader_kwargs)
        self.modules.eval()
        embeddings = {}
        with torch.no_grad():
            for batch in tqdm(loader, disable=self.noprogressbar, desc="embeddings"):
                batch = batch.to(self.device)
                wavs, wav_lens = batch.sig
                embeddings.update(zip(batch.id, self.embed(wavs, wav_lens).squeeze(1).cpu()))
        return embeddings


def dataio_prepare(hparams, trials):
    """Creates the training-speaker datasets (with labels) and the dataset of the trials' utterances."""
    datasets = {
        name: load_manifest(hparams[f"{name}_csv"], hparams["sorting"], hparams["select_n"])
        for name in ("train", "valid")
    }
    trial_utterances = {utterance for _, *pair in trials for utterance in pair}
    datasets["trials"] = sb.dataio.dataset.DynamicItemDataset(
        {
            uid: {key: value for key, value in row.items() if key != "id"}
            for name in ("enrol", "test")
            for uid, row in load_manifest(hparams[f"{name}_csv"]).data.items()
            if uid in trial_utterances
        }
    )
    add_audio(list(datasets.values()), hparams["sample_rate"], segments=True)
    add_labels(
        [datasets["train"], datasets["valid"]],
        "spk_id",
        os.path.join(hparams["save_folder"], "label_encoder.txt"),
        hparams["output_neurons"],
    )
    sb.dataio.dataset.set_output_keys([datasets["train"], datasets["valid"]], ["id", "sig", "label_encoded"])
    sb.dataio.dataset.set_output_keys([datasets["trials"]], ["id", "sig"])
    return datasets


def verify(probe, embeddings, trials, hparams):
    """Scores the trials by cosine similarity of their embeddings and writes ``results.json``."""
    metrics = {"speaker accuracy": probe.test_stats["accuracy"]}
    metrics.update(verification_metrics(*cosine_scores(trials, embeddings)))
    probe.hparams.train_logger.log_stats(stats_meta={"verification": "cosine"}, test_stats=metrics)
    write_results(
        hparams["output_folder"],
        task="voxceleb_verification",
        head=head_label(hparams),
        metrics=metrics,
        reported=["EER"],
        layer_weights=probe.layer_weights(),
    )


def main(argv):
    """Prepares the data, trains the probe, scores the trials and writes ``results.json``."""
    run = experiment.setup(argv)
    hparams, run_opts = run.hparams, run.run_opts
    trials = read_trials(hparams["verification_file"])[: hparams["select_n_trials"]]
    datasets = dataio_prepare(hparams, trials)
    probe = fit_probe(VoxCelebProbe, hparams, run_opts, datasets["train"], datasets["valid"])
    # Loads the best checkpoint and reports speaker-classification accuracy on the held-out chunks.
    probe.evaluate(datasets["valid"], min_key="error_rate", test_loader_kwargs=hparams["valid_dataloader_opts"])
    # Every process embeds the same batches (DDP modules synchronise in their forward pass); the
    # main one scores, behind a barrier that keeps the others alive until the results are written.
    embeddings = probe.embeddings(datasets["trials"], hparams["test_dataloader_opts"])
    run_on_main(verify, args=[probe, embeddings, trials, hparams])


if __name__ == "__main__":
    main(sys.argv[1:])
