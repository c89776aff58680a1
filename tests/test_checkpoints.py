"""AtomicCheckpointer: a save killed half-way, or a full disk, leaves the previous checkpoints recoverable; a folder of
another model reads as one clear error."""

import errno
import shutil

import pytest
import torch

from summarymixing.experiment import checkpoints
from summarymixing.experiment.checkpoints import AtomicCheckpointer, CheckpointMismatchError


class Interrupted(Exception):
    pass


def test_a_save_killed_half_way_leaves_the_previous_checkpoint_to_recover(tmp_path):
    model = torch.nn.Linear(3, 2)
    saved_state = {key: value.clone() for key, value in model.state_dict().items()}
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    first = checkpointer.save_checkpoint(meta={"step": 1})

    def killed(obj, path):
        raise Interrupted(path)

    with torch.no_grad():
        model.weight.add_(1.0)
    # the model file of the second checkpoint is written, then the save dies
    checkpointer.add_recoverable("counter", torch.nn.Linear(1, 1), custom_save_hook=killed)
    with pytest.raises(Interrupted):
        checkpointer.save_checkpoint(meta={"step": 2})
    assert [checkpoint.meta["step"] for checkpoint in checkpointer.list_checkpoints()] == [1]

    recovered_model = torch.nn.Linear(3, 2)
    recovering = AtomicCheckpointer(tmp_path, recoverables={"model": recovered_model})
    assert recovering.recover_if_possible().path == first.path
    for key, value in recovered_model.state_dict().items():
        assert torch.equal(value, saved_state[key])

    second = recovering.save_checkpoint(meta={"step": 3})  # also removes the staging folder of the killed save
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([first.path.name, second.path.name])
    assert set(second.paramfiles) == {"model"} and second.paramfiles["model"].is_file()


def test_a_named_checkpoint_saved_again_replaces_the_old_one(tmp_path):
    model = torch.nn.Linear(3, 2)
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    checkpointer.save_checkpoint(name="latest", meta={"step": 1})
    checkpointer.save_checkpoint(name="latest", meta={"step": 2})
    assert [(c.path.name, c.meta["step"]) for c in checkpointer.list_checkpoints()] == [("CKPT+latest", 2)]


def test_a_folder_of_another_model_reads_as_one_clear_error(tmp_path):
    AtomicCheckpointer(tmp_path, recoverables={"model": torch.nn.Linear(3, 2)}).save_checkpoint()
    bigger = AtomicCheckpointer(tmp_path, recoverables={"model": torch.nn.Linear(5, 2)})
    with pytest.raises(
        CheckpointMismatchError,
        match="holds another model than the one this YAML builds .*size mismatch for weight.*use another output_folder",
    ):
        bigger.recover_if_possible()


def test_a_full_disk_reads_as_one_clear_error_and_keeps_the_previous_checkpoints(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": model})
    first = checkpointer.save_checkpoint(meta={"step": 1})

    def full_disk(*args, **kwargs):  # what torch says when the disk fills during a save
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 512 vs 448")

    monkeypatch.setattr(torch, "save", full_disk)
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(
        OSError,
        match="no space left on the device while saving a checkpoint in .*0 MiB free.*previous checkpoints are intact",
    ) as raised:
        checkpointer.save_checkpoint(meta={"step": 2})
    assert raised.value.errno == errno.ENOSPC
    assert [path.name for path in tmp_path.iterdir()] == [first.path.name]
