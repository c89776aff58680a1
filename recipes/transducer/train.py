#!/usr/bin/env python3
"""Streaming Conformer transducer (arXiv 2409.07165) with SummaryMixing or self-attention.

Trains a Conformer-transducer with Dynamic Chunk Training on a LibriSpeech-format corpus, averages the best
checkpoints, exports a run folder that ``summarymixing.transducer.inference.StreamingTransducerASR`` (SpeechBrain's
``StreamingASR``, exact from audio) loads, and writes a WER table: full context, and every chunk size and left
context decoded with chunk masks on the whole utterance (``masked``) and truly from audio, chunk by chunk, by the
exported folder (``streamed``, the path ``transcribe.py`` runs).

Run (the bundled mini corpus, CPU, a few minutes):
    python recipes/transducer/train.py hparams/transducer/mini.yaml
Several processes (gloo on CPU, nccl on GPU):
    torchrun --standalone --nproc_per_node=2 recipes/transducer/train.py hparams/transducer/mini.yaml \
        --distributed_backend=gloo --device=cpu

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.transducer.brain import TransducerBrain
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.transducer.wer_table import write_wer_table


def dataio_prepare(hparams):
    """Builds the train / valid / test datasets with audio and token pipelines."""
    data_folder = hparams["data_folder"]
    tokenizer = hparams["tokenizer"].sp

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
    test_datasets = {os.path.splitext(os.path.basename(path))[0]: load_sorted(path) for path in hparams["test_csv"]}
    datasets = [train_data, valid_data] + list(test_datasets.values())

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd_words", "tokens_list", "tokens_bos", "tokens")
    def text_pipeline(wrd):
        yield wrd.split(" ")
        tokens_list = tokenizer.encode_as_ids(wrd)
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


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    train_data, valid_data, test_datasets, train_loader_opts = dataio_prepare(hparams)

    asr_brain = TransducerBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    asr_brain.fit(
        asr_brain.hparams.epoch_counter,
        train_data,
        valid_data,
        train_loader_kwargs=train_loader_opts,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    if if_main_process():
        asr_brain.on_evaluate_start(min_key="WER")
        asr_brain.export_for_inference(os.path.dirname(run.base_file))
        streaming_asr = StreamingTransducerASR.from_hparams(
            source=hparams["output_folder"],
            savedir=os.path.join(hparams["output_folder"], "inference"),
            run_opts={"device": str(asr_brain.device)},
        )
        results, settings = asr_brain.evaluate_wer_table(test_datasets, streaming_asr)
        table = write_wer_table(results, settings, hparams["output_folder"])
        print(f"\nWER (%) on {', '.join(results)}, greedy decoding:\n{table}\n")
        print(f"Results, logs and the StreamingASR folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
