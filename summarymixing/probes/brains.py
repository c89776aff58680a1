"""``Brain`` classes shared by the MP3S probing recipes.

:class:`ProbeBrain` holds what every probe does the MP3S way: features are the learned weighted sum
of the frozen encoder's hidden layers; the layer weights have their own optimiser (Adam, lr 0.01 in
MP3S) next to the head's optimiser; both learning rates are annealed on the validation error; the
layer weights are logged every epoch. :class:`CTCProbeBrain` (ASR) and
:class:`ClassificationProbeBrain` (intent, emotion, speaker) add the task's forward pass and metric.

The modules every probe expects (``modules`` in the hparams file):

- ``ssl_encoder``: a :class:`summarymixing.probes.FrozenEncoder`;
- ``weighted_sum``: a :class:`summarymixing.probes.WeightedLayerSum`;
- ``head``: ``head(feats, lengths)`` (see :mod:`summarymixing.probes.heads`);
- ``output_layer``: the CTC projection or the classifier.

and the hparams: ``model_opt_class``, ``weights_opt_class``, ``lr_annealing_model``,
``lr_annealing_weights`` (``NewBobScheduler`` on the validation error, or ``LinearScheduler`` per
epoch), ``epoch_counter``, ``train_logger`` and ``checkpointer``.

With a fine-tuned encoder (:class:`summarymixing.probes.FineTunedEncoder`, ``finetune: True``), its trainable
parameters get a third optimiser, ``encoder_opt_class``, annealed by ``lr_annealing_encoder`` (SpeechBrain's
pattern for fine-tuning a self-supervised model: the encoder's own, smaller learning rate); the encoder's weights,
that optimiser and its annealing join the checkpoints; for its first ``encoder_freeze_steps`` optimiser steps the
encoder runs without gradients (the head learns first).

Authors
 * SummaryMixing contributors 2026
"""

import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import LinearScheduler, update_learning_rate
from speechbrain.utils.metric_stats import ErrorRateStats, MetricStats
from torch.nn.parallel import DistributedDataParallel as DDP

from summarymixing.recipe_brain import RecipeBrain


