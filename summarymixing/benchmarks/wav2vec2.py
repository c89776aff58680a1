"""wav2vec 2.0 pre-training step: SummaryMixing vs MHSA (RelPosMHAXL) Conformer at the paper's model size.

Builds the models of ``hparams/wav2vec2/conformer_summarymixing_librilight.yaml`` and
``conformer_mhsa_librilight.yaml`` (arXiv 2407.13377: about 155M and 166M parameters) and times one full
pre-training step (front end, masking, context encoder, quantiser, contrastive + diversity loss, backward,
AdamW step) on a reduced batch of 10 to 30 s utterances, and its peak memory, side by side. The paper reports
SummaryMixing at -18% time and -23% peak VRAM.

Each model runs at each length in its own process, so that its memory is measured alone (a length that
fails, e.g. out of RAM, shows as ``failed``). Two peaks, both including the weights, gradients and AdamW state:
the tensors' peak (on CPU the parameters and AdamW state plus the largest total the step holds at once, from
``torch.profiler``'s allocation events, the analogue of the paper's peak VRAM; ``max_memory_allocated`` on GPU)
and, on CPU, the process's peak resident set size (``VmHWM``, reset before the step; it adds the runtime and
the allocator's cache). Time is the minimum over ``--repeats`` steps after one warm-up step, as wall-clock time
and, on CPU, as the process's CPU time (with one thread, the CPU time is the better measure on a shared machine:
waiting for a core does not count). The load average at the end of each measurement is printed beside it::

    python -m summarymixing.benchmarks.wav2vec2            # 12 layers, 10/20/30 s, CPU, 1 thread
    python -m summarymixing.benchmarks.wav2vec2 --quick    # 2 layers, 10 s: a smoke run under a minute
    python -m summarymixing.benchmarks.wav2vec2 --speechbrain-quantiser   # with SpeechBrain's quantiser
    python -m summarymixing.benchmarks.wav2vec2 --device cuda --batch-size 8
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from speechbrain import Stage
from speechbrain.nnet.quantisers import GumbelVectorQuantizer

from summarymixing import experiment
from summarymixing.benchmarks.timing import (
    PRECISIONS,
    Target,
    positive_float,
    positive_int,
    resident_memory,
    resident_memory_peak_reset,
)
from summarymixing.wav2vec2 import MaskingCollate
from summarymixing.wav2vec2.brain import Wav2Vec2Brain

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "wav2vec2")
MODELS = {
    "SummaryMixing": "conformer_summarymixing_librilight.yaml",
    "MHSA": "conformer_mhsa_librilight.yaml",
}
PAPER_RATIOS = {"time": 0.82, "memory": 0.77}  # arXiv 2407.13377: -18% time, -23% peak VRAM


def build_brain(hparams_file, target, output_folder, num_layers=None, speechbrain_quantiser=False):
    """The recipe's ``Wav2Vec2Brain`` of a pre-training YAML on ``target`` (no data, no checkpointer), ready to
    fit batches, optionally with fewer layers or SpeechBrain's quantiser. One optimiser step per batch
    (``grad_accumulation_factor`` 1).

    Layerdrop is off: every measured step runs every layer (with it, the step's cost depends on the layers it
    happens to skip).
    """
    if not os.path.isfile(hparams_file):
        raise SystemExit(f"{hparams_file} not found: run from a source checkout or pass --hparams-folder")
    encoder = {"layerdrop_prob": 0.0, **({} if num_layers is None else {"num_layers": num_layers})}
    overrides = {"data_folder": "unused", "librispeech_folder": "unused", "output_folder": output_folder}
    hparams = experiment.load(hparams_file, {**overrides, "encoder": encoder})
    if speechbrain_quantiser:
        use_speechbrain_quantiser(hparams["wav2vec2"])
    run_options = {**target.run_options(), "grad_accumulation_factor": 1}
    brain = Wav2Vec2Brain(
        modules=hparams["modules"], opt_class=hparams["optimizer"], hparams=hparams, run_opts=run_options,
        checkpointer=None,
    )  # fmt: skip
    brain.on_fit_start()
    brain.on_stage_start(Stage.TRAIN, 1)
    return brain


def use_speechbrain_quantiser(model):
    """Swaps the YAML's quantiser for SpeechBrain's ``GumbelVectorQuantizer`` (same parameters and outputs).

    For comparison: SpeechBrain's quantiser builds ``[masked frames, codes, code dim]`` tensors in the forward
    and backward passes that :class:`summarymixing.wav2vec2.MatmulGumbelVectorQuantiser` does not.
    """
    used = model.quantiser.quantiser
    speechbrain_quantiser = GumbelVectorQuantizer(
        used.input_dim, used.num_vars, (used.max_temp, used.min_temp, used.temp_decay), used.groups, used.vq_dim
    )
    speechbrain_quantiser.load_state_dict(used.state_dict())
    model.quantiser.quantiser = speechbrain_quantiser


def count_parameters(model):
    """Number of trainable parameters (front end, context encoder, quantiser, prediction head)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def held_tensor_bytes(model, optimizer):
    """Bytes of the tensors held between steps: parameters and optimiser state (gradients are set to None)."""
    tensors = list(model.parameters())
    tensors += [value for state in optimizer.state.values() for value in state.values() if torch.is_tensor(value)]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def measure(model_name, seconds, args):
    """Measures the recipe's pre-training step (``Wav2Vec2Brain.fit_batch``) of one model on ``seconds``-long
    utterances; returns a dict.

    One warm-up step (it creates the AdamW state), then ``--repeats`` timed steps, each with the peak resident
    set size of the process (CPU) or the peak allocated bytes (CUDA), then on CPU one step under
    ``torch.profiler`` for the peak of the tensors (held parameters and optimiser state plus the largest total
    the step holds at once, the analogue of ``torch.cuda.max_memory_allocated``).
    """
    target = Target.from_arguments(args)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as output_folder:
        brain = build_brain(
            os.path.join(args.hparams_folder, MODELS[model_name]), target, output_folder, args.num_layers,
            args.speechbrain_quantiser,
        )  # fmt: skip
        model = brain.hparams.wav2vec2
        collate = MaskingCollate(model.frontend.frame_counter, brain.hparams.mask_prob, brain.hparams.mask_length)
        torch.manual_seed(1)  # the same audio and masks for every model
        batch = collate([{"id": str(i), "sig": torch.randn(int(seconds * 16000))} for i in range(args.batch_size)])

        def step():
            torch.manual_seed(2)  # the same negatives and dropout every step
            brain.fit_batch(batch)

        step()
        times, cpu_times, peaks = [], [], []
        for _ in range(args.repeats):
            if target.is_cuda:
                torch.cuda.synchronize(target.device)
                torch.cuda.reset_peak_memory_stats(target.device)
            else:
                resident_memory_peak_reset()
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            if target.is_cuda:
                torch.cuda.synchronize(target.device)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
            peaks.append(torch.cuda.max_memory_allocated(target.device) if target.is_cuda else resident_memory("VmHWM"))
        tensor_peak = None
        if not target.is_cuda:
            tensor_peak = held_tensor_bytes(model, brain.optimizer) + target.peak_memory(step)
        return {
            "model": model_name,
            "seconds": seconds,
            "time": min(times),
            "cpu_time": min(cpu_times),
            "tensor_peak": tensor_peak or min(peaks),
            "peak": min(peaks),
            "load": os.getloadavg()[0],
            "params": count_parameters(model),
            "quantiser": type(model.quantiser.quantiser).__name__,
            "activation": type(model.context_encoder.latent_encoder.layers[0].ffn_module1[1].ffn[1]).__name__,
        }


