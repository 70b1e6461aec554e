"""Which checkpoint of a run folder to use, and reading it, with errors that name the file.

A module folder (``<run>/prompt_learner``) holds ``model.pth.tar-<E>`` (the latest epoch, replaced as
training goes), the ``checkpoint`` pointer naming it (what ``--resume`` follows), and with
``TEST.FINAL_MODEL best_val`` also ``model-best.pth.tar``. Evaluation and figures use the same one:
``--load-epoch E`` if given, else the best-validation checkpoint, else the latest.
"""

from __future__ import annotations

import glob
import io
import os
import pickle
import re
from typing import Any

import torch

from datasets.atomic import atomic_path, ensure_space

MODULE_NAME = "prompt_learner"  # the one module a run registers with Dassl: its folder in the run
POINTER = "checkpoint"
BEST = "model-best.pth.tar"
EPOCH_FILE = re.compile(r"model\.pth\.tar-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint or pointer file that is missing, unreadable or does not fit this run."""


def epoch_file(epoch: int) -> str:
    """The file name of the checkpoint saved after ``epoch`` epochs."""
    return f"model.pth.tar-{epoch}"


def read_pointer(folder: str) -> str:
    """The checkpoint the ``checkpoint`` pointer of a module folder names, as a path."""
    pointer = os.path.join(folder, POINTER)
    try:
        with open(pointer, encoding="utf-8") as file:
            name = file.readline().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"cannot read the checkpoint pointer {pointer} ({error}). Delete it to train from scratch, "
            "or write the name of a model.pth.tar-<E> of that folder into it."
        ) from error
    if not name or os.sep in name or name in (".", ".."):
        raise CheckpointError(
            f"the checkpoint pointer {pointer} holds {name!r}, not a checkpoint file name. Delete it to "
            "train from scratch, or write the name of a model.pth.tar-<E> of that folder into it."
        )
    return os.path.join(folder, name)


def has_checkpoint(run_dir: str) -> bool:
    """Whether a run folder holds a checkpoint to resume: a module folder with a ``checkpoint`` pointer."""
    return bool(glob.glob(os.path.join(glob.escape(run_dir), "*", POINTER)))


def saved_epochs(folder: str) -> list[int]:
    """The epochs of the ``model.pth.tar-<E>`` files of a module folder, in order."""
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(int(match[1]) for name in names if (match := EPOCH_FILE.fullmatch(name)))


def resolve_checkpoint(folder: str, epoch: int | None = None) -> str | None:
    """``--load-epoch E``'s file, else the best-validation checkpoint, else the latest (the pointer's,
    or the highest epoch in a folder without a pointer); None when there is none."""
    if epoch is not None:
        return os.path.join(folder, epoch_file(epoch))
    best = os.path.join(folder, BEST)
    if os.path.isfile(best):
        return best
    if os.path.isfile(os.path.join(folder, POINTER)):
        return read_pointer(folder)
    epochs = saved_epochs(folder)
    return os.path.join(folder, epoch_file(epochs[-1])) if epochs else None


def write_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Save a checkpoint atomically, after checking that its disk has room for it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    ensure_space(path, buffer.getbuffer().nbytes)
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(buffer.getbuffer())


def read_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (tensors and plain containers only) as a dict with a ``state_dict``."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(
            f"checkpoint {path} does not exist. Train first, or give another folder."
        ) from error
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"cannot load checkpoint {path}: it is not a checkpoint of this project (damaged, or holding "
            "objects other than tensors and plain containers, which are refused for safety). Delete it "
            "and train again, or evaluate another run."
        ) from error
    except Exception as error:
        lines = str(error).strip().splitlines()
        reason = lines[0][:200] if lines and "weights_only" not in lines[0] else "unreadable"
        raise CheckpointError(
            f"cannot load checkpoint {path} ({type(error).__name__}: {reason}): the file is truncated or "
            "damaged. Delete it and train again."
        ) from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(
            f"checkpoint {path} is not a dict with a state_dict, so it was not written by this project. "
            "Delete it, or evaluate another run."
        )
    return checkpoint
