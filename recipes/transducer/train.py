#!/usr/bin/env python3
"""Streaming Conformer transducer (arXiv 2409.07165) with SummaryMixing or self-attention.

Trains a Conformer-transducer with Dynamic Chunk Training on a LibriSpeech-format corpus, averages the best
checkpoints, writes a WER table for full context and for chunked decoding (masked and streamed), and leaves a folder
that ``speechbrain.inference.ASR.StreamingASR`` loads (``inference.yaml`` with the averaged weights).

Run (the bundled mini corpus, CPU, a few minutes):
    python recipes/transducer/train.py hparams/transducer/mini.yaml
Several processes (gloo on CPU, nccl on GPU):
    torchrun --standalone --nproc_per_node=2 recipes/transducer/train.py hparams/transducer/mini.yaml \
        --distributed_backend=gloo --device=cpu

Authors
 * SummaryMixing contributors 2026
"""

import os
import shutil
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from speechbrain.tokenizers.SentencePiece import SentencePiece
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from summarymixing.data import mini
from summarymixing.transducer_decoding import decode
from summarymixing.wer_table import FULL_CONTEXT, MODES, streaming_settings, write_wer_table

logger = get_logger(__name__)


class TransducerASR(sb.Brain):
    """Conformer transducer with CTC auxiliary loss and Dynamic Chunk Training."""

    def compute_features(self, wavs, wav_lens, stage):
        """Fbank (+ SpecAugment in training), normalisation and the convolutional front end."""
        feats = self.hparams.compute_features(wavs)
        if stage == sb.Stage.TRAIN and hasattr(self.hparams, "fea_augment"):
            feats, _ = self.hparams.fea_augment(feats, wav_lens)
        feats = self.modules.normalize(feats, wav_lens, epoch=self.hparams.epoch_counter.current)
        return self.modules.CNN(feats)

    def prediction_network(self, tokens_bos):
        """Runs the LSTM prediction network on blank-prefixed targets."""
        embedded = self.modules.emb(tokens_bos)
        hidden, _ = self.modules.dec(embedded)
        return self.modules.proj_dec(hidden)

    def compute_forward(self, batch, stage):
        """Encoder and prediction network outputs for the loss, plus greedy hypotheses in validation."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        tokens_bos, _ = batch.tokens_bos
        if stage == sb.Stage.TRAIN and hasattr(self.hparams, "wav_augment"):
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
            tokens_bos = self.hparams.wav_augment.replicate_labels(tokens_bos)

        src = self.compute_features(wavs, wav_lens, stage)
        dynchunktrain_config = self.hparams.dynchunktrain_config_sampler(stage)
        encoded = self.modules.enc(
            src, wav_lens, pad_idx=self.hparams.pad_index, dynchunktrain_config=dynchunktrain_config
        )
        encoded = self.modules.proj_enc(encoded)
        predicted = self.prediction_network(tokens_bos)

        ctc_log_probs = None
        if stage == sb.Stage.TRAIN and self.hparams.epoch_counter.current <= self.hparams.number_of_ctc_epochs:
            ctc_log_probs = self.hparams.log_softmax(self.modules.enc_lin(encoded))
        hypotheses = None
        if stage == sb.Stage.VALID and self.is_search_epoch():
            hypotheses = decode(
                self.modules.enc, self.modules.proj_enc, self.hparams.greedy_searcher, src, wav_lens, None, False
            )
        return ctc_log_probs, encoded, predicted, wav_lens, hypotheses

    def is_search_epoch(self):
        """Whether this validation decodes (every ``valid_search_interval`` epochs and at the last one)."""
        epoch = self.hparams.epoch_counter.current
        return epoch % self.hparams.valid_search_interval == 0 or epoch >= self.hparams.number_of_epochs

    def compute_objectives(self, predictions, batch, stage):
        """Transducer loss (joint network included), plus the weighted CTC loss in the first CTC epochs."""
        ctc_log_probs, encoded, predicted, wav_lens, hypotheses = predictions
        tokens, token_lens = batch.tokens
        if stage == sb.Stage.TRAIN and hasattr(self.hparams, "wav_augment"):
            tokens = self.hparams.wav_augment.replicate_labels(tokens)
            token_lens = self.hparams.wav_augment.replicate_labels(token_lens)

        loss = self.modules.transducer_joint_loss(encoded, predicted, tokens, wav_lens, token_lens)
        if ctc_log_probs is not None:
            ctc_loss = self.hparams.ctc_cost(ctc_log_probs, tokens, wav_lens, token_lens)
            loss = self.hparams.ctc_weight * ctc_loss + (1 - self.hparams.ctc_weight) * loss

        if hypotheses is not None:
            self.wer_metric.append(batch.id, [self.tokenizer.decode_ids(tokens).split() for tokens in hypotheses], batch.wrd_words)
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

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the average of the best checkpoints (by ``min_key``) into the model."""
        checkpoints = self.checkpointer.find_checkpoints(max_key=max_key, min_key=min_key)
        if not checkpoints:
            raise RuntimeError(f"No checkpoint with {min_key or max_key} in {self.checkpointer.checkpoints_dir}")
        averaged = sb.utils.checkpoints.average_checkpoints(checkpoints, recoverable_name="model")
        self.hparams.model.load_state_dict(averaged, strict=True)
        self.hparams.model.eval()
        logger.info(f"Averaged {len(checkpoints)} checkpoint(s): {[c.path.name for c in checkpoints]}")

    def evaluate_wer_table(self, test_sets):
        """Decodes every test set with full context and every chunked setting, masked and streamed.

        Arguments
        ---------
        test_sets : dict
            ``{name: DynamicItemDataset}``.

        Returns
        -------
        dict
            ``{test_set: {key: WER in percent}}``.
        """
        self.on_evaluate_start(min_key="WER")
        self.modules.eval()
        encoder, projection = unwrapped(self.modules.enc), unwrapped(self.modules.proj_enc)
        settings = streaming_settings(
            self.hparams.test_chunk_sizes_ms, self.hparams.test_left_contexts_chunks, self.hparams.encoder_frame_ms
        )
        runs = [(FULL_CONTEXT, None, False)] + [
            (f"{name}_{mode}", config, mode == "streamed") for name, config in settings for mode in MODES
        ]
        results = {}
        for test_name, dataset in test_sets.items():
            loader = self.make_dataloader(dataset, sb.Stage.TEST, ckpt_prefix=None, **self.hparams.test_dataloader_opts)
            metrics = {key: self.hparams.error_rate_computer() for key, _, _ in runs}
            mismatches = dict.fromkeys([name for name, _ in settings], 0)
            for batch in tqdm(loader, desc=f"WER table {test_name}", disable=self.noprogressbar):
                batch = batch.to(self.device)
                wavs, wav_lens = batch.sig
                with torch.no_grad(), self.evaluation_ctx:
                    src = self.compute_features(wavs, wav_lens, sb.Stage.TEST)
                hypotheses = {}
                for key, config, streamed in runs:
                    with self.evaluation_ctx:
                        hypotheses[key] = decode(
                            encoder, projection, self.hparams.greedy_searcher, src, wav_lens, config, streamed
                        )
                    words = [self.tokenizer.decode_ids(tokens).split() for tokens in hypotheses[key]]
                    metrics[key].append(batch.id, words, batch.wrd_words)
                for name in mismatches:
                    pairs = zip(hypotheses[f"{name}_masked"], hypotheses[f"{name}_streamed"])
                    mismatches[name] += sum(masked != streamed for masked, streamed in pairs)
            for name, count in mismatches.items():
                if count:
                    logger.warning(f"{test_name} {name}: masked and streamed hypotheses differ for {count} utterances")
            results[test_name] = {key: metric.summarize("error_rate") for key, metric in metrics.items()}
            with open(os.path.join(self.hparams.output_folder, f"wer_{test_name}.txt"), "w") as details:
                metrics[FULL_CONTEXT].write_stats(details)
        return results, [name for name, _ in settings]

    def export_for_inference(self, template_path):
        """Writes ``inference.yaml`` from ``template_path`` and the averaged weights, normaliser and tokenizer."""
        folder = self.hparams.output_folder
        torch.save(self.hparams.model.state_dict(), os.path.join(folder, "model.ckpt"))
        self.hparams.normalize._save(os.path.join(folder, "normalize.ckpt"))
        shutil.copyfile(self.tokenizer_path, os.path.join(folder, "tokenizer.ckpt"))
        with open(template_path, encoding="utf-8") as template:
            resolved = resolve_references(template, overrides=self.hparams.inference_overrides)
        with open(os.path.join(folder, "inference.yaml"), "w", encoding="utf-8") as inference_yaml:
            inference_yaml.write(resolved.getvalue())


