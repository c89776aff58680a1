#!/usr/bin/env python3
"""MP3S probe: low-resource CTC ASR on CommonVoice Welsh (cy) or Basque (eu), frozen wav2vec 2.0 encoder.

The frozen encoder's hidden layers are summed with learned softmax weights and fed to a probing head
(2-layer BiLSTM or one linear layer, chosen by the hparams file) with a linear CTC output over a
SentencePiece vocabulary trained on the training transcripts (BPE 100 as in MP3S). Greedy CTC
decoding; WER on the test set.

To run (full scale; add torchrun for DDP):
    python recipes/mp3s/commonvoice_asr/train.py hparams/mp3s/commonvoice_asr/bilstm.yaml \
        --language=cy --ssl_folder results/wav2vec2/summarymixing \
        --data_folder /path/to/cv-corpus-11.0/cy

On the bundled mini corpus (laid out in CommonVoice's format, prepared by the real preparation):
    python recipes/mp3s/commonvoice_asr/train.py hparams/mp3s/commonvoice_asr/mini.yaml \
        --language=eu --ssl_folder results/wav2vec2/mini/1986

An interrupted run resumes from its last checkpoint when started again with the same output folder.

Authors
 * SummaryMixing contributors 2026
"""

import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import run_on_main

from summarymixing import experiment
from summarymixing.probes import CTCProbeBrain, head_label, write_results
from summarymixing.probes.data import add_audio, load_manifest
from summarymixing.probes.recipe import fit_probe


class CommonVoiceProbe(CTCProbeBrain):
    """Subword CTC probe; tokens are decoded by the SentencePiece model."""

    def decode_tokens(self, token_ids):
        """Decodes subword ids to text."""
        return self.hparams.tokenizer.sp.decode_ids(token_ids)


def dataio_prepare(hparams, tokenizer):
    """Creates the train, valid and test datasets with waveforms and subword tokens."""
    datasets = {
        name: load_manifest(
            hparams[f"{name}_csv"],
            hparams["sorting"],
            hparams["select_n"],
            hparams["avoid_if_longer_than"],
        )
        for name in ("train", "valid", "test")
    }

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd", "tokens")
    def text_pipeline(wrd):
        yield wrd
        yield torch.LongTensor(tokenizer.sp.encode_as_ids(wrd))

    add_audio(list(datasets.values()), hparams["sample_rate"])
    sb.dataio.dataset.add_dynamic_item(list(datasets.values()), text_pipeline)
    sb.dataio.dataset.set_output_keys(list(datasets.values()), ["id", "sig", "wrd", "tokens"])
    return datasets


def main(argv):
    """Prepares the data and tokenizer, trains the probe, tests it and writes ``results.json``."""
    run = experiment.setup(argv)
    hparams, run_opts = run.hparams, run.run_opts
    datasets = dataio_prepare(hparams, hparams["tokenizer"])
    probe = fit_probe(CommonVoiceProbe, hparams, run_opts, datasets["train"], datasets["valid"])
    probe.evaluate(datasets["test"], min_key="WER", test_loader_kwargs=hparams["test_dataloader_opts"])
    run_on_main(  # the barrier keeps the other processes alive until the results are written
        write_results,
        kwargs={
            "output_folder": hparams["output_folder"],
            "task": f"commonvoice_{hparams['language']}",
            "head": head_label(hparams),
            "metrics": probe.test_stats,
            "reported": ["WER"],
            "layer_weights": probe.layer_weights(),
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