def run_in_subprocess(model_name, seconds, args):
    """Runs :func:`measure` in a fresh interpreter (its memory alone); ``None`` if it failed (e.g. out of RAM)."""
    command = [
        sys.executable,
        "-m",
        "summarymixing.benchmarks.wav2vec2",
        "--worker",
        model_name,
        "--lengths",
        str(seconds),
    ] + args.forward
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        print(
            f"{model_name} at {seconds:g} s failed (exit {completed.returncode}; a negative exit is a signal, "
            f"-9 usually the out-of-memory killer): {completed.stderr.strip()[-500:]}",
            flush=True,
        )
        return None
    row = json.loads(completed.stdout.strip().splitlines()[-1])
    print(json.dumps(row), flush=True)
    return row


def print_table(results, args):
    """Prints the side-by-side table with the paper's ratios beside."""
    sm, mhsa = "SummaryMixing", "MHSA"
    by_key = {(row["model"], row["seconds"]): row for row in results if row is not None}
    failed = [name for name in MODELS if not any(model == name for model, _ in by_key)]
    if failed:
        raise SystemExit(f"every measurement of {', '.join(failed)} failed (see the messages above)")
    first = {name: next(row for row in results if row is not None and row["model"] == name) for name in MODELS}
    tensors = "peak GB allocated" if args.device.startswith("cuda") else "peak GB tensors"
    print(
        f"{Target.from_arguments(args).describe()}, threads {args.threads}, batch {args.batch_size}, "
        f"layers {args.num_layers or 12}, min of {args.repeats} steps, quantiser {first[sm]['quantiser']}, "
        f"feed-forward activation {first[sm]['activation']}"
    )
    print(f"parameters: SummaryMixing {first[sm]['params'] / 1e6:.1f}M, MHSA {first[mhsa]['params'] / 1e6:.1f}M")
    print(
        f"{tensors}: parameters + AdamW state + the most the step holds at once"
        + ("" if args.device.startswith("cuda") else "; peak GB RSS: the whole process")
    )
    columns = [("cpu_time", "step CPU s", 1.0), ("time", "step wall s", 1.0), ("tensor_peak", tensors, 1e9)]
    if not args.device.startswith("cuda"):
        columns.append(("peak", "peak GB RSS", 1e9))
    print(
        "| utterance s | "
        + " | ".join(f"SM {title} | MHSA {title} | SM / MHSA" for _, title, _ in columns)
        + " | load SM / MHSA |"
    )
    print("|---" * (2 + 3 * len(columns)) + "|")
    for seconds in args.lengths:
        a, b = by_key.get((sm, seconds)), by_key.get((mhsa, seconds))
        cells = []
        for key, _, scale in columns:
            sm_value = f"{a[key] / scale:.2f}" if a else "failed"
            mhsa_value = f"{b[key] / scale:.2f}" if b else "failed"
            ratio = f"{a[key] / b[key]:.2f}" if a and b else "-"
            cells.append(f"{sm_value} | {mhsa_value} | {ratio}")
        load = " / ".join(f"{row['load']:.1f}" if row else "-" for row in (a, b))
        print(f"| {seconds:g} | " + " | ".join(cells) + f" | {load} |")
    print(
        f"paper (GPU, fp16, 10-30 s segments in dynamic batches): SM / MHSA time {PAPER_RATIOS['time']:.2f}, "
        f"peak VRAM {PAPER_RATIOS['memory']:.2f}"
    )


