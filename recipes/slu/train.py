#!/usr/bin/env python3
"""Direct spoken language understanding on SLURP with SummaryMixing or self-attention encoders (arXiv 2307.07421).

Trains the CTC + attention ASR model (``hparams/asr/model.yaml``) to write SLURP's semantic frame (scenario,
action, entities) from speech, as SpeechBrain's direct SLURP recipe does, with the encoder's CTC loss on the
transcript (the encoder is trained from scratch; SpeechBrain's starts from a pre-trained ASR encoder); decodes
the test set with beam search and writes ``slu.json`` (scenario / action / intent accuracy and SLU-F1, SLURP's
metrics) and the folder that SpeechBrain's ``EncoderDecoderASR`` loads (it transcribes audio into the semantics
string).

Run (the bundled mini corpus, CPU, minutes):
    python recipes/slu/train.py hparams/slu/mini.yaml

Authors
 * SummaryMixing contributors 2026
"""

import os
import sys

from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.data.speech_text import speech_text_datasets
from summarymixing.slu.brain import SLUBrain


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    model = hparams["asr"]
    train_data, valid_data, test_datasets, train_loader_options = speech_text_datasets(
        hparams, hparams["tokenizer"].sp, eos_index=model["eos_index"], text_column="semantics",
        ctc_text_column="transcript",
    )  # fmt: skip
    brain = SLUBrain(
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
        brain.export_for_inference(os.path.dirname(run.base_file))  # hparams/asr: the model and its inference
        print("\nSLURP metrics (%), beam search")
        for name, metrics in results.items():
            print(f"  {name}: " + ", ".join(f"{key} {value:.2f}" for key, value in metrics.items()))
        print(f"Results, logs and the EncoderDecoderASR folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
