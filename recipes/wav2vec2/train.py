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

import sys

import speechbrain as sb
from speechbrain.dataio.sampler import DynamicBatchSampler

from summarymixing import experiment
from summarymixing.wav2vec2 import MaskingCollate
from summarymixing.wav2vec2.brain import Wav2Vec2Brain


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
