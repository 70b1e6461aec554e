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
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from datasets.atomic import atomic_path, atomic_write, ensure_space
from trainers.run_files import truncate_history

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


def save_state(path: str, state: dict[str, Any]) -> None:
    """Save a checkpoint file atomically, after checking that its disk has room for it."""
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


def write_checkpoint(folder: str, state: dict[str, Any], model_name: str = "") -> None:
    """Write ``state`` atomically: as ``model_name`` (``model-best.pth.tar``), which moves nothing, or as
    its epoch's file, which the ``checkpoint`` pointer then names and which replaces older epochs."""
    filename = model_name or epoch_file(state["epoch"])
    save_state(os.path.join(folder, filename), state)
    if model_name:
        return
    with atomic_write(os.path.join(folder, POINTER)) as pointer:
        pointer.write(filename + "\n")
    for older in saved_epochs(folder):
        if older < state["epoch"]:
            os.remove(os.path.join(folder, epoch_file(older)))


def find_checkpoint(folder: str, epoch: int | None = None) -> str:
    """The checkpoint to evaluate (``resolve_checkpoint``), or an error naming the folder's checkpoints."""
    path = resolve_checkpoint(folder, epoch)
    if path is None or not os.path.isfile(path):
        found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "model*")))
        raise FileNotFoundError(
            f"No model at {path or folder}. Checkpoints in that folder: {found or 'none'}; pass one "
            "of their epochs with --load-epoch (or train first)."
        )
    return path


def check_checkpoint(
    checkpoint: dict[str, Any],
    path: str,
    module: nn.Module,
    run: dict[str, Any],
    resuming: bool = False,
) -> None:
    """The checkpoint's trainer, classes, parameter shapes and (to resume) schedule fit the run.

    ``run`` holds the run's ``trainer``, ``classnames``, ``dataset``, ``subsample_classes`` and ``max_epoch``.
    """
    trainer, name = checkpoint.get("trainer"), run["trainer"]
    if trainer is not None and trainer != name:
        raise CheckpointError(
            f"checkpoint {path} was trained by {trainer}, but this run is {name}. "
            f"Use --trainer {trainer}, or another --model-dir / --output-dir."
        )
    trained_on: Sequence[str] | None = checkpoint.get("classnames")
    evaluating, subsample = list(run["classnames"]), run["subsample_classes"]
    if trained_on is not None and (resuming or subsample != "new") and list(trained_on) != evaluating:
        raise CheckpointError(
            f"checkpoint {path} was trained on {len(trained_on)} classes ({', '.join(trained_on)}), "
            f"but {run['dataset']} with DATASET.SUBSAMPLE_CLASSES {subsample} has "
            f"{len(evaluating)} classes ({', '.join(evaluating)}). Evaluate on the classes it was "
            "trained on, or use DATASET.SUBSAMPLE_CLASSES new for base-to-novel."
        )
    max_epoch, wanted_epochs = checkpoint.get("max_epoch"), run["max_epoch"]
    if resuming and max_epoch is not None and max_epoch != wanted_epochs:
        raise CheckpointError(
            f"checkpoint {path} (epoch {checkpoint['epoch']}) was trained with OPTIM.MAX_EPOCH "
            f"{max_epoch}, and its learning-rate schedule ends there; this run asks for "
            f"{wanted_epochs}, which would make the learning rate jump. Train "
            f"{wanted_epochs} epochs in another --output-dir, or keep OPTIM.MAX_EPOCH "
            f"{max_epoch}."
        )
    expected = module.state_dict()
    for key, value in checkpoint["state_dict"].items():
        if key not in expected or expected[key].shape != value.shape:
            wanted = tuple(expected[key].shape) if key in expected else "absent"
            raise CheckpointError(
                f"checkpoint {path} does not fit this model: {key} has shape {tuple(value.shape)} "
                f"there and {wanted} here (different trainer, backbone, INPUT_SIZE or classes?)"
            )


class CheckpointHooks:
    """Dassl's checkpoint hooks for a trainer on the frozen CLIP (save, resume, load, check), which
    write and read the files above; mixed into ``FrozenCLIPTrainer`` ahead of Dassl's trainer."""

    def save_model(self, epoch: int, directory: str, is_best=False, val_result=None, model_name="") -> None:
        """Only the trainable state (about 2.4 MB for BioMedVR: its patterns and SGD's momentum of
        them), plus what it was trained on and with.

        Periodic checkpoints replace the previous one; ``model-best.pth.tar`` does not move the
        ``checkpoint`` pointer that ``--resume`` follows. Every file is written atomically.
        """
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": None if optim is None else optim.state_dict(),
                "scheduler": None if sched is None else sched.state_dict(),
                "val_result": None if val_result is None else float(val_result),
                "classnames": self.classnames,
                "trainer": type(self).__name__,
                "best_result": float(self.best_result),
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "max_epoch": self.cfg.OPTIM.MAX_EPOCH,
                "input_size": self.data_image_size(),
            }
            write_checkpoint(os.path.join(directory, name), state, model_name)

    def resume_model_if_exist(self, directory: str) -> int:
        """Dassl's resume from the ``checkpoint`` pointer, after checking the checkpoint fits this run."""
        pointers = [os.path.join(directory, name, POINTER) for name in self.get_model_names()]
        if not all(os.path.isfile(pointer) for pointer in pointers):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in self.get_model_names():
            path = read_pointer(os.path.join(directory, name))
            checkpoint = read_checkpoint(path, self.device)
            self._check_checkpoint(checkpoint, path, self._models[name], resuming=True)
            self._models[name].load_state_dict(checkpoint["state_dict"])
            self._optims[name].load_state_dict(checkpoint["optimizer"])
            self._scheds[name].load_state_dict(checkpoint["scheduler"])
            start_epoch = int(checkpoint["epoch"])
            self.best_result = checkpoint.get("best_result", self.best_result)
            if self.scaler is not None and checkpoint.get("scaler"):
                self.scaler.load_state_dict(checkpoint["scaler"])
            print(f"Resumed {name} from {path} (epoch {start_epoch})")
        truncate_history(self.history_path, start_epoch)
        return start_epoch

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Restore trainable state for ``--eval-only`` or ``best_val``, with errors that say what is wrong."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            path = find_checkpoint(os.path.join(directory, name), epoch)
            checkpoint = read_checkpoint(path, self.device)
            self._check_checkpoint(checkpoint, path, self._models[name])
            self._models[name].load_state_dict(checkpoint["state_dict"])
            self.loaded_epoch = int(checkpoint["epoch"])
            val = checkpoint.get("val_result")
            print(f"Load {path} to {name} (epoch={checkpoint['epoch']}, val_result={val})")

    def _check_checkpoint(
        self, checkpoint: dict, path: str, module: nn.Module, resuming: bool = False
    ) -> None:
        """The checkpoint's trainer, classes, parameter shapes and (to resume) schedule fit this run."""
        cfg = self.cfg
        run = {
            "trainer": type(self).__name__,
            "classnames": self.classnames,
            "dataset": cfg.DATASET.NAME,
            "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
            "max_epoch": cfg.OPTIM.MAX_EPOCH,
        }
        check_checkpoint(checkpoint, path, module, run, resuming)