class ProbeBrain(RecipeBrain):
    """Base class of the probes: frozen-encoder features, two optimisers, annealing, logging.

    Subclasses implement ``compute_forward``, ``compute_objectives``, ``on_stage_start`` and
    :meth:`stage_metrics`; the validation statistic named by ``error_key`` (lower is better) drives
    the annealing and the choice of the checkpoint used for testing.
    """

    error_key = "error_rate"

    def ssl_features(self, wavs, wav_lens):
        """Returns the weighted sum of the frozen encoder's hidden layers, ``[batch, time, dim]``.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]``.
        wav_lens : torch.Tensor
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            The probe input features.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_held()):
            hidden = self.modules.ssl_encoder(wavs, wav_lens)
        return self.modules.weighted_sum(hidden)

    def encoder_held(self):
        """Whether a fine-tuned encoder is still within its first ``encoder_freeze_steps`` optimiser steps."""
        return self.optimizer_step < getattr(self.hparams, "encoder_freeze_steps", 0)

    def layer_weights(self):
        """Returns the normalised layer weights as a list of floats (layer 0 = encoder input)."""
        weighted_sum = self.modules.weighted_sum
        return getattr(weighted_sum, "module", weighted_sum).layer_weights()

    def _wrap_distributed(self):
        """Wraps the trainable modules in DDP; on CPU (gloo) without SpeechBrain's SyncBatchNorm.

        SpeechBrain converts every BatchNorm to ``SyncBatchNorm``, which torch runs only on GPUs, so
        CPU DDP would fail for the heads with BatchNorm (ECAPA-TDNN, x-vector, ContextNet); on CPU
        each process keeps its own batch statistics instead.
        """
        if not self.distributed_launch or self.distributed_backend != "gloo":
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(param.requires_grad for param in module.parameters()):
                self.modules[name] = DDP(module, device_ids=None, find_unused_parameters=self.find_unused_parameters)

    def init_optimizers(self):
        """Creates the head optimiser, the layer-weights optimiser and, for a fine-tuned encoder, the encoder's
        optimiser (all checkpointed, with the fine-tuned encoder's weights and annealing)."""
        weight_params = list(self.modules.weighted_sum.parameters())
        encoder_params = [param for param in self.modules.ssl_encoder.parameters() if param.requires_grad]
        own_ids = {id(param) for param in weight_params + encoder_params}
        head_params = [param for param in self.modules.parameters() if param.requires_grad and id(param) not in own_ids]
        self.model_optimizer = self.hparams.model_opt_class(head_params)
        self.weights_optimizer = self.hparams.weights_opt_class(weight_params)
        self.optimizers_dict = {
            "model_optimizer": self.model_optimizer,
            "weights_optimizer": self.weights_optimizer,
        }
        recoverables = dict(self.optimizers_dict)
        self.encoder_optimizer = None
        if encoder_params:
            self.encoder_optimizer = self.hparams.encoder_opt_class(encoder_params)
            self.optimizers_dict["encoder_optimizer"] = self.encoder_optimizer
            encoder = getattr(self.modules.ssl_encoder, "module", self.modules.ssl_encoder)  # DDP keeps it in .module
            recoverables.update(
                encoder_optimizer=self.encoder_optimizer,
                ssl_encoder=encoder,
                lr_annealing_encoder=self.hparams.lr_annealing_encoder,
            )
        if self.checkpointer is not None:
            for name, recoverable in recoverables.items():
                if name not in self.checkpointer.recoverables:
                    self.checkpointer.add_recoverable(name, recoverable)

    def stage_metrics(self, stage):
        """Returns the metrics of a finished VALID or TEST stage as a dict of floats.

        Arguments
        ---------
        stage : sb.Stage
            The stage that ended.

        Returns
        -------
        dict
            Must contain ``error_key``.
        """
        raise NotImplementedError

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the stage; after validation anneals both learning rates and saves a checkpoint.

        Arguments
        ---------
        stage : sb.Stage
            The stage that ended.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Current epoch.
        """
        stage_stats = {"loss": stage_loss}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stage_stats
            return
        stage_stats.update(self.stage_metrics(stage))
        if stage == sb.Stage.VALID:
            error = stage_stats[self.error_key]
            lr_model = _anneal(self.hparams.lr_annealing_model, self.model_optimizer, epoch, error)
            lr_weights = _anneal(self.hparams.lr_annealing_weights, self.weights_optimizer, epoch, error)
            learning_rates = {"lr_model": lr_model, "lr_weights": lr_weights}
            if getattr(self, "encoder_optimizer", None) is not None:
                learning_rates["lr_encoder"] = _anneal(
                    self.hparams.lr_annealing_encoder, self.encoder_optimizer, epoch, error
                )
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "epoch": epoch,
                    **learning_rates,
                    "layer_weights": " ".join(f"{w:.3f}" for w in self.layer_weights()),
                },
                train_stats=getattr(self, "train_stats", None),
                valid_stats=stage_stats,
            )
            self.checkpointer.save_and_keep_only(meta={self.error_key: error}, min_keys=[self.error_key])
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stage_stats,
            )
            self.test_stats = stage_stats


def _anneal(scheduler, optimizer, epoch, error):
    """Steps a learning-rate scheduler (per epoch or on the validation error); returns the old lr."""
    old_lr, new_lr = scheduler(epoch if isinstance(scheduler, LinearScheduler) else error)
    update_learning_rate(optimizer, new_lr)
    return old_lr


class CTCProbeBrain(ProbeBrain):
    """Probe for speech recognition: head, linear projection, CTC; greedy decoding; WER and CER.

    The batch must provide ``sig`` (waveforms), ``tokens`` (padded token ids) and ``wrd`` (reference
    text). Subclasses implement :meth:`decode_tokens` for their tokenizer. Needs the hparams
    ``log_softmax``, ``ctc_cost`` and ``blank_index``.
    """

    error_key = "WER"

    def decode_tokens(self, token_ids):
        """Returns the text of a list of token ids (characters or subwords).

        Arguments
        ---------
        token_ids : list of int
            Greedy CTC output without blanks and repeats.

        Returns
        -------
        str
            The decoded text.
        """
        raise NotImplementedError

    def compute_forward(self, batch, stage):
        """Returns CTC log-probabilities ``[batch, time, vocab]`` and relative lengths."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        feats = self.ssl_features(wavs, wav_lens)
        logits = self.modules.output_layer(self.modules.head(feats, wav_lens))
        return self.hparams.log_softmax(logits), wav_lens

    def compute_objectives(self, predictions, batch, stage):
        """Returns the CTC loss; outside training also decodes and scores the batch."""
        log_probs, wav_lens = predictions
        tokens, token_lens = batch.tokens
        loss = self.hparams.ctc_cost(log_probs, tokens, wav_lens, token_lens)
        if stage != sb.Stage.TRAIN:
            hyps = sb.decoders.ctc_greedy_decode(log_probs, wav_lens, blank_id=self.hparams.blank_index)
            predicted = [self.decode_tokens(hyp).split() for hyp in hyps]
            targets = [text.split() for text in batch.wrd]
            self.wer_metric.append(batch.id, predicted, targets)
            self.cer_metric.append(batch.id, predicted, targets)
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Resets the WER and CER trackers."""
        if stage != sb.Stage.TRAIN:
            self.wer_metric = ErrorRateStats()
            self.cer_metric = ErrorRateStats(split_tokens=True)

    def stage_metrics(self, stage):
        """Returns WER and CER in percent."""
        return {
            "WER": self.wer_metric.summarize("error_rate"),
            "CER": self.cer_metric.summarize("error_rate"),
        }


def _classification_errors(outputs, labels):
    """Per-utterance 0/1 errors of ``outputs [batch, 1, classes]`` against ``labels [batch, 1]``."""
    return (outputs.squeeze(1).argmax(dim=-1) != labels.squeeze(1)).float()


class ClassificationProbeBrain(ProbeBrain):
    """Probe for utterance classification (intent, emotion, speaker identity).

    ``head(feats, lengths)`` gives ``[batch, 1, emb]``; ``output_layer`` maps it to class scores
    ``[batch, 1, classes]`` (logits or cosine similarities); ``compute_cost(outputs, labels)`` is
    e.g. ``LogSoftmaxWrapper(Identity)`` (cross-entropy) or ``LogSoftmaxWrapper(AdditiveAngularMargin)``.
    The batch must provide ``sig`` and ``label_encoded`` ``[batch, 1]``. Reports the error rate and the
    accuracy in percent.
    """

    def embed(self, wavs, wav_lens):
        """Returns the head's utterance embeddings ``[batch, 1, emb]``.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]``.
        wav_lens : torch.Tensor
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            The embeddings.
        """
        return self.modules.head(self.ssl_features(wavs, wav_lens), wav_lens)

    def compute_forward(self, batch, stage):
        """Returns the class scores ``[batch, 1, classes]``."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        return self.modules.output_layer(self.embed(wavs, wav_lens))

    def compute_objectives(self, outputs, batch, stage):
        """Returns the classification loss; outside training also counts the errors."""
        labels, _ = batch.label_encoded
        loss = self.hparams.compute_cost(outputs, labels)
        if stage != sb.Stage.TRAIN:
            self.error_metric.append(batch.id, outputs, labels)
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Resets the error tracker."""
        if stage != sb.Stage.TRAIN:
            self.error_metric = MetricStats(metric=_classification_errors)

    def stage_metrics(self, stage):
        """Returns the error rate and accuracy in percent."""
        error_rate = 100.0 * self.error_metric.summarize("average")
        return {"error_rate": error_rate, "accuracy": 100.0 - error_rate}
