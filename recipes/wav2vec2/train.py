#!/usr/bin/env python3
"""wav2vec 2.0 self-supervised pre-training with a SummaryMixing Conformer context encoder (arXiv 2407.13377).

Single process (CPU or one GPU)::

    python recipes/wav2vec2/train.py hparams/wav2vec2/mini.yaml

Several GPUs (or ``--distributed_backend=gloo --device=cpu`` on CPU)::

    torchrun --standalone --nproc_per_node=4 recipes/wav2vec2/train.py \\
        hparams/wav2vec2/conformer_summarymixing_librilight.yaml --data_folder=/path/to/librilight

The model pieces live in :mod:`summarymixing.wav2vec2`; masks are drawn in the data loader for the exact
number of frames the front end produces. An interrupted run resumes from its latest checkpoint when started
again with the same ``output_folder``. ``summarymixing.wav2vec2.load_pretrained(output_folder)`` loads the
result for downstream probes.
"""

import logging
import sys
from collections import defaultdict

import speechbrain as sb
from speechbrain.dataio.sampler import DynamicBatchSampler

from summarymixing import experiment
from summarymixing.wav2vec2 import MaskingCollate

logger = logging.getLogger(__name__)

LOGGED_STATS = ("loss", "contrastive_loss", "diversity_loss", "accuracy", "code_perplexity", "prob_perplexity")


class Wav2Vec2Brain(sb.Brain):
    """Masked contrastive pre-training with step-wise logging of the objective and the quantiser."""

    def compute_forward(self, batch, stage):
        """Returns the objective and its statistics for a masked batch."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        return self.modules.wav2vec2(wavs, wav_lens, batch.mask.data)

    def compute_objectives(self, predictions, batch, stage):
        """Accumulates the statistics to log and returns the loss."""
        for name in LOGGED_STATS:
            self.stat_sums[name] += float(predictions[name].detach())
        self.stat_count += 1
        return predictions["loss"]

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rate and the Gumbel temperature of the coming optimiser step."""
        self.hparams.lr_scheduler(self.optimizer, self.optimizer_step + 1)
        self.hparams.quantiser.quantiser.update_temp(self.optimizer_step)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Logs the averaged statistics every ``log_interval`` optimiser steps."""
        if should_step and self.optimizer_step % self.hparams.log_interval == 0:
            stats = self.averaged_stats()
            stats["temperature"] = outputs["temperature"]
            self.hparams.train_logger.log_stats(  # on every process: it writes on the main one and broadcasts
                stats_meta={"step": self.optimizer_step, "lr": self.optimizer.param_groups[0]["lr"]},
                train_stats=stats,
                verbose=False,
            )

    def averaged_stats(self):
        """Returns the mean of each statistic since the last call and starts a new window."""
        stats = {name: total / max(self.stat_count, 1) for name, total in self.stat_sums.items()}
        self.stat_sums, self.stat_count = defaultdict(float), 0
        return stats

    def on_stage_start(self, stage, epoch=None):
        """Starts a new statistics window."""
        self.stat_sums, self.stat_count = defaultdict(float), 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the validation statistics and saves a checkpoint ranked by validation loss."""
        if stage != sb.Stage.VALID:
            return
        stats = self.averaged_stats()
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "step": self.optimizer_step, "lr": self.optimizer.param_groups[0]["lr"]},
            valid_stats=stats,
        )
        self.checkpointer.save_and_keep_only(
            end_of_epoch=True,
            meta={"loss": stats["loss"], "accuracy": stats["accuracy"], "step": self.optimizer_step},
            min_keys=["loss"],
            num_to_keep=self.hparams.checkpoints_to_keep,
        )


def dataio_prepare(hparams):
    """Builds the train/valid datasets from the manifests and the masking collate function.

    Rows with ``start``/``stop`` columns (Libri-Light segments, in samples) read that segment of ``wav``; rows
    without them (LibriSpeech dev-clean for validation) read the whole file.
    """

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def segment_pipeline(wav, start, stop):
        return sb.dataio.dataio.read_audio({"file": wav, "start": int(start), "stop": int(stop)})

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def file_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    datasets = {}
    for split in ("train", "valid"):
        dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(hparams[f"{split}_csv"])
        dataset = dataset.filtered_sorted(key_min_value={"duration": hparams["min_duration"]}, sort_key="duration")
        if len(dataset) == 0:
            raise ValueError(
                f"{hparams[f'{split}_csv']} has no row of at least min_duration={hparams['min_duration']} s"
            )
        first_row = next(iter(dataset.data.values()))
        dataset.add_dynamic_item(segment_pipeline if "start" in first_row else file_pipeline)
        dataset.set_output_keys(["id", "sig"])
        datasets[split] = dataset

    collate = MaskingCollate(hparams["frontend"].frame_counter, hparams["mask_prob"], hparams["mask_length"])
    train_loader_kwargs = {"collate_fn": collate, "num_workers": hparams["num_workers"]}
    if hparams["dynamic_batching"]:
        train_loader_kwargs["batch_sampler"] = DynamicBatchSampler(
            datasets["train"], length_func=lambda example: example["duration"], **hparams["dynamic_batch_sampler"]
        )
    else:
        train_loader_kwargs.update(batch_size=hparams["batch_size"], shuffle=True)
    valid_loader_kwargs = {"collate_fn": collate, "batch_size": hparams["batch_size"]}
    return datasets, train_loader_kwargs, valid_loader_kwargs


def main(argv):
    """Sets the experiment up (summarymixing.experiment: data preparation included) and runs the pre-training;
    returns the trained Brain."""
    run = experiment.setup(argv)
    hparams = run.hparams
    datasets, train_loader_kwargs, valid_loader_kwargs = dataio_prepare(hparams)

    brain = Wav2Vec2Brain(
        modules=hparams["modules"],
        opt_class=hparams["optimizer"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=train_loader_kwargs,
        valid_loader_kwargs=valid_loader_kwargs,
    )
    return brain


if __name__ == "__main__":
    main(sys.argv[1:])
