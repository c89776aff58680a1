"""Training-step time and peak memory of the paper-size CTC + attention models: SummaryMixing vs self-attention.

For the Conformer and the Branchformer of arXiv 2307.07421's Table 1 (``hparams/asr/librispeech_conformer_*.yaml``
and ``librispeech_branchformer_*.yaml``, built as the recipe builds them), one step is the recipe's own training
step, ``CTCAttentionBrain.fit_batch`` (:mod:`summarymixing.asr.brain`): fbank -> normalisation -> SpecAugment ->
CNN front end -> encoder -> 6-layer decoder -> CTC + label-smoothed attention losses -> backward -> clipping ->
AdamW step and Noam schedule, on random audio of each length with 4 tokens per second, batch 1 (``--batch``). The
random draws are seeded before every step. A third model per encoder, ``no mixer``, is the SummaryMixing one with
every encoder layer's mixer returning zeros (:class:`summarymixing.benchmarks.timing.NoMixer`): its time against
self-attention's is the most any mixer could save.

The paper reports, over a whole LibriSpeech training on GPUs: Conformer -28.5% GPU-hours and -54% VRAM,
Branchformer -20.5% and -42% (SummaryMixing against self-attention).

    python -m summarymixing.benchmarks.asr                          # both encoders, 5, 10, 20, 40 s
    python -m summarymixing.benchmarks.asr --encoders conformer --lengths 5 20 60 100
    python -m summarymixing.benchmarks.asr --device cuda --precision fp16

Times on a CPU are this process's CPU time on one thread (see :mod:`summarymixing.benchmarks.timing`); peak memory
is the most bytes the step allocates at once above what was allocated before it.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import os
import tempfile

import torch

from summarymixing.asr.brain import CTCAttentionBrain
from summarymixing.benchmarks.steps import change, paper_brain, speech_batch
from summarymixing.benchmarks.timing import Target, add_target_arguments, best_times, positive_float, positive_int

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "asr")
NO_MIXER = "no mixer"
MODELS = {
    "conformer": {
        "SummaryMixing": "librispeech_conformer_summarymixing.yaml",
        "MHSA": "librispeech_conformer_mhsa.yaml",
        NO_MIXER: "librispeech_conformer_summarymixing.yaml",
    },
    "branchformer": {
        "SummaryMixing": "librispeech_branchformer_summarymixing.yaml",
        "MHSA": "librispeech_branchformer_mhsa.yaml",
        NO_MIXER: "librispeech_branchformer_summarymixing.yaml",
    },
}
PAPER = {"conformer": (-28.5, -54.0), "branchformer": (-20.5, -42.0)}
"""Table 1 of arXiv 2307.07421: SummaryMixing's change of GPU-hours and VRAM against self-attention, in %."""


def build(hparams_name, target, output_folder, no_mixer=False):
    """The recipe's ``CTCAttentionBrain`` of a paper YAML on ``target``, ready to fit batches."""
    path = os.path.join(HPARAMS_FOLDER, hparams_name)
    return paper_brain(CTCAttentionBrain, path, "asr", target, output_folder, no_mixer)


def measure(encoder, lengths, batch, rounds, target):
    """``{model: {seconds: (step seconds, peak bytes)}}`` for one encoder's three models."""
    results = {}
    for name, hparams_name in MODELS[encoder].items():
        torch.manual_seed(0)
        results[name] = {}
        with tempfile.TemporaryDirectory() as output_folder:
            brain = build(hparams_name, target, output_folder, no_mixer=name == NO_MIXER)
            model = brain.hparams.asr
            for seconds in lengths:
                data = speech_batch(batch, seconds, model["output_neurons"], model["bos_index"], model["eos_index"])

                def step(data=data, brain=brain):
                    torch.manual_seed(0)
                    brain.fit_batch(data)

                best = best_times({"step": step}, target.clock(), rounds, budget_s=0.0)["step"]
                peak = target.peak_memory(step)
                results[name][seconds] = (best, peak)
                print(
                    f"  {encoder} {name:13s} {batch} x {seconds:g} s: {best:7.2f} s/step, {peak / 2**20:6.0f} MiB "
                    f"peak (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            del brain
    return results


def print_table(encoder, results, lengths, batch, target):
    """SummaryMixing against self-attention, with the no-mixer ceiling and the paper's changes."""
    sm, mhsa, none = (results[name] for name in ("SummaryMixing", "MHSA", NO_MIXER))
    print(f"\n{encoder} CTC + attention training step (the recipe's fit_batch), paper size, {target.describe()}")
    print(
        "| batch x length | SM time (s) | MHSA time (s) | time change | ceiling | SM peak (MiB) | MHSA peak (MiB) "
        "| peak change | memory floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seconds in lengths:
        (sm_time, sm_peak), (mhsa_time, mhsa_peak), (none_time, none_peak) = sm[seconds], mhsa[seconds], none[seconds]
        print(
            f"| {batch} x {seconds:g} s | {sm_time:.2f} | {mhsa_time:.2f} | {change(sm_time, mhsa_time):+.1f}% | "
            f"{change(none_time, mhsa_time):+.1f}% | {sm_peak / 2**20:.0f} | {mhsa_peak / 2**20:.0f} | "
            f"{change(sm_peak, mhsa_peak):+.1f}% | {change(none_peak, mhsa_peak):+.1f}% |"
        )
    time_change = change(sum(sm[s][0] for s in lengths), sum(mhsa[s][0] for s in lengths))
    peak_change = change(max(sm[s][1] for s in lengths), max(mhsa[s][1] for s in lengths))
    paper_time, paper_memory = PAPER[encoder]
    print(
        f"time summed over the rows {time_change:+.1f}%, highest peak {peak_change:+.1f}% (paper, whole LibriSpeech "
        f"training on GPUs: {paper_time:+.1f}% GPU-hours, {paper_memory:+.0f}% VRAM); ceiling and memory floor: "
        "the same model with no mixer"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the Conformer at 5 s, one round")
    parser.add_argument("--encoders", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--lengths", type=positive_float, nargs="+", default=[5, 10, 20, 40], help="utterance seconds")
    parser.add_argument("--batch", type=positive_int, default=1, help="utterances per step")
    parser.add_argument("--rounds", type=positive_int, default=2, help="timed rounds per point (best kept)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    encoders, lengths, rounds = (["conformer"], [5], 1) if args.quick else (args.encoders, args.lengths, args.rounds)
    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    all_results = {}
    for encoder in encoders:
        all_results[encoder] = measure(encoder, lengths, args.batch, rounds, target)
        print_table(encoder, all_results[encoder], lengths, args.batch, target)
    return all_results


if __name__ == "__main__":
    main()
