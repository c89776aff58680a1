"""Measurement helpers shared by every benchmark: clocks, best-of-N timing on CPU and CUDA, peak memory, matmul
throughput, growth-exponent fits, and the mixer that mixes nothing (the cost every encoder shares).

Authors
-------
* The summarymixing contributors (2026)
"""

import json
import math
import os
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile


def cpu_clock():
    """This process's CPU time on one thread (robust to other jobs); wall time on several."""
    return time.process_time if torch.get_num_threads() == 1 else time.perf_counter


def cuda_best_time(step, rounds):
    """Best of ``rounds`` CUDA-event timings of ``step`` (after a warm-up) and the peak allocated bytes."""
    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    best = float("inf")
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return best, torch.cuda.max_memory_allocated() - base


def matmul_throughput(clock, size=2048, repeats=5, dtype=torch.float32):
    """FLOP/s of a square ``dtype`` matmul on the current threads (best of at least ``repeats`` runs)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / min(best_times({"matmul": lambda: a @ b}, clock, repeats).values())


def best_times(steps, clock, repeats, budget_s=5.0, min_s=2.0):
    """Minimum time of each step over ``repeats`` rounds, or more while the rounds have taken less than
    ``min_s`` of wall time (fast steps get enough samples for their minimum to settle on a loaded machine), and
    at least 2 (no new round once ``budget_s`` is spent), after one warm-up run each. Within a round the steps
    run one after the other, so a change of machine load affects all of them alike; each step runs twice in a
    row and both runs are timed, so that the minimum is that of a step repeated as in training, not of a step
    that finds the caches and the allocator as another model left them."""
    for step in steps.values():
        step()
    best = {name: math.inf for name in steps}
    start = time.perf_counter()
    round_ = 0
    while True:
        elapsed = time.perf_counter() - start
        if round_ >= 2 and (elapsed > budget_s or (round_ >= repeats and elapsed > min_s)):
            break
        for name, step in steps.items():
            for _ in range(2):
                begin = clock()
                step()
                best[name] = min(best[name], clock() - begin)
        round_ += 1
    return best


def peak_memory(step):
    """Peak bytes of the tensors that ``step`` allocates and holds at the same time, from the allocation and
    free events that ``torch.profiler`` records (frees of tensors allocated before the step are ignored)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as trace:
            events = json.load(trace)["traceEvents"]
    memory_events = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    live, current, peak = {}, 0, 0
    for event in memory_events:
        address, size = event["args"]["Addr"], event["args"]["Bytes"]
        if size > 0:
            live[address] = size
            current += size
        elif address in live:
            current -= live.pop(address)
        peak = max(peak, current)
    return peak


def fit_exponent(lengths, times, min_length=1000):
    """Slope of log(time) against log(T) over the lengths >= ``min_length`` (all lengths if fewer than two
    reach it; NaN with fewer than two measured points)."""
    measured = [(math.log(t), math.log(s)) for t, s in zip(lengths, times) if s is not None]
    long = [(x, y) for x, y in measured if x >= math.log(min_length)]
    points = long if len(long) >= 2 else measured
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def step_peak_memory(step):
    """Peak bytes allocated during ``step`` above what was allocated just before it.

    The profiler's running total of allocated bytes (read by ``peak_memory``) also carries blocks counted in
    earlier profiled runs and freed while no profiler ran (e.g. the gradients of an earlier step), so only its rise
    during ``step`` is meaningful: the total reached by a one-element allocation just before is subtracted.
    """
    baseline = peak_memory(lambda: torch.empty(1))
    return peak_memory(step) - baseline


class NoMixer(torch.nn.Module):
    """A token mixer that returns zeros: the encoder around it costs what every mixer's encoder shares."""

    def forward(self, query, **kwargs):
        """Zeros shaped like ``query`` and no attention weights, whatever the other arguments."""
        return torch.zeros_like(query), None