def unwrapped(module):
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


def dataio_prepare(hparams, tokenizer):
    """Builds the train / valid / test datasets with audio and token pipelines."""
    data_folder = hparams["data_folder"]

    def load_sorted(csv_path):
        dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(
            csv_path=csv_path, replacements={"data_root": data_folder}
        )
        return dataset.filtered_sorted(sort_key="duration")

    train_data = sb.dataio.dataset.DynamicItemDataset.from_csv(
        csv_path=hparams["train_csv"], replacements={"data_root": data_folder}
    )
    if hparams["sorting"] in ("ascending", "descending"):
        train_data = train_data.filtered_sorted(
            sort_key="duration",
            reverse=hparams["sorting"] == "descending",
            key_max_value={"duration": hparams["avoid_if_longer_than"]},
        )
        hparams["train_dataloader_opts"]["shuffle"] = False
    elif hparams["sorting"] != "random":
        raise ValueError(f"sorting must be random, ascending or descending, got {hparams['sorting']!r}")
    else:
        train_data = train_data.filtered_sorted(key_max_value={"duration": hparams["avoid_if_longer_than"]})

    valid_data = load_sorted(hparams["valid_csv"])
    test_datasets = {
        os.path.splitext(os.path.basename(path))[0]: load_sorted(path) for path in hparams["test_csv"]
    }
    datasets = [train_data, valid_data] + list(test_datasets.values())

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd_words", "tokens_list", "tokens_bos", "tokens")
    def text_pipeline(wrd):
        yield wrd.split(" ")
        tokens_list = tokenizer.sp.encode_as_ids(wrd)
        yield tokens_list
        yield torch.LongTensor([hparams["bos_index"]] + tokens_list)
        yield torch.LongTensor(tokens_list)

    sb.dataio.dataset.add_dynamic_item(datasets, audio_pipeline)
    sb.dataio.dataset.add_dynamic_item(datasets, text_pipeline)
    sb.dataio.dataset.set_output_keys(datasets, ["id", "sig", "wrd_words", "tokens_bos", "tokens"])

    train_loader_opts = hparams["train_dataloader_opts"]
    if hparams["dynamic_batching"]:
        train_loader_opts = {
            "batch_sampler": sb.dataio.sampler.DynamicBatchSampler(
                train_data, length_func=lambda x: x["duration"], **hparams["dynamic_batch_sampler_train"]
            ),
            "num_workers": hparams["num_workers"],
        }
    return train_data, valid_data, test_datasets, train_loader_opts


