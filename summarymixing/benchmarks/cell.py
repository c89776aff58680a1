"""Speed and memory of the SummaryMixing cell against self-attention, side by side in one process.

Run ``python -m summarymixing.benchmarks.cell`` (full protocol, several minutes on one core) or add ``--quick``
(under a minute, for smoke tests); ``--plot out.png`` also draws the curves (needs matplotlib).

What is measured, for each d_model and sequence length T (batch 1 by default, one thread by default):

* the time of one training step (forward + backward of the mixer alone, input gradient included), the minimum
  over several rounds (``--repeats``, and more while the rounds have taken less than 2 s, so that the minimum
  of a fast step settles on a loaded machine) in which every mixer runs once (the cell variants in their own
  rounds, so that the slow attention steps do not cut their number of repeats), for the cell with 4 heads and
  with 1 head, SpeechBrain's ``RelPosMHAXL`` (with its ``RelPosEncXL`` embeddings) and a multi-head attention
  built on ``F.scaled_dot_product_attention`` (in/out projections + SDPA), all with the same width and 4 heads;
* the peak memory of that step: the highest total size of the tensors allocated during the step and alive at
  the same time (saved activations, gradients, temporaries; not the inputs and parameters that exist before
  it), replayed from the allocation and free events of ``torch.profiler`` (``profile_memory=True``): the CPU
  analogue of ``torch.cuda.max_memory_allocated`` minus the memory in use before the step;
* the growth exponent of time in T, a least-squares fit of log(time) on log(T) over T >= 1000 (over all
  lengths when fewer than two reach 1000);
* the cell's chunked path (dynamic-chunk configuration, 16-frame chunks, unlimited and 4-chunk left context)
  against its plain path;
* the cell's share of the machine's fp32 matmul throughput. The machine's throughput is measured with a
  2048 x 2048 matmul on the same threads. The cell's FLOPs are counted analytically for the matmuls it really
  executes: per frame, every head-wise layer of f and s (2 * in * out / nhead) and the local half of the
  combiner (2 * local_dim * d_model); per utterance or chunk, the summary half of the combiner
  (2 * summary_dim * d_model); the backward pass costs twice the forward (input and weight gradients).
  Element-wise work (activations, LayerNorm, sums) is not counted as FLOPs: it is the overhead;
* the ceilings that overhead leaves: the forward + backward time of the cell's matmuls alone (the same
  batched head-wise matmuls on inputs with the cell's strides, and the combiner's per-frame half) plus that of
  its activation alone (torch's kernel, exact GELU by default) on tensors of the sizes the step activates is
  the fastest step any implementation of the same model on torch's kernels could take; from it, the highest
  reachable matmul share and speed-up over RelPosMHAXL.

The machine may be shared by other jobs: with one thread, times are the CPU time of this process
(``time.process_time``), which equals the wall time on an idle machine but does not count the time the scheduler
gives to other processes (with several threads, wall time is used). The load average is printed before and
after; other jobs still compete for caches and memory bandwidth, so expect a few percent of noise.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import importlib.util
import os

import torch
from speechbrain.nnet.attention import RelPosEncXL, RelPosMHAXL
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
from torch import nn

from summarymixing.benchmarks.timing import (
    Target,
    add_target_arguments,
    best_times,
    fit_exponent,
    positive_float,
    positive_int,
)
from summarymixing.cell import HeadwiseLinear, SummaryMixing

FULL_LENGTHS = [100, 250, 500, 1000, 2000, 4000, 8000]
QUICK_LENGTHS = [100, 300, 1000]
CHUNK_CONFIGS = {"chunk16": DynChunkTrainConfig(16, None), "chunk16-left4": DynChunkTrainConfig(16, 4)}
TARGETS = "targets (d_model 512): matmul share >= 85% (4 heads) / 90% (1 head) for T >= 1000; exponent <= 1.05;"
TARGETS += " chunked <= 1.1x plain; at T=4000 >= 30x faster than RelPosMHAXL and >= 6.5x than SDPA"


class SDPAttention(nn.Module):
    """Multi-head self-attention with fused in-projection, ``F.scaled_dot_product_attention`` and out-projection.

    Arguments
    ---------
    d_model : int
        Width.
    nhead : int
        Number of heads.

    Example
    -------
    >>> SDPAttention(8, 2)(torch.randn(1, 5, 8)).shape
    torch.Size([1, 5, 8])
    """

    def __init__(self, d_model, nhead):
        super().__init__()
        self.nhead = nhead
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        """Self-attention over [B, T, d_model]."""
        batch, time, width = x.shape
        qkv = self.in_proj(x).view(batch, time, 3, self.nhead, width // self.nhead).permute(2, 0, 3, 1, 4)
        mixed = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.out_proj(mixed.transpose(1, 2).reshape(batch, time, width))


def combiner_runs_per_frame(cell):
    """Whether the step runs the combiner on every frame's concatenation (training with dropout, as published)
    rather than its summary half once per summary."""
    return cell.local_dim > 0 and cell.training and cell.dropout.p > 0


def cell_matmul_flops(cell, batch, time, groups):
    """Matmul FLOPs of one forward + backward of ``cell`` on [batch, time] frames with ``groups`` summaries
    per utterance (1 for the plain path, the number of chunks for the chunked path)."""
    per_frame = sum(
        2 * layer.weight[0].numel() * cell.nhead for layer in cell.modules() if isinstance(layer, HeadwiseLinear)
    )
    if cell.mode == "SummaryMixing-fast":
        per_frame += 2 * cell.projection.weight.numel()
    per_group = 0
    if combiner_runs_per_frame(cell):
        per_frame += 2 * (cell.local_dim + cell.summary_dim) * cell.enc_dim
    elif cell.local_dim:
        per_frame += 2 * cell.local_dim * cell.enc_dim
        per_group = 2 * cell.summary_dim * cell.enc_dim
    return 3 * batch * (time * per_frame + groups * per_group)


def activated_widths(cell):
    """Widths of the per-frame outputs that go through the cell's activation, one per activation call: every
    head-wise layer's output (all heads), the fast mode's projection and, unless in lite mode (no combiner),
    the combiner's output."""
    layers = [layer for layer in cell.modules() if isinstance(layer, HeadwiseLinear)]
    widths = [layer.weight.shape[0] * layer.weight.shape[2] for layer in layers]
    if cell.mode == "SummaryMixing-fast":
        widths.append(cell.projection.out_features)
    return widths + ([cell.enc_dim] if cell.local_dim else [])


