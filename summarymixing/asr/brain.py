"""The CTC + attention ASR recipe's ``Brain`` (arXiv 2307.07421, Table 1): joint CTC and attention training of a
``TransformerASR`` (SummaryMixing or MHSA encoder, attention decoder), joint CTC/attention beam search with optional
Transformer LM shallow fusion (SpeechBrain's ``S2STransformerBeamSearcher`` and scorers), checkpoint averaging,
WER, and the export of a folder that SpeechBrain's ``EncoderDecoderASR`` loads.

It follows SpeechBrain's LibriSpeech Transformer recipe, which the published SummaryMixing recipes also follow.

Authors
-------
* The summarymixing contributors (2026)
"""

import json
import os
import shutil

import speechbrain as sb
import torch
from hyperpyyaml import resolve_references
from ruamel.yaml.comments import TaggedScalar
from speechbrain.utils.logger import get_logger

from summarymixing.recipe_brain import RecipeBrain
from summarymixing.run_folder import check_export, included_values, seal_export, write_atomically

logger = get_logger(__name__)


class CTCAttentionBrain(RecipeBrain):
    """Trains and evaluates the model of ``hparams/asr/model.yaml`` (the YAML key ``asr``).

    Hyperparameters it reads besides the model (whose searchers and LM it uses): ``ctc_weight``, ``seq_cost``,
    ``ctc_cost``, ``lm_folder`` (a language model run folder, or null: no LM fusion), ``valid_search_interval``,
    ``avg_checkpoints``, ``lr_annealing``, ``fea_augment`` and ``wav_augment`` (or null), ``epoch_counter``,
    ``train_logger``, ``error_rate_computer``, ``acc_computer``, ``output_folder``, and optionally:

    * a batch item ``ctc_tokens`` (``speech_text_datasets(..., ctc_text_column=...)``): the CTC loss's targets
      instead of ``tokens`` (direct SLU: the transcript, while the decoder writes the semantic frame);
    * ``metric``: ``WER`` (default) or ``CER``, the character error rate with spaces removed (Mandarin, whose
      transcripts put spaces between words, as SpeechBrain's AISHELL-1 recipe); the results go to
      ``wer.json`` or ``cer.json``;
    * ``stage_two_optimizer`` and ``stage_one_epochs``: SpeechBrain's two-stage training (its AISHELL-1
      recipe, which the published SummaryMixing AISHELL-1 runs used): after ``stage_one_epochs`` epochs the
      optimiser is replaced by ``stage_two_optimizer`` (SGD there). As in that recipe, ``lr_annealing`` keeps
      setting the learning rate after the switch, so the SGD's own learning rate only sets its first step.
    """

    RECIPE = "recipes/asr/train.py"
    """The recipe that trains this Brain (named in its exports)."""

    stage_two = False
    """Whether the optimiser is ``stage_two_optimizer`` (see the class documentation)."""

    def compute_forward(self, batch, stage):
        """CTC and decoder log-probabilities, and beam-search hypotheses when this stage searches."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        tokens_bos, _ = batch.tokens_bos
        if stage == sb.Stage.TRAIN and self.hparams.wav_augment is not None:
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
            tokens_bos = self.hparams.wav_augment.replicate_labels(tokens_bos)
        model = self.hparams.asr
        features = model["compute_features"](wavs)
        features = self.modules.normalize(features, wav_lens, epoch=self.hparams.epoch_counter.current)
        if stage == sb.Stage.TRAIN and self.hparams.fea_augment is not None:
            features, wav_lens = self.hparams.fea_augment(features, wav_lens)
            tokens_bos = self.hparams.fea_augment.replicate_labels(tokens_bos)
        encoded, decoded = self.modules.Transformer(
            self.modules.CNN(features), tokens_bos, wav_lens, pad_idx=model["pad_index"]
        )
        p_ctc = self.hparams.log_softmax(self.modules.ctc_lin(encoded))
        p_seq = self.hparams.log_softmax(self.modules.seq_lin(decoded))
        hypotheses = None
        if stage == sb.Stage.VALID and self.is_search_epoch():
            hypotheses, _, _, _ = model["valid_search"](encoded.detach(), wav_lens)
        elif stage == sb.Stage.TEST:
            hypotheses, _, _, _ = self.test_searcher()(encoded.detach(), wav_lens)
        return p_ctc, p_seq, wav_lens, hypotheses

    def test_searcher(self):
        """The test beam search: with the Transformer LM when ``lm_folder`` is set."""
        return self.hparams.asr["test_search_lm" if self.hparams.lm_folder else "test_search"]

    def is_search_epoch(self):
        """Whether this validation runs the beam search (every ``valid_search_interval`` epochs and the last)."""
        epoch = self.hparams.epoch_counter.current
        return epoch % self.hparams.valid_search_interval == 0 or epoch >= self.hparams.number_of_epochs

    def compute_objectives(self, predictions, batch, stage):
        """``ctc_weight`` x CTC + (1 - ``ctc_weight``) x the decoder's label-smoothed KL loss; metrics."""
        p_ctc, p_seq, wav_lens, hypotheses = predictions
        tokens_eos, tokens_eos_lens = batch.tokens_eos
        # the CTC targets: the tokens, or those of another text (direct SLU: the transcript, see speech_text)
        tokens, tokens_lens = getattr(batch, "ctc_tokens", batch.tokens)
        if stage == sb.Stage.TRAIN:
            for augment in (self.hparams.wav_augment, self.hparams.fea_augment):
                if augment is not None:
                    tokens_eos, tokens_eos_lens, tokens, tokens_lens = (
                        augment.replicate_labels(value) for value in (tokens_eos, tokens_eos_lens, tokens, tokens_lens)
                    )
        loss_seq = self.hparams.seq_cost(p_seq, tokens_eos, length=tokens_eos_lens).sum()
        loss_ctc = self.hparams.ctc_cost(p_ctc, tokens, wav_lens, tokens_lens).sum()
        loss = self.hparams.ctc_weight * loss_ctc + (1 - self.hparams.ctc_weight) * loss_seq
        if stage != sb.Stage.TRAIN:
            if hypotheses is not None:
                texts = [" ".join(self.tokenizer.decode_ids(hypothesis).split()) for hypothesis in hypotheses]
                self.scorer.append(batch.id, texts, [" ".join(words) for words in batch.wrd_words])
                if stage == sb.Stage.TEST:
                    self.test_hypotheses.update(zip(batch.id, texts))
            self.acc_metric.append(p_seq, tokens_eos, tokens_eos_lens)
        return loss

    @property
    def tokenizer(self):
        """The SentencePiece processor."""
        return self.hparams.tokenizer.sp

    def new_scorer(self):
        """What scores the decoded texts: :class:`ErrorRateScorer` with the ``metric`` hyperparameter."""
        return ErrorRateScorer(self.hparams.error_rate_computer(), getattr(self.hparams, "metric", "WER"))

    def init_optimizers(self):
        """SpeechBrain's optimiser, or the stage-two optimiser when the checkpoint about to be recovered was
        saved in stage two (so that its state loads into the right class)."""
        super().init_optimizers()
        if self._stage_one_epochs() is None or self.checkpointer is None:
            return
        checkpoint = self.checkpointer.find_checkpoint()
        saved = checkpoint and checkpoint.paramfiles.get("optimizer")
        if saved:
            saved_options = set(torch.load(saved, map_location="cpu", weights_only=True)["param_groups"][0])
            stage_two = self.hparams.stage_two_optimizer(self.modules.parameters())
            if saved_options == set(stage_two.param_groups[0]):
                self._switch_optimizer(stage_two)

    def on_fit_batch_start(self, batch, should_step):
        """Switches to the stage-two optimiser at the first batch after ``stage_one_epochs`` epochs."""
        stage_one_epochs = self._stage_one_epochs()
        if (
            not self.stage_two
            and stage_one_epochs is not None
            and self.hparams.epoch_counter.current > stage_one_epochs
        ):
            self._switch_optimizer(self.hparams.stage_two_optimizer(self.modules.parameters()))

    def _stage_one_epochs(self):
        """``stage_one_epochs`` when there is a ``stage_two_optimizer``, else None."""
        if getattr(self.hparams, "stage_two_optimizer", None) is None:
            return None
        if not isinstance(getattr(self.hparams, "stage_one_epochs", None), int):
            raise ValueError("stage_two_optimizer needs stage_one_epochs: the epochs before the switch")
        return self.hparams.stage_one_epochs

    def _switch_optimizer(self, optimizer):
        self.optimizer = optimizer
        self.optimizers_dict = {"opt_class": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.recoverables["optimizer"] = self.optimizer
        self.stage_two = True
        logger.info(f"Stage two: training continues with {type(self.optimizer).__name__}")

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the learning-rate schedule after each optimiser update."""
        if should_step:
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_start(self, stage, epoch):
        """Fresh metrics for validation and test."""
        if stage != sb.Stage.TRAIN:
            self.acc_metric = self.hparams.acc_computer()
            self.scorer = self.new_scorer()
            self.test_hypotheses = {}

    def on_stage_end(self, stage, stage_loss, epoch):
        """Logs; keeps the ``avg_checkpoints`` best checkpoints by validation accuracy (as SpeechBrain's recipe);
        writes the test set's ``wer_<test>.txt`` (alignments) and ``hypotheses_<test>.json``."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, "ACC": self.acc_metric.summarize()}
        if self.scorer.scores:
            stats.update(self.scorer.summarize())
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "steps": self.optimizer_step},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ACC": stats["ACC"], "epoch": epoch}, max_keys=["ACC"], num_to_keep=self.hparams.avg_checkpoints
            )
            return
        # evaluation runs on the main process alone: SpeechBrain's train logger would wait for the others
        logger.info(f"{self.test_name}: " + ", ".join(f"{key} {value:.4g}" for key, value in stats.items()))
        self.test_results[self.test_name] = self.scorer.result()
        self.results_name = self.scorer.name
        folder = self.hparams.output_folder
        with open(os.path.join(folder, f"{self.scorer.name}_{self.test_name}.txt"), "w", encoding="utf-8") as details:
            self.scorer.write_stats(details)
        hypotheses = json.dumps(self.test_hypotheses, indent=1, ensure_ascii=False)
        write_atomically(os.path.join(folder, f"hypotheses_{self.test_name}.json"), hypotheses)

    def check_hparams(self):
        """Loads the LM of ``lm_folder`` now, so that a folder of another kind of LM fails before training."""
        if self.hparams.lm_folder:
            load_language_model(self.hparams.asr["lm"]["model"], self.hparams.lm_folder, self.device)

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the average of the ``avg_checkpoints`` best checkpoints (by validation accuracy) into the model."""
        self.load_best_average(self.hparams.asr["model"], self.hparams.avg_checkpoints, max_key, min_key)

    def evaluate_test_sets(self, test_sets, loader_options):
        """Decodes every test set with the averaged model; writes ``wer.json`` (``{test set: WER}``), or
        ``cer.json`` when ``metric`` is ``CER``.

        Arguments
        ---------
        test_sets : dict
            ``{name: DynamicItemDataset}``.
        loader_options : dict
            The test data loader's options.

        Returns
        -------
        dict
            ``{test set: WER (or CER) in percent}``.
        """
        self.test_results = {}
        for name, dataset in test_sets.items():
            self.test_name = name
            self.evaluate(dataset, max_key="ACC", test_loader_kwargs=loader_options)
        results_file = os.path.join(self.hparams.output_folder, f"{self.results_name}.json")
        write_atomically(results_file, json.dumps(self.test_results, indent=1, ensure_ascii=False))
        return self.test_results

    def export_for_inference(self, hparams_folder):
        """Writes what ``speechbrain.inference.ASR.EncoderDecoderASR`` loads from the run folder:
        ``inference.yaml`` (``hparams_folder``'s template with this run's model values), ``asr.ckpt`` (the
        averaged model), ``normalizer.ckpt``, ``tokenizer.ckpt`` and, with an LM, ``lm.ckpt``."""
        folder, model = self.hparams.output_folder, self.hparams.asr
        torch.save(model["model"].state_dict(), os.path.join(folder, "asr.ckpt"))
        model["normalize"]._save(os.path.join(folder, "normalizer.ckpt"))
        shutil.copyfile(self.hparams.tokenizer.prefix_model_file + ".model", os.path.join(folder, "tokenizer.ckpt"))
        overrides = {"asr": included_values(os.path.join(hparams_folder, "model.yaml"), model)}
        if self.hparams.lm_folder:
            shutil.copyfile(os.path.join(self.hparams.lm_folder, "lm.ckpt"), os.path.join(folder, "lm.ckpt"))
            overrides["decoder"] = TaggedScalar("<asr[test_search_lm]>", tag="!ref")
            overrides["pretrainer"] = {"loadables": {"lm": TaggedScalar("<asr[lm][model]>", tag="!ref")}}
        with open(os.path.join(hparams_folder, "inference.yaml"), encoding="utf-8") as stream:
            resolved = resolve_references(stream, overrides=overrides)
        write_atomically(os.path.join(folder, "inference.yaml"), resolved.getvalue())
        files = ["asr.ckpt", "normalizer.ckpt", "tokenizer.ckpt"] + (["lm.ckpt"] if self.hparams.lm_folder else [])
        seal_export(folder, "EncoderDecoderASR", self.RECIPE, files)


class ErrorRateScorer:
    """The word error rate (``WER``) or the character error rate with spaces removed (``CER``, for Mandarin) of
    decoded texts, with SpeechBrain's ``ErrorRateStats``.

    Example
    -------
    >>> from speechbrain.utils.metric_stats import ErrorRateStats
    >>> scorer = ErrorRateScorer(ErrorRateStats(), "CER")
    >>> scorer.append(["a"], ["而 对 楼"], ["而对 楼市"])
    >>> scorer.summarize(), scorer.name
    ({'CER': 25.0}, 'cer')
    """

    def __init__(self, stats, metric="WER"):
        if metric not in ("WER", "CER"):
            raise ValueError(f"metric must be WER or CER, got {metric!r}")
        self.stats, self.headline, self.name = stats, metric, metric.lower()

    @property
    def scores(self):
        """Whether anything was scored."""
        return bool(self.stats.scores)

    def append(self, ids, hypotheses, references):
        """Scores decoded texts against the references (strings)."""
        if self.headline == "CER":  # strings without spaces: the error rate counts characters
            self.stats.append(ids, [t.replace(" ", "") for t in hypotheses], [t.replace(" ", "") for t in references])
        else:
            self.stats.append(ids, [t.split() for t in hypotheses], [t.split() for t in references])

    def summarize(self):
        """``{"WER" or "CER": percent}``."""
        return {self.headline: self.stats.summarize("error_rate")}

    def result(self):
        """What the results file holds per test set: the error rate."""
        return self.summarize()[self.headline]

    def write_stats(self, stream):
        """SpeechBrain's alignment details."""
        self.stats.write_stats(stream)


def load_language_model(lm, lm_folder, device):
    """Loads ``<lm_folder>/lm.ckpt`` (what ``recipes/lm/train.py`` exports) into ``lm``, with a clear error when
    the file is missing or holds another architecture."""
    check_export(lm_folder, "LM")
    path = os.path.join(lm_folder, "lm.ckpt")
    try:
        lm.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    except RuntimeError as error:
        first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))
        raise ValueError(
            f"lm_folder: {path} holds another LM than this recipe's Transformer LM (lm_* settings): {first}"
        ) from None
    lm.to(device).eval()
