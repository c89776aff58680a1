"""A SpeechBrain checkpointer whose checkpoints appear only once they are complete.

SpeechBrain's ``Checkpointer.save_checkpoint`` creates ``CKPT+<time>/`` and writes its meta file first, then the
parameter files one by one. Training killed in between leaves a checkpoint that ``recover_if_possible`` picks as
the newest and then fails to load (``PytorchStreamReader failed reading zip archive``), so the rerun of the same
command crashes instead of resuming. :class:`AtomicCheckpointer` writes every checkpoint into a staging folder whose
name SpeechBrain does not list (``.partial-CKPT+<time>``) and renames it to ``CKPT+<time>`` once all files are
written: a killed save leaves the previous checkpoints as they were.

Authors
 * SummaryMixing contributors 2026
"""

import errno
import logging
import os
import shutil

import torch
from speechbrain.utils.checkpoints import (
    DEFAULT_LOAD_HOOKS,
    Checkpoint,
    Checkpointer,
    get_default_hook,
    torch_recovery,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

STAGING_PREFIX = ".partial-"
LOW_DISK_BYTES = 64 * 2**20
"""Free space under which a failed save is reported as a full disk."""
logger = logging.getLogger(__name__)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint holds another model (other sizes or modules) than the one built."""


class AtomicCheckpointer(Checkpointer):
    """``speechbrain.utils.checkpoints.Checkpointer`` (same arguments) that saves each checkpoint into a staging
    folder and renames it into place when complete. Staging folders left by a killed save are removed by the next
    save.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> model = torch.nn.Linear(2, 2)
    >>> checkpointer = AtomicCheckpointer(folder, recoverables={"model": model})
    >>> checkpoint = checkpointer.save_checkpoint()
    >>> checkpoint.path.name.startswith("CKPT+"), sorted(os.listdir(checkpoint.path))
    (True, ['CKPT.yaml', 'model.ckpt'])
    >>> checkpointer.find_checkpoint().path == checkpoint.path
    True
    """

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Saves a checkpoint like ``Checkpointer.save_checkpoint`` (same arguments and return value), but it is
        visible to ``find_checkpoint`` and ``recover_if_possible`` only once every file of it is written.

        A full disk reads as one clear error (``OSError`` ENOSPC naming the folder and the free space; torch
        itself says ``unexpected pos``), and the half-written checkpoint is removed."""
        if if_main_process():
            self._remove_staging_folders()
        try:
            staged = super().save_checkpoint(meta=meta, end_of_epoch=end_of_epoch, name=name, verbosity=logging.DEBUG)
        except (OSError, RuntimeError) as error:
            self._remove_staging_folders()
            free = shutil.disk_usage(self.checkpoints_dir).free
            if getattr(error, "errno", None) == errno.ENOSPC or free < LOW_DISK_BYTES:
                raise OSError(
                    errno.ENOSPC,
                    f"no space left on the device while saving a checkpoint in {self.checkpoints_dir} "
                    f"({free / 2**20:.0f} MiB free); the previous checkpoints are intact: free space and run the "
                    f"same command again to resume ({error})",
                ) from error
            raise
        ddp_barrier()
        if staged is None:  # not the main process
            return None
        final = staged.path.with_name(staged.path.name[len(STAGING_PREFIX) :])
        if final.exists():  # a custom name saved again: replace the old checkpoint
            shutil.rmtree(final)
        os.rename(staged.path, final)
        kind = "end-of-epoch" if end_of_epoch else "intra-epoch"
        logger.log(verbosity, f"Saved an {kind} checkpoint in {final}")
        return Checkpoint(final, staged.meta, {key: final / path.name for key, path in staged.paramfiles.items()})

    def check_compatible(self):
        """Raises :class:`CheckpointMismatchError` when the newest checkpoint holds another model than the one
        built: the names and shapes of every module's tensors are compared (read memory-mapped, nothing loaded),
        so that a run folder is refused before anything is written into it rather than at recovery."""
        checkpoint = self.find_checkpoint()
        if checkpoint is None:
            return
        for name, obj in self.recoverables.items():
            path = checkpoint.paramfiles.get(name)
            if path is None or name in self.custom_load_hooks:
                continue
            if not isinstance(obj, torch.nn.Module) or get_default_hook(obj, DEFAULT_LOAD_HOOKS) is not torch_recovery:
                continue
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception as error:  # a truncated or foreign file: torch's errors vary by kind
                raise CheckpointMismatchError(f"{path} cannot be read ({type(error).__name__}: {error})") from None
            built = obj.state_dict()
            shapes = {key: tuple(value.shape) for key, value in saved.items() if isinstance(value, torch.Tensor)}
            differ = [
                f"{key}: {shapes.get(key, 'missing')} in the checkpoint, {tuple(value.shape)} built"
                for key, value in built.items()
                if shapes.get(key) != tuple(value.shape)
            ] + [f"{key}: in the checkpoint, not built" for key in shapes.keys() - built.keys()]
            if differ:
                raise CheckpointMismatchError(
                    f"{checkpoint.path} holds another model than the one this YAML builds ({name}: {differ[0]}"
                    f"{f'; and {len(differ) - 1} more' if len(differ) > 1 else ''}); this folder belongs to another "
                    "run: use another output_folder, or delete it to start over"
                )

    def _call_load_hooks(self, checkpoint):
        """Loads a checkpoint; one that holds another model than the one built reads as one clear error."""
        try:
            super()._call_load_hooks(checkpoint)
        except RuntimeError as error:
            if "size mismatch" not in str(error) and "key(s) in state_dict" not in str(error):
                raise
            first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))
            raise CheckpointMismatchError(
                f"{checkpoint.path} holds another model than the one this YAML builds ({first}); this folder "
                "belongs to another run: use another output_folder, or delete it to start over"
            ) from error

    # SpeechBrain calls these two only from save_checkpoint, to name the folder it writes into
    def _new_checkpoint_dirpath(self):
        path = super()._new_checkpoint_dirpath()
        return path.with_name(STAGING_PREFIX + path.name)

    def _custom_checkpoint_dirpath(self, name):
        path = super()._custom_checkpoint_dirpath(name)
        return path.with_name(STAGING_PREFIX + path.name)

    def _remove_staging_folders(self):
        if self.checkpoints_dir.is_dir():
            for entry in self.checkpoints_dir.iterdir():
                if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
                    shutil.rmtree(entry)
