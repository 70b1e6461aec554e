"""Checkpoint resolution and reading (one module for the trainer and the figures), and the run lock."""

from __future__ import annotations

import os
import pickle
import re
import time

import pytest
import torch

from tests.conftest import hold_lock
from tools import figures
from trainers.checkpoints import CheckpointError, read_checkpoint, read_pointer, resolve_checkpoint
from trainers.run_lock import LOCK_FILE, RunLockedError, output_lock


def save(folder, name: str, epoch: int) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    torch.save({"state_dict": {"prompt.delta": torch.zeros(2, 3, 8, 8)}, "epoch": epoch}, path)
    return path


def test_best_comes_before_the_latest_and_load_epoch_before_both(tmp_path):
    folder = tmp_path / "prompt_learner"
    latest = save(folder, "model.pth.tar-5", 5)
    (folder / "checkpoint").write_text("model.pth.tar-5\n")
    assert resolve_checkpoint(str(folder)) == latest
    best = save(folder, "model-best.pth.tar", 3)
    assert resolve_checkpoint(str(folder)) == best
    assert resolve_checkpoint(str(folder), epoch=5) == latest


def test_the_figures_show_the_checkpoint_an_evaluation_loads(tmp_path):
    folder = tmp_path / "prompt_learner"
    save(folder, "model.pth.tar-5", 5)
    (folder / "checkpoint").write_text("model.pth.tar-5\n")
    best = save(folder, "model-best.pth.tar", 3)
    assert str(figures.run_checkpoint(tmp_path)) == best == resolve_checkpoint(str(folder))


def test_a_folder_without_pointer_uses_the_highest_epoch(tmp_path):
    for epoch in (2, 10):
        last = save(tmp_path, f"model.pth.tar-{epoch}", epoch)
    assert resolve_checkpoint(str(tmp_path)) == last
    assert resolve_checkpoint(str(tmp_path / "empty")) is None


@pytest.mark.parametrize("content", [b"", b"\n", b"../../etc/passwd\n", b"\xff\xfe"])
def test_a_damaged_pointer_names_the_pointer_and_the_fix(tmp_path, content):
    (tmp_path / "checkpoint").write_bytes(content)
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "checkpoint"))) as error:
        read_pointer(str(tmp_path))
    assert "Delete it to train from scratch" in str(error.value)


class Payload:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("truncated", "truncated or damaged"),
        (b"not a checkpoint at all", "not a checkpoint of this project"),
        (pickle.dumps({"state_dict": Payload()}), "objects other than tensors"),
        ("list", "not a dict with a state_dict"),
    ],
)
def test_a_broken_checkpoint_names_the_file_and_never_suggests_weights_only_false(tmp_path, content, says):
    path = tmp_path / "model.pth.tar-3"
    if content == "truncated":
        save(tmp_path, path.name, 3)
        path.write_bytes(path.read_bytes()[:200])
    elif content == "list":
        torch.save([1, 2], path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(str(path))
    message = str(error.value)
    assert str(path) in message and says in message
    assert "weights_only" not in message


def test_a_second_run_in_a_locked_folder_is_refused_and_a_dead_runs_lock_taken_over(tmp_path, capsys):
    holder = hold_lock(tmp_path)
    try:
        locked = rf"another run \(process {holder.pid} on .*\) is writing"
        with pytest.raises(RunLockedError, match=locked), output_lock(str(tmp_path)):
            pass
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with output_lock(str(tmp_path)):
        assert f"from an ended run (process {holder.pid})" in capsys.readouterr().out
    assert (tmp_path / LOCK_FILE).read_text() == ""
    with output_lock(str(tmp_path)):  # a run that ended cleanly leaves nothing to take over
        assert "Taking over" not in capsys.readouterr().out
