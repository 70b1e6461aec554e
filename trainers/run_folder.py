"""What may be done to a run folder: an evaluation never overwrites a training run, a run is resumed
only with its own settings, and an overwrite deletes only what runs write."""

from __future__ import annotations

import fnmatch
import os
import shutil

from yacs.config import CfgNode

from trainers.checkpoints import MODULE_NAME, has_checkpoint
from trainers.run_files import (
    CHOSEN_ATTRIBUTES_FILE,
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    FIT_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    config_hash,
    differing_keys,
    read_config,
)
from trainers.run_lock import LOCK_FILE

# What runs write into their folder (Dassl's logs, our records, checkpoints, caches, the sweep's job
# log, temporary files of atomic writes): an overwrite deletes these and nothing else.
RUN_WRITES = (
    "log.txt*", CONFIG_FILE, METRICS_FILE, HISTORY_FILE, EMBEDDINGS_FILE, FIT_FILE, "job.log",
    CHOSEN_ATTRIBUTES_FILE, LOCK_FILE, MODULE_NAME, "tensorboard", "image_cache", ".*.tmp",
)  # fmt: skip


class RunFolderError(ValueError):
    """A call that would overwrite a finished run or resume a run trained with other settings."""


def check_evaluation_folder(output_dir: str, model_dir: str) -> None:
    """``--eval-only`` writes metrics.json and config.yaml: never into a training run's folder."""
    same = bool(model_dir) and os.path.abspath(output_dir) == os.path.abspath(model_dir)
    if same or has_checkpoint(output_dir):
        raise RunFolderError(
            f"--output-dir {output_dir} holds a training run; --eval-only would replace its metrics.json "
            "and config.yaml with this evaluation's. Give --eval-only another --output-dir (the model "
            "stays in --model-dir)."
        )


def check_resume(run_dir: str, cfg: CfgNode) -> None:
    """A run is resumed only with the settings it was trained with (its config.yaml), else refused
    naming the keys that differ; a folder without a checkpoint or a config.yaml is not checked."""
    if not has_checkpoint(run_dir):
        return
    try:
        recorded = read_config(run_dir)
    except Exception:  # a damaged config.yaml cannot say what the run was trained with
        recorded = None
    if recorded is None or config_hash(recorded) == config_hash(cfg):
        return
    changed = "; ".join(
        f"{key} {old!r} there, {new!r} now" for key, old, new in differing_keys(recorded, cfg)
    )
    raise RunFolderError(
        f"{run_dir} holds a run trained with other settings ({changed}); resuming it would record "
        "these settings for weights trained with the others. Resume with the run's settings, or give "
        "another --output-dir (scripts: OVERWRITE=1 replaces the run)."
    )


def foreign_files(run_dir: str) -> list[str]:
    """The entries of a run folder that no run writes (a user's notes, say), by name."""
    return sorted(
        name
        for name in os.listdir(run_dir)
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in RUN_WRITES)
    )


def remove_run(run_dir: str) -> None:
    """Delete a run folder (an explicit overwrite) holding only what runs write; refused, and nothing
    deleted, when it holds other files."""
    others = foreign_files(run_dir)
    if others:
        raise RunFolderError(
            f"{run_dir} also holds files that no run writes ({', '.join(others)}), so it is not deleted. "
            "Move them elsewhere and overwrite again, or write to another folder."
        )
    shutil.rmtree(run_dir)
