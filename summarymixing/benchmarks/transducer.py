"""Training-step time and peak memory of the paper-size transducers: SummaryMixing vs RelPosMHAXL self-attention.

Both models are built from the paper configurations (``hparams/transducer/librispeech_summarymixing.yaml`` and
``librispeech_mhsa.yaml``, which extends it: 12-layer Conformer, d_model 512, joint 640, 1000 tokens; only
``attention_type`` differs). One step is the recipe's own training step, ``TransducerBrain.fit_batch``
(:mod:`summarymixing.transducer.brain`), with SpeechBrain's handling of ``--precision`` and ``--compile``: fbank ->
SpecAugment -> normalisation -> CNN front end -> encoder with dynamic chunk training -> prediction network ->
joint network + transducer loss with the CTC loss of the first epochs -> backward -> gradient clipping -> AdamW
step and learning-rate schedule, on random audio of each length with 4 tokens per second (about LibriSpeech's
rate for a 1000-token unigram vocabulary), equal batch for both models. The random draws (augmentation, chunk
size) are seeded before every step, so each model runs the same step every time. Each point is measured with
the three ways of computing the joint network and loss
(:class:`summarymixing.transducer.joint.TransducerJointLoss`): ``plain`` (the logits of the whole lattice,
``joint_chunk_frames: null``), ``chunked`` (the memory-efficient path the paper-size configurations use,
``joint_chunk_frames`` from the YAML) and ``packed`` (our CPU option: the real lattice nodes only and a loss
vectorised in torch, ``joint_packed: True``, which the mini transducer uses).

A third model, ``no mixer``, is the SummaryMixing transducer with every encoder layer's mixer returning zeros
(:class:`summarymixing.benchmarks.timing.NoMixer`): it costs what both models share (front end, feed-forward and
convolution modules, prediction network, joint network and losses, optimiser). Its time against RelPosMHAXL's is
the ceiling: the most any mixer could save. For the chunked joint, the script also counts the matmul and
convolution FLOPs of each model's step (``torch.utils.flop_counter``'s formulas) and gives the best SummaryMixing
could do on this CPU, ``SM at peak``: the no-mixer step plus SummaryMixing's extra FLOPs at the measured matmul
peak, as if its cells cost nothing but their matmuls and ran them at full speed.

Two batchings: one utterance per step (``--batch``, default 1), and, with ``--audio-per-step S``, S seconds of
audio per step for every length (e.g. 8 x 5 s, 4 x 10 s, 2 x 20 s, 1 x 40 s for S = 40), which is what the
recipe's dynamic batching does: it fills batches up to a number of seconds.

Time is the best of a few rounds of CPU time of this process (``time.process_time``, one thread by default, which
equals the wall time on an idle machine and is robust to other jobs); within a round both joint variants run, so
a change of load affects them alike. Peak memory is the most bytes allocated at once during a step, above what was
alive before it (``torch.profiler`` events); on a GPU, CUDA events and ``torch.cuda.max_memory_allocated``. The
load average (``os.getloadavg``) is printed with every table. ``--device cuda``, ``--precision fp16|bf16`` and
``--compile`` run the step as the recipe's run options of the same names do (the paper trained in mixed
precision on GPUs).

    python -m summarymixing.benchmarks.transducer                      # batch 1 at 5, 10, 20, 40 s
    python -m summarymixing.benchmarks.transducer --audio-per-step 40  # 8 x 5 s, 4 x 10 s, 2 x 20 s, 1 x 40 s
    python -m summarymixing.benchmarks.transducer --quick              # 5 s only, a few minutes
    python -m summarymixing.benchmarks.transducer --device cuda --precision fp16

The paper (arXiv 2409.07165) reports -15.5% training time and -16% peak VRAM for SummaryMixing.

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import os
import tempfile

import torch

from summarymixing.benchmarks.steps import change, paper_brain, speech_batch, step_matmul_flops
from summarymixing.benchmarks.timing import Target, add_target_arguments, best_times, positive_float, positive_int
from summarymixing.transducer.brain import TransducerBrain

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "transducer")
NO_MIXER = "no mixer"
MODELS = {
    "SummaryMixing": "librispeech_summarymixing.yaml",
    "RelPosMHAXL": "librispeech_mhsa.yaml",
    NO_MIXER: "librispeech_summarymixing.yaml",
}
PAPER = "paper: -15.5% time, -16% peak VRAM"
JOINTS = ("plain", "chunked", "packed")


def build(hparams_name, target, output_folder, no_mixer=False):
    """The recipe's ``TransducerBrain`` of a paper YAML on ``target``, ready to fit batches."""
    path = os.path.join(HPARAMS_FOLDER, hparams_name)
    return paper_brain(TransducerBrain, path, "transducer", target, output_folder, no_mixer)


