#!/usr/bin/env python3
"""Streaming Conformer transducer (arXiv 2409.07165) with SummaryMixing or self-attention.

Trains a Conformer-transducer with Dynamic Chunk Training on a LibriSpeech-format corpus, averages the best
checkpoints, exports a run folder that ``summarymixing.transducer.inference.StreamingTransducerASR`` (SpeechBrain's
``StreamingASR``, exact from audio) loads, and writes a WER table: full context, and every chunk size and left
context decoded with chunk masks on the whole utterance (``masked``) and truly from audio, chunk by chunk, by the
exported folder (``streamed``, the path ``transcribe.py`` runs), with the real-time factor of the streamed
decoding. Test decoding is greedy or, with ``test_beam_size`` above 1, beam search, with an RNN LM run folder of
``recipes/lm/train.py`` fused when ``lm_folder`` is set (the paper YAMLs: beam 10, LM weight 0.5).

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

from speechbrain.utils.distributed import if_main_process

from summarymixing import experiment
from summarymixing.data.speech_text import speech_text_datasets
from summarymixing.transducer.brain import TransducerBrain
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.transducer.search import searcher_for
from summarymixing.transducer.wer_table import write_wer_table


def main():
    run = experiment.setup(sys.argv[1:])
    hparams = run.hparams
    train_data, valid_data, test_datasets, train_loader_opts = speech_text_datasets(
        hparams, hparams["tokenizer"].sp, joined=hparams["joined_utterances"]
    )
    # Built before training, so that a wrong LM folder fails now rather than after the last epoch
    test_searcher = searcher_for(
        hparams["transducer"], hparams["test_beam_size"], hparams["lm_folder"], hparams["lm_weight"],
        tokenizer_file=hparams["tokenizer"].prefix_model_file + ".model",
    )  # fmt: skip

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
        results, settings = asr_brain.evaluate_wer_table(test_datasets, streaming_asr, test_searcher)
        table = write_wer_table(results, settings, hparams["output_folder"])
        search = "greedy" if hparams["test_beam_size"] == 1 else f"beam {hparams['test_beam_size']}"
        if hparams["lm_folder"] is not None:
            search += f", RNN LM weight {hparams['lm_weight']}"
        print(f"\nWER (%) on {', '.join(results)}, {search} decoding:\n{table}\n")
        print(f"Results, logs and the StreamingASR folder: {hparams['output_folder']}")


if __name__ == "__main__":
    main()
