"""Measurement helpers shared by every benchmark: where and how a benchmark runs (:class:`Target`: device,
precision, ``torch.compile``), clocks, best-of-N timing, peak memory on CPU and CUDA, matmul throughput,
growth-exponent fits, and the mixer that mixes nothing (the cost every encoder shares).

Every benchmark takes the same three options (:func:`add_target_arguments`)::

    --device cpu|cuda[:N]   --precision fp32|fp16|bf16   --compile

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import contextlib
import ctypes
import json
import math
import os
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def positive_int(text):
    """An argparse type: a whole number above 0 (``--threads 0`` is refused by argparse, naming the option).

    Example
    -------
    >>> positive_int("4")
    4
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a whole number above 0, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, got {text!r}")
    return value


def positive_float(text):
    """An argparse type: a finite number above 0 (lengths in seconds).

    Example
    -------
    >>> positive_float("-5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a number above 0, got '-5'
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def add_target_arguments(parser, default_precision="fp32"):
    """Adds ``--device``, ``--precision`` and ``--compile`` to ``parser`` (read back by
    :meth:`Target.from_arguments`)."""
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default=default_precision,
        help=f"autocast dtype of the forward pass, as a recipe's --precision (default {default_precision})",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the models (dynamic shapes), as a recipe's --compile"
    )


class Target:
    """Where and how a benchmark runs: device, autocast precision, and whether the models are compiled.

    Arguments
    ---------
    device : str
        ``cpu`` or ``cuda[:N]``.
    precision : str
        ``fp32``, ``fp16`` (CUDA only: fp16 autocast needs a GPU) or ``bf16``: the forward pass runs under
        autocast to that dtype, as SpeechBrain's ``Brain`` does with ``--precision``.
    compile : bool
        Whether :meth:`prepare` compiles modules with ``torch.compile(dynamic=True)``.

    Example
    -------
    >>> target = Target("cpu", "bf16")
    >>> with target.autocast():
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    >>> Target("cpu", "fp16")
    Traceback (most recent call last):
        ...
    ValueError: --precision fp16 needs CUDA (fp16 autocast is a GPU feature); use bf16 on a CPU
    """

    def __init__(self, device="cpu", precision="fp32", compile=False):
        if precision not in PRECISIONS:
            raise ValueError(f"--precision {precision!r}: expected one of {sorted(PRECISIONS)}")
        if str(device).split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"--device {device}: expected cpu or cuda[:N]")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {device}: this machine has no CUDA device (torch {torch.__version__})")
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("--precision fp16 needs CUDA (fp16 autocast is a GPU feature); use bf16 on a CPU")
        self.precision, self.compile = precision, compile

    @classmethod
    def from_arguments(cls, args):
        """The target of parsed :func:`add_target_arguments` options; a wrong one exits with its message."""
        try:
            return cls(args.device, args.precision, args.compile)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None

    @property
    def is_cuda(self):
        """Whether the target is a CUDA device."""
        return self.device.type == "cuda"

    @property
    def dtype(self):
        """The autocast dtype (float32 for fp32)."""
        return PRECISIONS[self.precision]

    def describe(self):
        """One line naming the device (and GPU), precision and compilation, for a table's header."""
        if self.is_cuda:
            where = f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        else:
            where = f"cpu ({torch.get_num_threads()} thread(s))"
        return f"{where}, {self.precision}{', compiled' if self.compile else ''}, torch {torch.__version__}"

    def autocast(self):
        """The autocast context of the forward pass (none in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def prepare(self, module):
        """``module`` on the device, compiled if asked (see :meth:`compiled`)."""
        return self.compiled(module.to(self.device))

    def compiled(self, function):
        """``function`` (a module or a callable such as ``model.encode``) compiled if asked, with dynamic shapes:
        one graph serves every length."""
        return torch.compile(function, dynamic=True) if self.compile else function

    def run_options(self):
        """SpeechBrain ``run_opts`` for a recipe's ``Brain`` on this target."""
        options = {"device": str(self.device), "precision": self.precision}
        if self.compile:
            options.update(compile=True, compile_using_dynamic_shape_tracing=True)
        return options

    def clock(self):
        """The clock of :func:`best_times`: on CUDA, wall time once the device has finished its queued work;
        on a CPU, :func:`cpu_clock`."""
        if not self.is_cuda:
            return cpu_clock()

        def cuda_clock():
            torch.cuda.synchronize(self.device)
            return time.perf_counter()

        return cuda_clock

    def peak_memory(self, step):
        """Peak bytes that ``step`` allocates above what was allocated before it: CUDA's
        ``max_memory_allocated``, or on a CPU the profiler's replay (:func:`step_peak_memory`)."""
        if not self.is_cuda:
            return step_peak_memory(step)
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        step()
        torch.cuda.synchronize(self.device)
        return torch.cuda.max_memory_allocated(self.device) - base

    def matmul_throughput(self, repeats=5):
        """FLOP/s of a square matmul in the target's precision (2048 on a CPU, 8192 on CUDA)."""
        size = 8192 if self.is_cuda else 2048
        return matmul_throughput(self.clock(), size, repeats, self.dtype, self.device)


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


def cpu_clock():
    """This process's CPU time on one thread (robust to other jobs); wall time on several."""
    return time.process_time if torch.get_num_threads() == 1 else time.perf_counter


def matmul_throughput(clock, size=2048, repeats=5, dtype=torch.float32, device="cpu"):
    """FLOP/s of a square ``dtype`` matmul on ``device`` (best of at least ``repeats`` runs)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
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