def make_training_step(brain, batch, joint):
    """A closure running the recipe's training step on ``batch`` with one of :data:`JOINTS` (the same random
    draws every time)."""
    joint_loss = brain.hparams.transducer["joint_loss"]
    chunk_frames = brain.hparams.transducer["joint_chunk_frames"] if joint == "chunked" else None

    def step():
        joint_loss.chunk_frames, joint_loss.packed = chunk_frames, joint == "packed"
        torch.manual_seed(0)
        brain.fit_batch(batch)

    return step


def measure(points, rounds, target):
    """``{model: {(batch, seconds, joint): (step seconds, peak bytes)}}`` for the three models and joints,
    and ``{model: {(batch, seconds): FLOPs}}`` of their steps with the chunked joint (eager steps only: the
    counter does not see inside compiled graphs)."""
    results, flops = {}, {}
    for name, hparams_name in MODELS.items():
        torch.manual_seed(0)
        with tempfile.TemporaryDirectory() as output_folder:
            brain = build(hparams_name, target, output_folder, no_mixer=name == NO_MIXER)
            results[name], flops[name] = {}, {}
            for batch, seconds in points:
                model = brain.hparams.transducer
                data = speech_batch(batch, seconds, model["output_neurons"], brain.hparams.bos_index)
                steps = {joint: make_training_step(brain, data, joint) for joint in JOINTS}
                best = best_times(steps, target.clock(), rounds, budget_s=0.0)
                for joint, step in steps.items():
                    peak = target.peak_memory(step)
                    results[name][batch, seconds, joint] = (best[joint], peak)
                    print(
                        f"  {name:13s} {batch} x {seconds:g} s, {joint:7s} joint: {best[joint]:7.2f} s/step, "
                        f"{peak / 2**20:6.0f} MiB peak (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
                if not target.compile:
                    flops[name][batch, seconds] = step_matmul_flops(steps["chunked"])
            del brain
    return results, flops


def print_table(results, points, target, load_before):
    """Side-by-side table with the relative change of SummaryMixing vs RelPosMHAXL, per joint variant."""
    sm, mhsa = results["SummaryMixing"], results["RelPosMHAXL"]
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"\nTransducer training step (the recipe's fit_batch), paper size, {target.describe()}, {load}")
    print(
        "| batch x length | joint | SM time (s) | MHSA time (s) | time change | SM peak (MiB) | MHSA peak (MiB) "
        "| peak change |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for batch, seconds in points:
        for joint in JOINTS:
            (sm_time, sm_peak), (mhsa_time, mhsa_peak) = sm[batch, seconds, joint], mhsa[batch, seconds, joint]
            print(
                f"| {batch} x {seconds:g} s | {joint} | {sm_time:.2f} | {mhsa_time:.2f} | "
                f"{change(sm_time, mhsa_time):+.1f}% | {sm_peak / 2**20:.0f} | {mhsa_peak / 2**20:.0f} | "
                f"{change(sm_peak, mhsa_peak):+.1f}% |"
            )
    for joint in JOINTS:
        time_change = change(*(sum(times[point + (joint,)][0] for point in points) for times in (sm, mhsa)))
        peak_change = change(*(max(times[point + (joint,)][1] for point in points) for times in (sm, mhsa)))
        print(
            f"{joint} joint: time summed over the rows {time_change:+.1f}%, highest peak {peak_change:+.1f}% ({PAPER})"
        )
    for name, times in results.items():
        for batch, seconds in points:
            plain_time, plain_peak = times[batch, seconds, "plain"]
            for joint in JOINTS[1:]:
                joint_time, joint_peak = times[batch, seconds, joint]
                print(
                    f"{name} {batch} x {seconds:g} s, {joint} vs plain joint: time "
                    f"{change(joint_time, plain_time):+.1f}%, peak {change(joint_peak, plain_peak):+.1f}%"
                )


def print_ceiling(results, flops, points, peak_flops, precision="fp32"):
    """For the chunked joint: the no-mixer step against RelPosMHAXL's (the ceiling of any mixer), the step FLOPs
    of the three models, and the best SummaryMixing change at the measured matmul peak (CPU only)."""
    mhsa, no_mixer = results["RelPosMHAXL"], results[NO_MIXER]
    print(
        "\nCeiling, chunked joint: no mixer = the same transducer with no token mixing; GFLOP = matmul and "
        "convolution FLOPs of the step"
    )
    if peak_flops is not None:
        print(
            f"SM at peak = no-mixer time + SummaryMixing's extra FLOPs at the measured {precision} matmul peak "
            f"({peak_flops / 1e9:.1f} GFLOP/s); best change = SM at peak vs MHSA"
        )
    print(
        "| batch x length | no-mixer time (s) | ceiling | no-mixer peak (MiB) | memory floor | GFLOP SM / MHSA / "
        "no mixer | SM at peak (s) | best change |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for batch, seconds in points:
        key = (batch, seconds, "chunked")
        (no_mixer_time, no_mixer_peak), (mhsa_time, mhsa_peak) = no_mixer[key], mhsa[key]
        sm_flops, mhsa_flops, no_mixer_flops = (
            flops[name][batch, seconds] for name in ("SummaryMixing", "RelPosMHAXL", NO_MIXER)
        )
        at_peak, best = "-", "-"
        if peak_flops is not None:
            sm_at_peak = no_mixer_time + (sm_flops - no_mixer_flops) / peak_flops
            at_peak, best = f"{sm_at_peak:.2f}", f"{change(sm_at_peak, mhsa_time):+.1f}%"
        print(
            f"| {batch} x {seconds:g} s | {no_mixer_time:.2f} | {change(no_mixer_time, mhsa_time):+.1f}% | "
            f"{no_mixer_peak / 2**20:.0f} | {change(no_mixer_peak, mhsa_peak):+.1f}% | "
            f"{sm_flops / 1e9:.0f} / {mhsa_flops / 1e9:.0f} / {no_mixer_flops / 1e9:.0f} | {at_peak} | {best} |"
        )


def batching(lengths, batch, audio_per_step):
    """``[(batch, seconds)]``: ``batch`` utterances per step, or ``audio_per_step`` seconds of audio per step.

    Example
    -------
    >>> batching([5, 10, 20, 40], 1, None)
    [(1, 5), (1, 10), (1, 20), (1, 40)]
    >>> batching([5, 10, 20, 40], 1, 40)
    [(8, 5), (4, 10), (2, 20), (1, 40)]
    """
    if audio_per_step is None:
        return [(batch, seconds) for seconds in lengths]
    points = []
    for seconds in lengths:
        utterances = audio_per_step / seconds
        if utterances < 1 or utterances != int(utterances):
            raise ValueError(f"--audio-per-step {audio_per_step:g} is not a whole number of {seconds:g} s utterances")
        points.append((int(utterances), seconds))
    return points


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s only, one round (a few minutes on a CPU)")
    parser.add_argument("--lengths", type=positive_float, nargs="+", default=[5, 10, 20, 40], help="utterance seconds")
    parser.add_argument("--batch", type=positive_int, default=1, help="utterances per step (equal for both models)")
    parser.add_argument(
        "--audio-per-step", type=positive_float, default=None, help="seconds of audio per step instead of --batch"
    )
    parser.add_argument("--rounds", type=positive_int, default=2, help="timed rounds per point (best kept)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    lengths, rounds = ([5], 1) if args.quick else (args.lengths, args.rounds)
    points = batching(lengths, args.batch, args.audio_per_step)
    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    load_before = os.getloadavg()[0]
    results, flops = measure(points, rounds, target)
    print_table(results, points, target, load_before)
    if flops["SummaryMixing"]:
        print_ceiling(results, flops, points, target.matmul_throughput(), args.precision)
    return results, flops


if __name__ == "__main__":
    main()
