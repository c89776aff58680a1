"""What a training run cost, logged in its run folder: the efficiency columns the papers report.

Every recipe's ``Brain`` derives from :class:`RecipeBrain`, which appends one JSON line per training epoch to
``<output_folder>/training_cost.jsonl``:

* ``wall_s``: the epoch's training wall time (this process's part of it when a run resumed mid-epoch);
* ``devices``, ``device_hours``: the processes (one device each under DDP) and wall time x processes;
* ``peak_memory_bytes`` and ``memory``: the peak over the epoch and over the DDP ranks of CUDA's
  ``max_memory_allocated`` (``cuda_max_allocated``), or on a CPU of the process's peak resident set size
  (``cpu_peak_rss``, since the process started);
* ``steps``: optimiser steps in the epoch; ``audio_s``: seconds of audio in the training batches, over all ranks;
* ``resumed``: whether the epoch started from an intra-epoch checkpoint.

Lines are appended, never rewritten, so the log survives interruptions and resumes: an epoch that ran twice (killed
after its line, before its checkpoint) has two lines, and both cost devices. :func:`read_training_cost` sums them.

Authors
-------
* The summarymixing contributors (2026)
"""

import json
import os
import resource
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

COST_FILE = "training_cost.jsonl"

logger = get_logger(__name__)


class RecipeBrain(sb.Brain):
    """SpeechBrain's ``Brain`` that logs each training epoch's cost (see the module documentation) to
    ``hparams.output_folder`` (nowhere when the hyperparameters have no ``output_folder``).

    Example
    -------
    >>> import json
    >>> class Regression(RecipeBrain):
    ...     def compute_forward(self, batch, stage):
    ...         return self.modules.layer(batch[0])
    ...     def compute_objectives(self, predictions, batch, stage):
    ...         return torch.nn.functional.mse_loss(predictions, batch[1])
    >>> folder = getfixture("tmp_path")
    >>> brain = Regression({"layer": torch.nn.Linear(2, 1)}, lambda p: torch.optim.SGD(p, 0.1),
    ...                    hparams={"output_folder": str(folder)}, run_opts={"device": "cpu"})
    >>> brain.fit(range(2), [(torch.ones(4, 2), torch.zeros(4, 1))] * 3)
    >>> [line["steps"] for line in map(json.loads, open(folder / COST_FILE))]
    [3, 3]
    >>> read_training_cost(folder)["steps"]
    6
    """

    _audio_seconds = 0.0
    """Seconds of audio in the training batches of the current epoch (also counted outside ``fit``, e.g. by the
    benchmarks' direct ``fit_batch`` calls)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.check_hparams()
        except (ValueError, FileNotFoundError) as error:  # the user's settings: one line, no traceback
            raise SystemExit(f"{os.path.basename(sys.argv[0])}: {error}") from None

    def check_hparams(self):
        """Checks, before any training, the settings that the recipe would otherwise find wrong only after it
        (the test decoding's options, an LM folder); raises ValueError or FileNotFoundError naming the key.
        Recipes add theirs."""

    def _fit_train(self, train_set, epoch, enable):
        """SpeechBrain's training epoch (``Brain._fit_train`` of the pinned SpeechBrain), timed and logged."""
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        start, steps, resumed = time.time(), self.optimizer_step, self.step > 0
        self._audio_seconds = 0.0
        super()._fit_train(train_set, epoch, enable)
        wall = time.time() - start
        self._log_cost(epoch, wall, self.optimizer_step - steps, resumed)

    def fit_batch(self, batch):
        """SpeechBrain's ``fit_batch``, counting the seconds of audio in the batch (its ``sig`` lengths)."""
        loss = super().fit_batch(batch)
        signal = getattr(batch, "sig", None)
        if signal is not None:
            samples = float((signal.lengths * signal.data.shape[1]).sum())
            self._audio_seconds += samples / getattr(self.hparams, "sample_rate", 16000)
        return loss

    def load_best_average(self, model, count, max_key=None, min_key=None):
        """Loads into ``model`` (the checkpoints' ``model`` recoverable) the average of the ``count`` best
        checkpoints by ``max_key`` or ``min_key``, and puts it in evaluation mode.

        Returns
        -------
        list of speechbrain.utils.checkpoints.Checkpoint
            The averaged checkpoints.
        """
        checkpoints = self.checkpointer.find_checkpoints(max_key=max_key, min_key=min_key, max_num_checkpoints=count)
        if not checkpoints:
            raise RuntimeError(f"No checkpoint with {max_key or min_key} in {self.checkpointer.checkpoints_dir}")
        averaged = sb.utils.checkpoints.average_checkpoints(checkpoints, recoverable_name="model")
        model.load_state_dict(averaged, strict=True)
        model.eval()
        logger.info(f"Averaged {len(checkpoints)} checkpoint(s): {[c.path.name for c in checkpoints]}")
        return checkpoints

    def _log_cost(self, epoch, wall, steps, resumed):
        """Gathers the ranks' numbers and appends the epoch's line on the main process."""
        cuda = self.device.startswith("cuda")
        peak = torch.cuda.max_memory_allocated(self.device) if cuda else peak_resident_bytes()
        numbers = torch.tensor([float(peak), wall], dtype=torch.float64)
        audio = torch.tensor([self._audio_seconds], dtype=torch.float64)
        devices = 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            devices = torch.distributed.get_world_size()
            target = self.device if cuda else "cpu"
            numbers, audio = numbers.to(target), audio.to(target)
            torch.distributed.all_reduce(numbers, op=torch.distributed.ReduceOp.MAX)
            torch.distributed.all_reduce(audio, op=torch.distributed.ReduceOp.SUM)
        folder = getattr(self.hparams, "output_folder", None)
        if folder is None or not if_main_process():
            return
        peak, wall = numbers.tolist()
        record = {
            "epoch": epoch, "wall_s": round(wall, 3), "devices": devices,
            "device_hours": round(wall * devices / 3600, 6), "peak_memory_bytes": int(peak),
            "memory": "cuda_max_allocated" if cuda else "cpu_peak_rss", "steps": steps,
            "audio_s": round(float(audio.item()), 3), "resumed": resumed,
        }  # fmt: skip
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, COST_FILE), "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
            log.flush()
            os.fsync(log.fileno())


def peak_resident_bytes():
    """This process's peak resident set size (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def read_training_cost(folder):
    """The run's total cost from its ``training_cost.jsonl``: wall time, device-hours, steps and audio summed,
    peak memory maxed, epochs counted (a line cut short by a kill is skipped); None without a log.

    Arguments
    ---------
    folder : str
        The run folder.

    Returns
    -------
    dict or None
        ``wall_s``, ``device_hours``, ``peak_memory_bytes``, ``memory``, ``steps``, ``audio_s``, ``epochs``,
        ``devices`` (the most used by an epoch).
    """
    path = os.path.join(folder, COST_FILE)
    if not os.path.isfile(path):
        return None
    records = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    if not records:
        return None
    total = {key: sum(record[key] for record in records) for key in ("wall_s", "device_hours", "steps", "audio_s")}
    total.update(
        peak_memory_bytes=max(record["peak_memory_bytes"] for record in records),
        memory=records[-1]["memory"],
        epochs=len({record["epoch"] for record in records}),
        devices=max(record["devices"] for record in records),
    )
    return total
