#!/usr/bin/env python3
"""CTC + attention ASR with SummaryMixing or self-attention encoders (arXiv 2307.07421, Table 1).

Trains a ``TransformerASR`` (Conformer / Branchformer encoder, Transformer decoder) with joint CTC and attention
losses, averages the best checkpoints, decodes every test set with joint CTC/attention beam search (with a
Transformer LM when ``--lm_folder`` names a run of ``recipes/lm/train.py``), writes ``wer.json`` and exports a
folder that SpeechBrain's ``EncoderDecoderASR`` loads.

Run (the bundled mini corpus, CPU, minutes):
    python recipes/asr/train.py hparams/asr/mini.yaml
Several processes (gloo on CPU, nccl on GPU):
    torchrun --standalone --nproc_per_node=2 recipes/asr/train.py hparams/asr/mini.yaml \
        --distributed_backend=gloo --device=cpu

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.asr.brain import CTCAttentionBrain
from summarymixing.data.speech_text import speech_text_datasets


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    model = hparams["asr"]
    train_data, valid_data, test_datasets, train_loader_options = speech_text_datasets(
        hparams, hparams["tokenizer"].sp, eos_index=model["eos_index"], speed_perturb=hparams["speed_perturb"]
    )
    brain = CTCAttentionBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        train_data,
        valid_data,
        train_loader_kwargs=train_loader_options,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        results = brain.evaluate_test_sets(test_datasets, hparams["test_dataloader_opts"])
        brain.export_for_inference(os.path.dirname(run.base_file))
        print("\nWER (%), joint CTC/attention beam search" + (", Transformer LM" if hparams["lm_folder"] else ""))
        for name, wer in results.items():
            print(f"  {name}: {wer:.2f}")
        print(f"Results, logs and the EncoderDecoderASR folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
