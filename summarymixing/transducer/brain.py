"""The transducer recipe's ``Brain``: what one training step, validation, export and the WER table do.

Authors
-------
* The summarymixing contributors (2026)
"""

import json
import os
import shutil
import time

import speechbrain as sb
import torch
from hyperpyyaml import resolve_references
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from summarymixing.lm.folder import LM_FILES
from summarymixing.recipe_brain import RecipeBrain
from summarymixing.run_folder import EXPORT_FILE, included_values, seal_export, write_atomically
from summarymixing.transducer.decoding import decode_masked
from summarymixing.transducer.loss import relative_to_absolute_lengths
from summarymixing.transducer.wer_table import FULL_CONTEXT, streaming_settings

logger = get_logger(__name__)


class TransducerBrain(RecipeBrain):
    """Trains the Conformer transducer of ``hparams/transducer/model.yaml`` (arXiv 2409.07165): transducer loss
    with the CTC auxiliary loss in the first epochs, Dynamic Chunk Training, checkpoint averaging, export of a
    :class:`~summarymixing.transducer.inference.StreamingTransducerASR` folder, and the streaming WER table.

    The recipe ``recipes/transducer/train.py`` runs it; ``summarymixing.benchmarks.transducer`` times its
    :meth:`fit_batch`, so the benchmark measures the step the recipe runs."""

    RECIPE = "recipes/transducer/train.py"
    """The recipe that trains this Brain (named in its exports)."""

    def compute_frames(self, wavs, wav_lens, stage):
        """The front end (fbank, SpecAugment in training after ``augment_warmup_steps`` optimiser steps,
        normalisation, CNN): frames and their relative lengths."""
        augmenting = stage == sb.Stage.TRAIN and self.optimizer_step >= self.hparams.augment_warmup_steps
        augment = self.hparams.fea_augment if augmenting else None
        return self.modules.front_end(wavs, wav_lens, augment=augment, epoch=self.hparams.epoch_counter.current)

    def prediction_network(self, tokens_bos, stage):
        """Runs the LSTM prediction network on blank-prefixed targets, with the published recipe's dropout on its
        input embedding and on its output in training."""
        training = stage == sb.Stage.TRAIN
        model = self.hparams.transducer
        embedded = torch.nn.functional.dropout(self.modules.emb(tokens_bos), model["dec_emb_dropout"], training)
        hidden, _ = self.modules.dec(embedded)
        return self.modules.proj_dec(torch.nn.functional.dropout(hidden, model["dec_dropout"], training))

    def compute_forward(self, batch, stage):
        """Encoder and prediction network outputs for the loss, plus greedy hypotheses in validation."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        tokens_bos, _ = batch.tokens_bos
        if stage == sb.Stage.TRAIN and self.hparams.wav_augment is not None:
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
            tokens_bos = self.hparams.wav_augment.replicate_labels(tokens_bos)

        frames, frame_lens = self.compute_frames(wavs, wav_lens, stage)
        dynchunktrain_config = self.hparams.dynchunktrain_config_sampler(stage)
        encoded = self.modules.enc(
            frames, frame_lens, pad_idx=self.hparams.pad_index, dynchunktrain_config=dynchunktrain_config
        )
        encoded = self.modules.proj_enc(encoded)
        predicted = self.prediction_network(tokens_bos, stage)

        ctc_log_probs = None
        if stage == sb.Stage.TRAIN and self.hparams.epoch_counter.current <= self.hparams.number_of_ctc_epochs:
            ctc_log_probs = self.hparams.log_softmax(self.modules.enc_lin(encoded))
        hypotheses = None
        if stage == sb.Stage.VALID and self.is_search_epoch():
            lengths = relative_to_absolute_lengths(frame_lens, encoded.shape[1])
            hypotheses = self.hparams.transducer["greedy_searcher"].decode(encoded.detach(), lengths)
        return ctc_log_probs, encoded, predicted, frame_lens, hypotheses

    def is_search_epoch(self):
        """Whether this validation decodes (every ``valid_search_interval`` epochs and at the last one)."""
        epoch = self.hparams.epoch_counter.current
        return epoch % self.hparams.valid_search_interval == 0 or epoch >= self.hparams.number_of_epochs

    def compute_objectives(self, predictions, batch, stage):
        """Transducer loss (joint network included), plus the weighted CTC loss in the first CTC epochs."""
        ctc_log_probs, encoded, predicted, frame_lens, hypotheses = predictions
        tokens, token_lens = batch.tokens
        if stage == sb.Stage.TRAIN and self.hparams.wav_augment is not None:
            tokens = self.hparams.wav_augment.replicate_labels(tokens)
            token_lens = self.hparams.wav_augment.replicate_labels(token_lens)

        loss = self.modules.joint_loss(encoded, predicted, tokens, frame_lens, token_lens)
        if ctc_log_probs is not None:
            ctc_loss = self.hparams.ctc_cost(ctc_log_probs, tokens, frame_lens, token_lens)
            loss = self.hparams.ctc_weight * ctc_loss + (1 - self.hparams.ctc_weight) * loss

        if hypotheses is not None:
            words = [self.hparams.tokenizer.sp.decode_ids(tokens).split() for tokens in hypotheses]
            self.wer_metric.append(batch.id, words, batch.wrd_words)
        return loss

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Steps the learning-rate schedule after each optimiser update."""
        if should_step:
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_start(self, stage, epoch):
        """Fresh error-rate statistics for validation."""
        if stage != sb.Stage.TRAIN:
            self.wer_metric = self.hparams.error_rate_computer()

    def on_stage_end(self, stage, stage_loss, epoch):
        """Logs, checkpoints (keeping the best ``avg_checkpoints`` by validation WER)."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stage_stats = {"loss": stage_loss}
        if self.wer_metric.scores:
            stage_stats["WER"] = self.wer_metric.summarize("error_rate")
        lr = self.optimizer.param_groups[0]["lr"]
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "lr": lr, "steps": self.optimizer_step},
            train_stats=self.train_stats,
            valid_stats=stage_stats,
        )
        self.checkpointer.save_and_keep_only(
            meta={**stage_stats, "epoch": epoch},
            min_keys=["WER"],
            num_to_keep=self.hparams.avg_checkpoints,
        )

    def check_hparams(self):
        """The WER table's chunk sizes and left contexts (checked before training rather than after)."""
        streaming_settings(
            self.hparams.test_chunk_sizes_ms, self.hparams.test_left_contexts_chunks, self.hparams.encoder_frame_ms
        )

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the average of the ``avg_checkpoints`` best checkpoints (by ``min_key``) into the model."""
        self.load_best_average(self.hparams.transducer["model"], self.hparams.avg_checkpoints, max_key, min_key)

    def export_for_inference(self, hparams_folder):
        """Writes the run folder's ``inference.yaml`` (``hparams_folder``'s, with this run's model values and test
        search), the model's weights, the feature normaliser, the tokenizer and, when the test search fuses an LM,
        the LM folder's files in ``lm/``, for :class:`StreamingTransducerASR`."""
        folder = self.hparams.output_folder
        search = {"beam_size": self.hparams.test_beam_size, "lm_weight": 0.0}
        if self.hparams.lm_folder is not None:
            search["lm_weight"] = self.hparams.lm_weight
            os.makedirs(os.path.join(folder, "lm"), exist_ok=True)
            for name in (*LM_FILES, EXPORT_FILE):
                shutil.copyfile(os.path.join(self.hparams.lm_folder, name), os.path.join(folder, "lm", name))
        torch.save(self.hparams.transducer["model"].state_dict(), os.path.join(folder, "model.ckpt"))
        self.hparams.transducer["normalize"]._save(os.path.join(folder, "normalize.ckpt"))
        shutil.copyfile(self.hparams.tokenizer.prefix_model_file + ".model", os.path.join(folder, "tokenizer.ckpt"))
        architecture = included_values(os.path.join(hparams_folder, "model.yaml"), self.hparams.transducer)
        with open(os.path.join(hparams_folder, "inference.yaml"), encoding="utf-8") as template:
            resolved = resolve_references(template, overrides={"transducer": architecture, **search})
        write_atomically(os.path.join(folder, "inference.yaml"), resolved.getvalue())
        seal_export(folder, "StreamingTransducerASR", self.RECIPE, ["model.ckpt", "normalize.ckpt", "tokenizer.ckpt"])

    def continuous_wer(self, dataset, streaming_asr, config, test_name):
        """Streams a test set as one recording (its utterances in order, ``continuous_pause_s`` of silence after
        each) through :class:`~summarymixing.transducer.streaming.TranscriptionStream` with ``endpoint_rules``,
        reading one utterance at a time (flat memory), and scores the transcript against the joined references.

        Returns
        -------
        wer : float
            Percent.
        rtf : float
            The decoding's real-time factor.
        text : str
            The transcript.
        """
        stream = streaming_asr.stream(config, self.hparams.endpoint_rules)
        pause = torch.zeros(int(self.hparams.continuous_pause_s * self.hparams.transducer["sample_rate"]))
        segments, references, seconds = [], [], 0.0
        for item in tqdm(dataset, desc=f"continuous {test_name}", disable=self.noprogressbar):
            references += item["wrd_words"]
            started = time.perf_counter()
            segments += stream.feed(item["sig"]) + stream.feed(pause)
            seconds += time.perf_counter() - started
        started = time.perf_counter()
        segments += stream.finish()
        seconds += time.perf_counter() - started
        text = " ".join(segment.text for segment in segments if segment.text)
        metric = self.hparams.error_rate_computer()
        metric.append([test_name], [text.split()], [references])
        return metric.summarize("error_rate"), seconds / (stream.samples / self.hparams.transducer["sample_rate"]), text

    def evaluate_wer_table(self, test_sets, streaming_asr, searcher):
        """Decodes every test set with full context and every chunked setting, masked and streamed from audio
        utterance by utterance, and as one continuous recording (the utterances joined by ``continuous_pause_s`` of
        silence, cut into segments by ``endpoint_rules``, scored against the joined references).

        Arguments
        ---------
        test_sets : dict
            ``{name: DynamicItemDataset}``.
        streaming_asr : StreamingTransducerASR
            The exported run folder, loaded with the same search: the streamed column runs it on each utterance's
            audio, chunk by chunk.
        searcher : summarymixing.transducer.search.TransducerSearcher
            The search of the masked columns (greedy or beam search, with or without LM).

        Returns
        -------
        results : dict
            ``{test_set: {key: WER in percent}}``, plus ``<setting>_streamed_rtf`` and ``<setting>_continuous_rtf``:
            the real-time factors of the streamed decodings (seconds of computation per second of audio, front end
            to text).
        settings : list of str
            The chunked settings' names, in table order.
        """
        self.modules.eval()
        searcher.to(self.device).eval()
        settings = streaming_settings(
            self.hparams.test_chunk_sizes_ms, self.hparams.test_left_contexts_chunks, self.hparams.encoder_frame_ms
        )
        sample_rate = self.hparams.transducer["sample_rate"]
        results = {}
        for test_name, dataset in test_sets.items():
            loader = self.make_dataloader(dataset, sb.Stage.TEST, ckpt_prefix=None, **self.hparams.test_dataloader_opts)
            keys = [FULL_CONTEXT] + [f"{name}_{mode}" for name, _ in settings for mode in ("masked", "streamed")]
            metrics = {key: self.hparams.error_rate_computer() for key in keys}
            texts = {key: {} for key in keys}
            streaming_seconds, audio_seconds = {name: 0.0 for name, _ in settings}, 0.0
            for batch in tqdm(loader, desc=f"WER table {test_name}", disable=self.noprogressbar):
                batch = batch.to(self.device)
                wavs, wav_lens = batch.sig
                with torch.no_grad(), self.evaluation_ctx:
                    frames, frame_lens = self.compute_frames(wavs, wav_lens, sb.Stage.TEST)
                    hypotheses = {
                        FULL_CONTEXT: decode_masked(
                            self.modules.enc, self.modules.proj_enc, searcher, frames, frame_lens, None
                        )
                    }
                    for name, config in settings:
                        hypotheses[f"{name}_masked"] = decode_masked(
                            self.modules.enc, self.modules.proj_enc, searcher, frames, frame_lens, config
                        )
                for key, tokens in hypotheses.items():
                    for utterance, hypothesis in zip(batch.id, tokens):
                        texts[key][utterance] = " ".join(self.hparams.tokenizer.sp.decode_ids(hypothesis).split())
                samples = torch.round(wav_lens * wavs.shape[1]).long()
                audio_seconds += float(samples.sum()) / sample_rate
                for name, config in settings:
                    started = time.perf_counter()
                    for utterance, wav, length in zip(batch.id, wavs, samples):
                        text = "".join(streaming_asr.transcribe_waveform_streaming(wav[:length].cpu(), config))
                        texts[f"{name}_streamed"][utterance] = " ".join(text.split())
                    streaming_seconds[name] += time.perf_counter() - started
                for key in keys:
                    words = [texts[key][utterance].split() for utterance in batch.id]
                    metrics[key].append(batch.id, words, batch.wrd_words)
            for name, _ in settings:
                differ = sum(texts[f"{name}_masked"][u] != texts[f"{name}_streamed"][u] for u in texts[FULL_CONTEXT])
                if differ:
                    logger.warning(f"{test_name} {name}: masked and streamed hypotheses differ for {differ} utterances")
            results[test_name] = {key: metric.summarize("error_rate") for key, metric in metrics.items()}
            for name, _ in settings:
                results[test_name][f"{name}_streamed_rtf"] = streaming_seconds[name] / max(audio_seconds, 1e-9)
            for name, config in settings:
                wer, rtf, text = self.continuous_wer(dataset, streaming_asr, config, test_name)
                results[test_name].update({f"{name}_continuous": wer, f"{name}_continuous_rtf": rtf})
                texts[f"{name}_continuous"] = text
            write_atomically(
                os.path.join(self.hparams.output_folder, f"hypotheses_{test_name}.json"), json.dumps(texts, indent=1)
            )
            with open(os.path.join(self.hparams.output_folder, f"wer_{test_name}.txt"), "w") as details:
                metrics[FULL_CONTEXT].write_stats(details)
        return results, [name for name, _ in settings]
