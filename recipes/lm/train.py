#!/usr/bin/env python3
"""A language model for shallow fusion: SpeechBrain's Transformer or RNN LM on text files and ASR transcripts.

Trains the LM of ``hparams/lm/transformer_lm.yaml`` (SpeechBrain's LibriSpeech Transformer LM, for the CTC +
attention recipes) or ``hparams/lm/rnn_lm.yaml`` (its RNN LM, for the transducer's beam search) with the tokenizer
the ASR model will share, and writes ``lm.yaml``, ``lm.ckpt`` and ``tokenizer.ckpt`` into the run folder; pass that
folder to an ASR or transducer recipe with ``--lm_folder``. Text comes from plain text files (one sentence per
line) and from the transcripts of the training manifests; nothing is downloaded.

Run (the bundled mini corpus's transcripts, CPU, a minute):
    python recipes/lm/train.py hparams/lm/mini.yaml
LibriSpeech (the LM corpus file and the 960 h transcripts):
    python recipes/lm/train.py hparams/lm/librispeech_transformer.yaml --data_folder=/path/LibriSpeech \
        --lm_corpus=/path/librispeech-lm-norm.txt
The transducer's RNN LM reads the transducer run's tokenizer (mini transcripts; LibriSpeech as above):
    python recipes/lm/train.py hparams/lm/transducer_mini_rnnlm.yaml \
        --tokenizer_file=results/transducer/mini/2026/tokenizer.ckpt

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.lm.brain import LanguageModelBrain
from summarymixing.lm.text import TextLines


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    tokenizer = hparams["tokenizer"].sp
    datasets = {
        split: TextLines(hparams[f"{split}_text"], tokenizer, hparams["bos_index"], hparams["eos_index"],
                         hparams["save_folder"])
        for split in ("train", "valid")
    }  # fmt: skip
    brain = LanguageModelBrain(
        modules={"model": hparams["lm"]["model"]},
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs={**hparams["train_dataloader_opts"], "collate_fn": PaddedBatch},
        valid_loader_kwargs={**hparams["valid_dataloader_opts"], "collate_fn": PaddedBatch},
    )
    if if_main_process():
        brain.export(os.path.dirname(run.base_file))
        print(f"LM and tokenizer for --lm_folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