def parse_arguments(argv):
    """Parses the command line; ``forward`` keeps the options to hand to the worker processes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 layers, 10 s, 1 repeat")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default=None,
        help="autocast precision, as the recipe's --precision (default fp32 on CPU, fp16 on GPU as in the paper)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model, as the recipe's --compile")
    parser.add_argument("--lengths", type=positive_float, nargs="+", help="seconds (default 10 20 30, quick 10)")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--repeats", type=positive_int, default=2)
    parser.add_argument("--num-layers", type=positive_int, default=None, help="override the 12 layers")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (CPU)")
    parser.add_argument(
        "--speechbrain-quantiser",
        action="store_true",
        help="SpeechBrain's GumbelVectorQuantizer instead of the YAML's (for comparison)",
    )
    parser.add_argument("--hparams-folder", default=HPARAMS_FOLDER)
    parser.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.num_layers, args.lengths, args.repeats = args.num_layers or 2, args.lengths or [10.0], 1
    args.lengths = args.lengths or [10.0, 20.0, 30.0]
    if args.precision is None:
        args.precision = "fp16" if args.device.startswith("cuda") else "fp32"
    args.forward = (
        [
            "--device",
            args.device,
            "--precision",
            args.precision,
            "--batch-size",
            str(args.batch_size),
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
            "--hparams-folder",
            args.hparams_folder,
        ]
        + (["--num-layers", str(args.num_layers)] if args.num_layers else [])
        + (["--speechbrain-quantiser"] if args.speechbrain_quantiser else [])
        + (["--compile"] if args.compile else [])
    )
    Target.from_arguments(args)  # a wrong device or precision fails here, before any worker starts
    return args


def main(argv=None):
    """Runs each model at each length in its own process and prints the table."""
    args = parse_arguments(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(args.worker, args.lengths[0], args)))
        return
    print(f"load before: {os.getloadavg()}", flush=True)
    results = [run_in_subprocess(name, seconds, args) for seconds in args.lengths for name in MODELS]
    print_table(results, args)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