def headwise_groups(cell):
    """The cell's head-wise layers grouped as it runs them, one batched matmul per group (with a local branch,
    the first layers of f and s read the same input and run together)."""
    if cell.mode == "SummaryMixing-fast":
        return []
    if cell.mode == "SummaryMixing-lite":
        return [[layer] for layer in cell.summary_layers]
    first = [cell.local_layers[0], cell.summary_layers[0]]
    return [first] + [[layer] for layer in [*cell.local_layers[1:], *cell.summary_layers[1:]]]


def batched_headwise(group, x):
    """One batched matmul of head-wise layers reading the same head-major input, as the cell runs them."""
    weight = torch.cat([layer.weight for layer in group], dim=2)
    return torch.baddbmm(torch.cat([layer.bias for layer in group], dim=1)[:, None], x, weight)


def floor_seconds(cell, batch, time, target, repeats):
    """The time below which no implementation of ``cell``'s model on torch's kernels can go: forward +
    backward of its matmuls alone (the head-wise batched matmuls on head-major inputs with the cell's strides,
    the fast mode's projection, and the combiner's per-frame part), plus its activation alone (e.g. exact GELU)
    on tensors of the sizes it activates. Everything else the cell does (LayerNorm, sums, copies) is left out."""
    frames, device = batch * time, target.device
    groups = headwise_groups(cell)
    inputs = [
        torch.randn(frames, cell.nhead, group[0].weight.shape[1], device=device).transpose(0, 1).requires_grad_()
        for group in groups
    ]
    widths = [sum(layer.weight.shape[2] for layer in group) for group in groups]
    headwise_grads = [torch.randn(cell.nhead, frames, width, device=device) for width in widths]
    dense = []  # (input, weight, output gradient) of the per-frame dense matmuls
    if cell.mode == "SummaryMixing-fast":
        dense.append((cell.enc_dim, cell.projection.weight))
    if cell.local_dim:
        width = cell.local_dim + (cell.summary_dim if combiner_runs_per_frame(cell) else 0)
        dense.append((width, cell.combiner.weight[:, :width]))
    dense = [
        (torch.randn(frames, width, device=device, requires_grad=True), weight.detach().requires_grad_(), None)
        for width, weight in dense
    ]
    dense = [(x, w, torch.randn(frames, w.shape[0], device=device)) for x, w, _ in dense]
    activated = [torch.randn(frames, width, device=device, requires_grad=True) for width in activated_widths(cell)]
    activated_grads = [torch.randn_like(value) for value in activated]

    def step():
        cell.zero_grad(set_to_none=True)
        for tensor in [*inputs, *[t for x, w, _ in dense for t in (x, w)], *activated]:
            tensor.grad = None
        with target.autocast():
            outputs = [batched_headwise(group, x) for group, x in zip(groups, inputs)]
            outputs += [x @ weight.t() for x, weight, _ in dense]
            outputs += [cell.activation(value) for value in activated]
        grads = [*headwise_grads, *(grad for _, _, grad in dense), *activated_grads]
        torch.autograd.backward(outputs, [grad.to(out.dtype) for out, grad in zip(outputs, grads)])

    return best_times({"floor": step}, target.clock(), repeats)["floor"]


