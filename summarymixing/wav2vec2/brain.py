"""The wav2vec 2.0 pre-training recipe's ``Brain``.

Authors
-------
* The summarymixing contributors (2026)
"""

from collections import defaultdict

import speechbrain as sb

from summarymixing.recipe_brain import RecipeBrain

LOGGED_STATS = ("loss", "contrastive_loss", "diversity_loss", "accuracy", "code_perplexity", "prob_perplexity")


class Wav2Vec2Brain(RecipeBrain):
    """Masked contrastive pre-training with step-wise logging of the objective and the quantiser.

    The recipe ``recipes/wav2vec2/train.py`` runs it; ``summarymixing.benchmarks.wav2vec2`` times its
    :meth:`fit_batch`, so the benchmark measures the step the recipe runs."""

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
