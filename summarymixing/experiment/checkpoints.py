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

import logging
import os
import shutil

from speechbrain.utils.checkpoints import Checkpoint, Checkpointer
from speechbrain.utils.distributed import ddp_barrier, if_main_process

STAGING_PREFIX = ".partial-"
logger = logging.getLogger(__name__)


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
        visible to ``find_checkpoint`` and ``recover_if_possible`` only once every file of it is written."""
        if if_main_process():
            self._remove_staging_folders()
        staged = super().save_checkpoint(meta=meta, end_of_epoch=end_of_epoch, name=name, verbosity=logging.DEBUG)
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