def make_mixers(d_model, nhead, target):
    """The compared mixers on ``target``'s device, each as a module and a function of x running one forward
    (through the compiled module with ``--compile``)."""
    cells = {
        f"cell-{h}h": SummaryMixing(d_model, h, [d_model], d_model, [d_model], d_model).to(target.device)
        for h in (nhead, 1)
    }
    relpos = RelPosMHAXL(d_model, nhead).to(target.device)
    pos_enc = RelPosEncXL(d_model).to(target.device)
    sdpa = SDPAttention(d_model, nhead).to(target.device)
    run = {name: target.prepare(module) for name, module in (*cells.items(), ("RelPosMHAXL", relpos), ("SDPA", sdpa))}
    mixers = {name: (cell, lambda x, c=run[name]: c(x)[0]) for name, cell in cells.items()}
    for chunk_name, config in CHUNK_CONFIGS.items():
        name = f"cell-{nhead}h"
        mixers[f"{name}-{chunk_name}"] = (cells[name], lambda x, c=run[name], k=config: c(x, dynchunktrain_config=k)[0])
    mixers["RelPosMHAXL"] = (relpos, lambda x: run["RelPosMHAXL"](x, x, x, pos_embs=pos_enc(x))[0])
    mixers["SDPA"] = (sdpa, run["SDPA"])
    return mixers


def measure(d_model, lengths, nhead, batch, repeats, target, max_quadratic_bytes):
    """Times (s) and peak memories (bytes) per mixer and length (None where a quadratic mixer was skipped), and
    the floor time of the ``nhead`` cell's step per length (see :func:`floor_seconds`)."""
    torch.manual_seed(0)
    mixers = make_mixers(d_model, nhead, target)
    results = {name: {"time": [], "memory": []} for name in mixers}
    floor_times = []
    clock = target.clock()
    for length in lengths:
        x = torch.randn(batch, length, d_model, device=target.device, requires_grad=True)
        grad = torch.randn(batch, length, d_model, device=target.device)
        steps = {}
        for name, (module, forward) in mixers.items():
            memories = results[name]["memory"]
            if not name.startswith("cell") and memories and memories[-1] is not None:
                estimate = memories[-1] * (length / lengths[len(memories) - 1]) ** 2
                if estimate > max_quadratic_bytes:
                    continue

            def step(module=module, forward=forward, x=x, grad=grad):
                module.zero_grad(set_to_none=True)
                x.grad = None
                with target.autocast():
                    out = forward(x)
                out.backward(grad.to(out.dtype))

            steps[name] = step
        cells = {name: step for name, step in steps.items() if name.startswith("cell")}
        times = best_times(cells, clock, repeats)
        times.update(best_times({n: s for n, s in steps.items() if n not in cells}, clock, repeats))
        for name in mixers:
            results[name]["time"].append(times.get(name))
            results[name]["memory"].append(target.peak_memory(steps[name]) if name in steps else None)
        floor_times.append(floor_seconds(mixers[f"cell-{nhead}h"][0], batch, length, target, repeats))
        print(f"  d_model {d_model}, T {length}: done", flush=True)
    return mixers, results, floor_times


