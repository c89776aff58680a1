"""The language-model recipe's ``Brain``: next-token training of SpeechBrain's LMs, as SpeechBrain's LibriSpeech LM
recipe, and the export of ``lm.ckpt`` + ``tokenizer.ckpt`` that the ASR recipes load with ``--lm_folder``.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
import os
import shutil

import speechbrain as sb
import torch

from summarymixing.recipe_brain import RecipeBrain


class LanguageModelBrain(RecipeBrain):
    """Trains ``hparams.lm["model"]`` on batches of ``tokens_bos`` / ``tokens_eos`` with SpeechBrain's NLL loss;
    keeps the best checkpoints by validation loss and logs perplexities."""

    def compute_forward(self, batch, stage):
        """Log-probabilities of the next token at every position."""
        batch = batch.to(self.device)
        tokens_bos, _ = batch.tokens_bos
        return self.hparams.log_softmax(self.modules.model(tokens_bos))

    def compute_objectives(self, predictions, batch, stage):
        """Mean negative log-likelihood of the next tokens (the end-of-sentence token included)."""
        tokens_eos, lengths = batch.tokens_eos
        return self.hparams.compute_cost(predictions, tokens_eos, length=lengths)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the learning-rate schedule after each optimiser update."""
        if should_step:
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_end(self, stage, stage_loss, epoch):
        """Logs loss and perplexity; keeps the ``checkpoints_to_keep`` best checkpoints by validation loss."""
        stats = {"loss": stage_loss, "perplexity": math.exp(min(stage_loss, 50.0))}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "steps": self.optimizer_step},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"loss": stage_loss, "epoch": epoch}, min_keys=["loss"],
                num_to_keep=self.hparams.checkpoints_to_keep,
            )  # fmt: skip
        else:
            self.hparams.train_logger.log_stats(stats_meta={"Epoch loaded": epoch}, test_stats=stats)

    def export(self):
        """Loads the best checkpoint (validation loss) and writes ``lm.ckpt`` and ``tokenizer.ckpt`` into the run
        folder, where the ASR recipes' ``--lm_folder`` reads them."""
        self.checkpointer.recover_if_possible(min_key="loss")
        folder = self.hparams.output_folder
        torch.save(self.hparams.lm["model"].state_dict(), os.path.join(folder, "lm.ckpt"))
        shutil.copyfile(self.hparams.tokenizer.prefix_model_file + ".model", os.path.join(folder, "tokenizer.ckpt"))