def prepare_data(hparams):
    """Lays out the bundled mini corpus when asked, then runs the YAML's ``prepare_data`` (main process only)."""
    if hparams["mini_corpus_format"]:
        data_folder = os.path.abspath(hparams["data_folder"])
        laid_out = mini.layout(hparams["mini_corpus_format"], os.path.dirname(data_folder))
        if os.path.abspath(laid_out) != data_folder:
            raise ValueError(f"data_folder must be {laid_out} to hold the mini corpus, got {hparams['data_folder']}")
    hparams["prepare_data"]()


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"], hyperparams_to_save=hparams_file, overrides=overrides
    )

    if not hparams["skip_prep"]:
        run_on_main(prepare_data, kwargs={"hparams": hparams})
    tokenizer_options = {
        "model_dir": hparams["save_folder"],
        "vocab_size": hparams["output_neurons"],
        "annotation_train": hparams["train_csv"],
        "annotation_read": "wrd",
        "model_type": hparams["token_type"],
        "character_coverage": 1.0,
    }
    run_on_main(SentencePiece, kwargs=tokenizer_options)  # trains once; the other processes then load it
    tokenizer = SentencePiece(**tokenizer_options)
    train_data, valid_data, test_datasets, train_loader_opts = dataio_prepare(hparams, tokenizer)

    asr_brain = TransducerASR(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    asr_brain.tokenizer = tokenizer.sp
    asr_brain.tokenizer_path = tokenizer.prefix_model_file + ".model"
    asr_brain.fit(
        asr_brain.hparams.epoch_counter,
        train_data,
        valid_data,
        train_loader_kwargs=train_loader_opts,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    if if_main_process():
        results, settings = asr_brain.evaluate_wer_table(test_datasets)
        table = write_wer_table(results, settings, hparams["output_folder"])
        asr_brain.export_for_inference(os.path.join(os.path.dirname(hparams_file), hparams["inference_hparams_template"]))
        print(f"\nWER (%) on {', '.join(results)}, greedy decoding:\n{table}\n")
        print(f"Results, logs and the StreamingASR folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