def print_tables(d_model, lengths, nhead, batch, mixers, results, floor_times, peak_flops, precision="fp32"):
    """Prints time, memory and cell-efficiency tables for one d_model; returns the summary numbers.

    The ceiling columns are what an implementation of the same ``nhead`` cell on torch's kernels would reach if
    its step took only its floor time (``floor_times``: its matmuls and its activation alone): the best matmul
    share, and the best speed-up over RelPosMHAXL."""
    names = list(results)
    cell, plain = mixers[f"cell-{nhead}h"][0], f"cell-{nhead}h"

    def row(cells, widths):
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))

    def fmt(value, scale, digits=1):
        return "skipped" if value is None else f"{value * scale:.{digits}f}"

    def speed(value):
        return "skipped" if value is None else f"{value:.1f}x"

    widths = [6] + [max(len(n), 9) for n in names]
    print(f"\nd_model {d_model}, batch {batch}: training step time (ms, min over repeats)")
    print(row(["T"] + names, widths))
    for i, length in enumerate(lengths):
        print(row([length] + [fmt(results[n]["time"][i], 1e3) for n in names], widths))
    exponents = {n: fit_exponent(lengths, results[n]["time"]) for n in names}
    print(row(["exp."] + [f"{exponents[n]:.3f}" for n in names], widths))

    print(f"\nd_model {d_model}, batch {batch}: peak memory of the step (MiB)")
    print(row(["T"] + names, widths))
    for i, length in enumerate(lengths):
        print(row([length] + [fmt(results[n]["memory"][i], 2**-20) for n in names], widths))

    headers = ["T", f"share-{nhead}h", "share-1h"] + [f"{c}/plain" for c in CHUNK_CONFIGS]
    headers += [f"RelPosMHAXL/{plain}", f"SDPA/{plain}", f"ceiling-{nhead}h", "ceiling-xRelPos"]
    widths = [6] + [max(len(h), 8) for h in headers[1:]]
    print(
        f"\nd_model {d_model}: cell share of measured {precision} matmul throughput ({peak_flops / 1e9:.1f} GFLOP/s), "
        "chunked/plain time, speed-up of the cell, and the ceilings left by its matmuls + activation alone"
    )
    print(row(headers, widths))
    summary = {"share": {}, "share1": {}, "chunk": {}, "relpos": {}, "sdpa": {}, "exponent": exponents[plain]}
    summary.update(ceiling={}, ceiling_relpos={})
    for i, length in enumerate(lengths):
        base = results[plain]["time"][i]
        one_head = results["cell-1h"]["time"][i]
        summary["share"][length] = cell_matmul_flops(cell, batch, length, 1) / base / peak_flops
        summary["share1"][length] = cell_matmul_flops(mixers["cell-1h"][0], batch, length, 1) / one_head / peak_flops
        ratios = [results[f"{plain}-{c}"]["time"][i] / base for c in CHUNK_CONFIGS]
        summary["chunk"][length] = max(ratios)
        speedups = [
            None if results[n]["time"][i] is None else results[n]["time"][i] / base for n in ("RelPosMHAXL", "SDPA")
        ]
        summary["relpos"][length], summary["sdpa"][length] = speedups
        summary["ceiling"][length] = cell_matmul_flops(cell, batch, length, 1) / floor_times[i] / peak_flops
        relpos = results["RelPosMHAXL"]["time"][i]
        summary["ceiling_relpos"][length] = None if relpos is None else relpos / floor_times[i]
        print(
            row(
                [length, f"{summary['share'][length]:.1%}", f"{summary['share1'][length]:.1%}"]
                + [f"{r:.2f}" for r in ratios]
                + [speed(s) for s in speedups]
                + [f"{summary['ceiling'][length]:.1%}", speed(summary["ceiling_relpos"][length])],
                widths,
            )
        )
    return summary


