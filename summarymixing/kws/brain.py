"""The keyword-spotting recipe's ``Brain`` (arXiv 2307.07421, Speech Commands): a SummaryMixing or MHSA encoder,
mean-pooled, and a linear classifier, trained with the NLL loss; accuracy on the test set; a run folder that
SpeechBrain's ``EncoderClassifier`` loads.

Authors
-------
* The summarymixing contributors (2026)
"""

import json
import os

import speechbrain as sb
import torch
from hyperpyyaml import resolve_references
from speechbrain.utils.logger import get_logger

from summarymixing.recipe_brain import RecipeBrain
from summarymixing.run_folder import included_values, seal_export, write_atomically

logger = get_logger(__name__)


class KeywordBrain(RecipeBrain):
    """Trains and evaluates the model of ``hparams/kws/model.yaml`` (the YAML key ``kws``).

    Hyperparameters it reads besides the model: ``wav_augment`` and ``fea_augment`` (or null), ``lr_annealing``,
    ``epoch_counter``, ``train_logger``, ``label_encoder``, ``output_folder``.
    """

    RECIPE = "recipes/kws/train.py"
    """The recipe that trains this Brain (named in its exports)."""

    def compute_forward(self, batch, stage):
        """Log-probabilities ``[batch, 1, classes]`` and the (augmented) lengths."""
        batch = batch.to(self.device)
        wavs, lengths = batch.sig
        if stage == sb.Stage.TRAIN and self.hparams.wav_augment is not None:
            wavs, lengths = self.hparams.wav_augment(wavs, lengths)
        model = self.hparams.kws
        features = model["compute_features"](wavs)
        features = self.modules.mean_var_norm(features, lengths)
        if stage == sb.Stage.TRAIN and self.hparams.fea_augment is not None:
            features, lengths = self.hparams.fea_augment(features, lengths)
        return self.modules.classifier(self.modules.embedding_model(features, lengths))

    def compute_objectives(self, predictions, batch, stage):
        """The NLL loss of the labels; accuracy outside training."""
        labels, _ = batch.label_encoded
        if stage == sb.Stage.TRAIN:
            for augment in (self.hparams.wav_augment, self.hparams.fea_augment):
                if augment is not None:
                    labels = augment.replicate_labels(labels)
        loss = sb.nnet.losses.nll_loss(predictions, labels)
        if stage != sb.Stage.TRAIN:
            predicted = predictions.squeeze(1).argmax(dim=-1)
            self.correct += int((predicted == labels.squeeze(1)).sum())
            self.total += len(predicted)
            decode = self.hparams.label_encoder.decode_ndim
            self.predictions.update(zip(batch.id, decode(predicted.tolist())))
        return loss

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the learning-rate schedule after each optimiser update."""
        if should_step:
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_start(self, stage, epoch):
        """Fresh accuracy counts for validation and test."""
        self.correct, self.total, self.predictions = 0, 0, {}

    def on_stage_end(self, stage, stage_loss, epoch):
        """Logs; keeps the best checkpoint by validation accuracy; writes ``accuracy.json`` and
        ``predictions_test.json`` after the test."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, "accuracy": 100.0 * self.correct / max(self.total, 1)}
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "steps": self.optimizer_step},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta={"accuracy": stats["accuracy"]}, max_keys=["accuracy"])
            return
        logger.info(f"test: loss {stage_loss:.4g}, accuracy {stats['accuracy']:.2f}%")
        folder = self.hparams.output_folder
        write_atomically(os.path.join(folder, "accuracy.json"), json.dumps({"test": stats["accuracy"]}, indent=1))
        write_atomically(os.path.join(folder, "predictions_test.json"), json.dumps(self.predictions, indent=1))
        self.test_accuracy = stats["accuracy"]

    def export_for_inference(self, hparams_folder):
        """Writes what ``speechbrain.inference.classifiers.EncoderClassifier`` loads from the run folder:
        ``hyperparams.yaml`` is the recipe's, so the export is ``inference.yaml`` (``hparams_folder``'s template
        with this run's model values) with ``embedding_model.ckpt``, ``classifier.ckpt``,
        ``mean_var_norm.ckpt`` and ``label_encoder.ckpt``."""
        folder, model = self.hparams.output_folder, self.hparams.kws
        for name in ("embedding_model", "classifier"):
            torch.save(model[name].state_dict(), os.path.join(folder, f"{name}.ckpt"))
        model["mean_var_norm"]._save(os.path.join(folder, "mean_var_norm.ckpt"))
        self.hparams.label_encoder.save(os.path.join(folder, "label_encoder.ckpt"))
        overrides = {"kws": included_values(os.path.join(hparams_folder, "model.yaml"), model)}
        with open(os.path.join(hparams_folder, "inference.yaml"), encoding="utf-8") as stream:
            resolved = resolve_references(stream, overrides=overrides)
        write_atomically(os.path.join(folder, "inference.yaml"), resolved.getvalue())
        files = ["embedding_model.ckpt", "classifier.ckpt", "mean_var_norm.ckpt", "label_encoder.ckpt"]
        seal_export(folder, "EncoderClassifier", self.RECIPE, files)
