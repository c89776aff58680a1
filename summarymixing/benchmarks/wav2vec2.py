"""wav2vec 2.0 pre-training step: SummaryMixing vs MHSA (RelPosMHAXL) Conformer at the paper's model size.

Builds the models of ``hparams/wav2vec2/conformer_summarymixing_librilight.yaml`` and
``conformer_mhsa_librilight.yaml`` (arXiv 2407.13377: about 155M and 166M parameters) and times one full
pre-training step (front end, masking, context encoder, quantiser, contrastive + diversity loss, backward,
AdamW step) on a reduced batch of 10 to 30 s utterances, and its peak memory, side by side. The paper reports
SummaryMixing at -18% time and -23% peak VRAM.

Each model runs in its own process so that its memory is measured alone. Peak memory is the peak resident set
size during the step on CPU (``VmHWM``, reset before the step) and ``torch.cuda.max_memory_allocated`` on GPU;
it includes the weights, gradients and AdamW state. Time is the minimum over ``--repeats`` steps after one
warm-up step, as wall-clock time and, on CPU, as the process's CPU time (with one thread, the CPU time is the
better measure on a shared machine: waiting for a core does not count)::

    python -m summarymixing.benchmarks.wav2vec2            # 12 layers, 10/20/30 s, CPU, 1 thread
    python -m summarymixing.benchmarks.wav2vec2 --quick    # 2 layers, 10 s: a smoke run under a minute
    python -m summarymixing.benchmarks.wav2vec2 --device cuda --batch-size 8
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

import torch
from hyperpyyaml import resolve_references
from speechbrain.nnet.quantisers import GumbelVectorQuantizer

from summarymixing.wav2vec2 import MaskingCollate
from summarymixing.wav2vec2.pretrained import load_yaml_entries

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "wav2vec2")
MODELS = {
    "SummaryMixing": "conformer_summarymixing_librilight.yaml",
    "RelPosMHAXL": "conformer_mhsa_librilight.yaml",
}
MODEL_KEY = "wav2vec2"


def build_model(hparams_file, num_layers=None):
    """Builds the model entries of a pre-training YAML (no data, no checkpointer), optionally with fewer layers."""
    if not os.path.isfile(hparams_file):
        raise FileNotFoundError(f"{hparams_file} not found: run from a source checkout or pass --hparams-folder")
    overrides = {"data_folder": "unused", "librispeech_folder": "unused"}
    if num_layers is not None:
        overrides["encoder"] = {"num_layers": num_layers}
    with open(hparams_file, encoding="utf-8") as stream:
        resolved = resolve_references(stream, overrides).getvalue()
    return load_yaml_entries(resolved, [MODEL_KEY])[MODEL_KEY]


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


def resident_memory_peak_reset():
    """Returns freed heap memory to the system and resets the process's peak resident set size (Linux)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def resident_memory(field):
    """``VmRSS`` (resident set size now) or ``VmHWM`` (peak since the last reset) in bytes (Linux)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_now(device):
    """Memory held before a step: allocated on GPU, resident on CPU (weights, AdamW state, runtime)."""
    return torch.cuda.memory_allocated() if device.type == "cuda" else resident_memory("VmRSS")


def measure(model_name, args):
    """Times the pre-training step of one model for every length; returns one dict per length."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = build_model(os.path.join(args.hparams_folder, MODELS[model_name]), args.num_layers)
    if args.speechbrain_quantiser:
        use_speechbrain_quantiser(model)
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    collate = MaskingCollate(model.frontend.frame_counter, 0.65, 10)
    dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]

    def step(batch):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            stats = model(batch.sig.data.to(device), batch.sig.lengths.to(device), batch.mask.data.to(device))
        stats["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    results = []
    for seconds in args.lengths:
        examples = [{"id": str(i), "sig": torch.randn(int(seconds * 16000))} for i in range(args.batch_size)]
        batch = collate(examples)
        step(batch)  # warm-up; creates the AdamW state
        times, cpu_times, peaks, step_memories = [], [], [], []
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            else:
                resident_memory_peak_reset()
            held = memory_now(device)
            synchronize()
            start, cpu_start = time.perf_counter(), time.process_time()
            step(batch)
            synchronize()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
            peaks.append(torch.cuda.max_memory_allocated() if device.type == "cuda" else resident_memory("VmHWM"))
            step_memories.append(peaks[-1] - held)
        results.append(
            {"model": model_name, "seconds": seconds, "time": min(times), "cpu_time": min(cpu_times),
             "peak": min(peaks), "step_memory": min(step_memories),
             "params": count_parameters(model), "quantiser": type(model.quantiser.quantiser).__name__}
        )
    return results


def run_in_subprocess(model_name, args):
    """Runs :func:`measure` for one model in a fresh interpreter and returns its results."""
    command = [sys.executable, "-m", "summarymixing.benchmarks.wav2vec2", "--worker", model_name] + args.forward
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def print_table(results, args):
    """Prints the side-by-side table."""
    by_key = {(row["model"], row["seconds"]): row for row in results}
    sm, mhsa = "SummaryMixing", "RelPosMHAXL"
    params = {name: by_key[(name, args.lengths[0])]["params"] / 1e6 for name in MODELS}
    unit = "peak GB allocated" if args.device.startswith("cuda") else "peak GB RSS"
    print(f"device {args.device}, threads {torch.get_num_threads()}, precision {args.precision}, batch "
          f"{args.batch_size}, layers {args.num_layers or 12}, min of {args.repeats}")
    print(f"parameters: SummaryMixing {params[sm]:.1f}M, RelPosMHAXL {params[mhsa]:.1f}M; quantiser "
          f"{by_key[(sm, args.lengths[0])]['quantiser']}")
    print("step memory = peak minus what was held before the step (weights, AdamW state): the part that grows "
          "with the batch")
    columns = [("time", "step s", 1.0), ("cpu_time", "step CPU s", 1.0), ("peak", unit, 1e9),
               ("step_memory", "step memory GB", 1e9)]
    print("| utterance s | " + " | ".join(f"SM {title} | MHSA {title} | SM / MHSA" for _, title, _ in columns) + " |")
    print("|---" * (1 + 3 * len(columns)) + "|")
    for seconds in args.lengths:
        a, b = by_key[(sm, seconds)], by_key[(mhsa, seconds)]
        cells = [f"{a[key] / scale:.2f} | {b[key] / scale:.2f} | {a[key] / b[key]:.2f}" for key, _, scale in columns]
        print(f"| {seconds:g} | " + " | ".join(cells) + " |")


def parse_arguments(argv):
    """Parses the command line; ``forward`` keeps the options to hand to the worker processes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 layers, 10 s, 1 repeat")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default=None,
                        help="autocast precision (default fp32 on CPU, fp16 on GPU as in the paper)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[10.0, 20.0, 30.0], help="seconds")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--num-layers", type=int, default=None, help="override the 12 layers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    parser.add_argument("--speechbrain-quantiser", action="store_true",
                        help="SpeechBrain's GumbelVectorQuantizer instead of the YAML's (for comparison)")
    parser.add_argument("--hparams-folder", default=HPARAMS_FOLDER)
    parser.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.num_layers, args.lengths, args.repeats = args.num_layers or 2, [10.0], 1
    if args.precision is None:
        args.precision = "fp16" if args.device.startswith("cuda") else "fp32"
    args.forward = [
        "--device", args.device, "--precision", args.precision, "--batch-size", str(args.batch_size),
        "--repeats", str(args.repeats), "--threads", str(args.threads), "--hparams-folder", args.hparams_folder,
        "--lengths", *map(str, args.lengths),
    ] + (["--num-layers", str(args.num_layers)] if args.num_layers else []) + (
        ["--speechbrain-quantiser"] if args.speechbrain_quantiser else [])
    return args


def main(argv=None):
    """Runs both models (each in its own process) and prints the table."""
    args = parse_arguments(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(args.worker, args)))
        return
    print(f"load before: {os.getloadavg()}")
    results = [row for name in MODELS for row in run_in_subprocess(name, args)]
    print_table(results, args)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