def print_targets(summary, lengths):
    """Checks the d_model 512 numbers against the targets of the issue."""
    long = [t for t in lengths if t >= 1000]
    checks = [
        (
            "min matmul share, 4 heads, T >= 1000",
            min(summary["share"][t] for t in long),
            0.85,
            ">=",
            min(summary["ceiling"][t] for t in long),
        ),
        ("min matmul share, 1 head, T >= 1000", min(summary["share1"][t] for t in long), 0.90, ">=", None),
        ("time exponent of the cell (T >= 1000)", summary["exponent"], 1.05, "<=", None),
        ("max chunked / plain time", max(summary["chunk"].values()), 1.1, "<=", None),
    ]
    if 4000 in lengths:
        for key, name, target, ceiling in (
            ("relpos", "RelPosMHAXL", 30, summary["ceiling_relpos"][4000]),
            ("sdpa", "SDPA", 6.5, None),
        ):
            if summary[key][4000] is not None:
                checks.append((f"speed-up over {name} at T = 4000", summary[key][4000], target, ">=", ceiling))
    print("\n" + TARGETS)
    for name, value, target, sense, ceiling in checks:
        met = value >= target if sense == ">=" else value <= target
        bound = "" if ceiling is None else f"  (ceiling, matmuls + activation alone: {ceiling:.3f})"
        print(f"  {name:42s} {value:8.3f}  (target {sense} {target})  {'met' if met else 'MISSED'}{bound}")


def plot(path, all_results, lengths):
    """Log-log time and memory curves of every mixer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = ["--", "-", ":", "-."]
    for index, (d_model, results) in enumerate(all_results.items()):
        style = styles[index % len(styles)]
        for color, (name, values) in enumerate(results.items()):
            for axis, key, scale in ((axes[0], "time", 1e3), (axes[1], "memory", 2**-20)):
                points = [(t, v * scale) for t, v in zip(lengths, values[key]) if v is not None]
                axis.loglog(*zip(*points), style, color=f"C{color}", marker="o", label=f"{name} d{d_model}")
    axes[0].set(xlabel="T (frames)", ylabel="fwd+bwd time (ms)")
    axes[1].set(xlabel="T (frames)", ylabel="peak memory (MiB)")
    axes[1].legend(fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"plot written to {path}")


def main(argv=None):
    """Parses the command line and runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="d_model 256, T <= 1000, 2 repeats (< 1 minute)")
    parser.add_argument("--d-models", type=positive_int, nargs="+", help="widths (default 256 512)")
    parser.add_argument("--lengths", type=positive_int, nargs="+", help=f"T values (default {FULL_LENGTHS})")
    parser.add_argument("--nhead", type=positive_int, default=4, help="heads of every mixer (default 4)")
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=positive_int, help="max timed repeats (default 7, quick 2)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--max-quadratic-gb",
        type=positive_float,
        default=8.0,
        help="skip attention at lengths whose extrapolated peak memory exceeds this (default 8)",
    )
    parser.add_argument("--plot", help="write time/memory curves to this image (needs matplotlib)")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install 'summarymixing[plot]'")
    d_models = args.d_models or ([256] if args.quick else [256, 512])
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)
    repeats = args.repeats or (2 if args.quick else 7)

    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    print(
        f"{target.describe()}, clock: {target.clock().__name__}, "
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    peak_flops = target.matmul_throughput()
    print(f"measured {args.precision} matmul throughput: {peak_flops / 1e9:.1f} GFLOP/s (best of >= 5)")
    all_results, summaries = {}, {}
    for d_model in d_models:
        mixers, results, floor_times = measure(
            d_model, lengths, args.nhead, args.batch, repeats, target, args.max_quadratic_gb * 2**30
        )
        summaries[d_model] = print_tables(
            d_model, lengths, args.nhead, args.batch, mixers, results, floor_times, peak_flops, args.precision
        )
        all_results[d_model] = results
    if 512 in summaries:
        print_targets(summaries[512], lengths)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.plot:
        plot(args.plot, all_results, lengths)


if __name__ == "__main__":
    main()
