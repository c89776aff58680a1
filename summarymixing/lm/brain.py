"""The language-model recipe's ``Brain``: next-token training of SpeechBrain's LMs, as SpeechBrain's LibriSpeech LM
recipes, and the export of ``lm.yaml`` + ``lm.ckpt`` + ``tokenizer.ckpt`` that the ASR and transducer recipes load
with ``--lm_folder``.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
import os
import shutil

import speechbrain as sb
import torch
from hyperpyyaml import resolve_references
from speechbrain.nnet.schedulers import NewBobScheduler, update_learning_rate

from summarymixing.recipe_brain import RecipeBrain
from summarymixing.run_folder import included_values, seal_export, write_atomically


class LanguageModelBrain(RecipeBrain):
    """Trains ``hparams.lm["model"]`` on batches of ``tokens_bos`` / ``tokens_eos`` with SpeechBrain's NLL loss;
    keeps the best checkpoints by validation loss and logs perplexities. The learning-rate schedule steps after
    each update (Noam, the Transformer LM's) or, for SpeechBrain's ``NewBobScheduler`` (the RNN LM's), after each
    validation on its loss."""

    RECIPE = "recipes/lm/train.py"
    """The recipe that trains this Brain (named in its exports)."""

    def compute_forward(self, batch, stage):
        """Log-probabilities of the next token at every position."""
        batch = batch.to(self.device)
        tokens_bos, _ = batch.tokens_bos
        logits = self.modules.model(tokens_bos)
        if isinstance(logits, tuple):  # an RNN LM built to return its state (for the transducer's beam search)
            logits = logits[0]
        return self.hparams.log_softmax(logits)

    def compute_objectives(self, predictions, batch, stage):
        """Mean negative log-likelihood of the next tokens (the end-of-sentence token included)."""
        tokens_eos, lengths = batch.tokens_eos
        return self.hparams.compute_cost(predictions, tokens_eos, length=lengths)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the learning-rate schedule after each optimiser update."""
        if should_step and not isinstance(self.hparams.lr_annealing, NewBobScheduler):
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_end(self, stage, stage_loss, epoch):
        """Logs loss and perplexity; keeps the ``checkpoints_to_keep`` best checkpoints by validation loss."""
        stats = {"loss": stage_loss, "perplexity": math.exp(min(stage_loss, 50.0))}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            if isinstance(self.hparams.lr_annealing, NewBobScheduler):
                _, new_lr = self.hparams.lr_annealing(stage_loss)
                update_learning_rate(self.optimizer, new_lr)
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

    def export(self, hparams_folder):
        """Loads the best checkpoint (validation loss) and writes ``lm.ckpt``, ``tokenizer.ckpt`` and ``lm.yaml``
        (``hparams_folder``'s ``lm_definition`` file with this run's values, which builds the LM alone) into the run
        folder, where the recipes' ``--lm_folder`` reads them."""
        self.checkpointer.recover_if_possible(min_key="loss")
        folder = self.hparams.output_folder
        definition = os.path.join(hparams_folder, self.hparams.lm_definition)
        with open(definition, encoding="utf-8") as template:
            resolved = resolve_references(template, overrides=included_values(definition, self.hparams.lm))
        write_atomically(os.path.join(folder, "lm.yaml"), resolved.getvalue())
        torch.save(self.hparams.lm["model"].state_dict(), os.path.join(folder, "lm.ckpt"))
        shutil.copyfile(self.hparams.tokenizer.prefix_model_file + ".model", os.path.join(folder, "tokenizer.ckpt"))
        seal_export(folder, "LM", self.RECIPE, ["lm.ckpt", "tokenizer.ckpt"])
