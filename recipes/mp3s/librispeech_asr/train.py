#!/usr/bin/env python3
"""MP3S probe: LibriSpeech train-clean-100 character CTC ASR on a frozen wav2vec 2.0 encoder.

The frozen encoder's hidden layers are summed with learned softmax weights and fed to a probing head
(2-layer BiLSTM or ContextNet, chosen by the hparams file) with a linear CTC output over characters.
Greedy CTC decoding; WER on test-clean and test-other.

To run (full scale; add torchrun for DDP, e.g. ``torchrun --nproc_per_node=4 ...``):
    python recipes/mp3s/librispeech_asr/train.py hparams/mp3s/librispeech_asr/bilstm.yaml \
        --ssl_folder results/wav2vec2/summarymixing --data_folder /path/to/LibriSpeech

On the bundled mini corpus (laid out in LibriSpeech format, prepared by the real preparation):
    python recipes/mp3s/librispeech_asr/train.py hparams/mp3s/librispeech_asr/mini.yaml \
        --ssl_folder results/wav2vec2/mini

An interrupted run resumes from its last checkpoint when started again with the same output folder.

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from summarymixing import experiment
from summarymixing.probes import CTCProbeBrain, head_label, write_results
from summarymixing.probes.data import add_audio, load_manifest
from summarymixing.probes.recipe import fit_probe


class LibriSpeechProbe(CTCProbeBrain):
    """Character CTC probe; tokens are decoded by the recipe's ``CTCTextEncoder``."""

    def decode_tokens(self, token_ids):
        """Joins the characters of a greedy CTC output; an output with no character (the CTC layer may be larger
        than the training transcripts' alphabet) reads as the unknown label."""
        encoder = self.hparams.label_encoder
        unknown = encoder.ind2lab[self.hparams.unk_index]
        return "".join(encoder.ind2lab.get(int(token), unknown) for token in token_ids)


def dataio_prepare(hparams):
    """Creates the train, valid and test datasets with waveforms and character tokens."""
    manifests = [("train", hparams["train_csv"]), ("valid", hparams["valid_csv"])]
    manifests += list(zip(hparams["test_splits"], hparams["test_csv"]))
    datasets = {name: load_manifest(path, hparams["sorting"], hparams["select_n"]) for name, path in manifests}

    label_encoder = hparams["label_encoder"]

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd", "char_list", "tokens")
    def text_pipeline(wrd):
        yield wrd
        char_list = list(wrd)
        yield char_list
        yield label_encoder.encode_sequence_torch(char_list)

    add_audio(list(datasets.values()), hparams["sample_rate"])
    sb.dataio.dataset.add_dynamic_item(list(datasets.values()), text_pipeline)
    # SpeechBrain's special label "unk_label" is the unknown label itself, appended after the characters: given
    # unk_index it would add the label 1 at the end. "<unk>" is placed at unk_index before the characters instead.
    label_encoder.insert_label("<unk>", hparams["unk_index"])
    label_encoder.unk_label = "<unk>"
    label_encoder.load_or_create(
        path=os.path.join(hparams["save_folder"], "label_encoder.txt"),
        from_didatasets=[datasets["train"]],
        output_key="char_list",
        special_labels={"blank_label": hparams["blank_index"]},
        sequence_input=True,
    )
    if len(label_encoder) > hparams["output_neurons"]:
        raise ValueError(
            f"the training transcripts have {len(label_encoder)} characters (with blank) but "
            f"output_neurons is {hparams['output_neurons']}: raise output_neurons"
        )
    label_encoder.ignore_len()  # checked above: the CTC layer may have more outputs than characters
    sb.dataio.dataset.set_output_keys(list(datasets.values()), ["id", "sig", "wrd", "tokens"])
    return datasets


def main(argv):
    """Prepares the data, trains the probe, tests it and writes ``results.json``."""
    run = experiment.setup(argv)
    hparams, run_opts = run.hparams, run.run_opts
    datasets = dataio_prepare(hparams)
    probe = fit_probe(LibriSpeechProbe, hparams, run_opts, datasets["train"], datasets["valid"])
    metrics = {}
    for name in hparams["test_splits"]:
        probe.evaluate(datasets[name], min_key="WER", test_loader_kwargs=hparams["test_dataloader_opts"])
        metrics.update({f"{key} {name}": value for key, value in probe.test_stats.items()})
    run_on_main(  # the barrier keeps the other processes alive until the results are written
        write_results,
        kwargs={
            "output_folder": hparams["output_folder"],
            "task": "librispeech_asr",
            "head": head_label(hparams),
            "metrics": metrics,
            "reported": [f"WER {name}" for name in hparams["test_splits"]],
            "layer_weights": probe.layer_weights(),
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
