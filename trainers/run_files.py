"""What a run leaves in its output folder besides Dassl's log: config.yaml, metrics.json, history.jsonl."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import shutil
from typing import Any

from yacs.config import CfgNode

from datasets.atomic import atomic_write, write_json
from trainers.checkpoints import MODULE_NAME, has_checkpoint
from trainers.run_lock import LOCK_FILE

# Keys that differ between runs of one experiment and are left out of its config hash.
RUN_SPECIFIC_KEYS = ("OUTPUT_DIR", "RESUME", "SEED", "DATASET.ROOT", "DATALOADER.NUM_WORKERS")
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
CHOSEN_ATTRIBUTES_FILE = "attributes_used.json"
# What runs write into their folder (Dassl's logs, our records, checkpoints, caches, the sweep's job
# log, temporary files of atomic writes): an overwrite deletes these and nothing else.
RUN_WRITES = (
    "log.txt*", CONFIG_FILE, METRICS_FILE, "history.jsonl", "embeddings.npz", "fit.json", "job.log",
    CHOSEN_ATTRIBUTES_FILE, LOCK_FILE, MODULE_NAME, "tensorboard", "image_cache", ".*.tmp",
)  # fmt: skip
ALL_IMAGES = "all"  # metrics.json's "shots" of a run trained on every training image (NUM_SHOTS <= 0)


def _experiment_config(cfg: CfgNode) -> CfgNode:
    """A copy of ``cfg`` with the run-specific keys set to None."""
    clone = cfg.clone()
    clone.defrost()
    for key in RUN_SPECIFIC_KEYS:
        node, _, leaf = key.rpartition(".")
        target = clone
        for part in filter(None, node.split(".")):
            target = target[part]
        target[leaf] = None
    return clone


def config_hash(cfg: CfgNode) -> str:
    """A short hash of the config without run-specific keys: every seed of an experiment shares it."""
    return hashlib.sha256(_experiment_config(cfg).dump().encode()).hexdigest()[:12]


def config_values(cfg: CfgNode) -> dict[str, Any]:
    """Every key of the config but the run-specific ones, flattened (``"OPTIM.LR": 40.0``)."""
    flat: dict[str, Any] = {}

    def walk(node: CfgNode, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, CfgNode):
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = list(value) if isinstance(value, tuple) else value

    walk(cfg, "")
    return {key: value for key, value in flat.items() if key not in RUN_SPECIFIC_KEYS}


def differing_keys(old: CfgNode, new: CfgNode) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) of every experiment key whose value differs (None where absent)."""
    before, after = config_values(old), config_values(new)
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if key not in before or key not in after or before[key] != after[key]
    ]


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


def write_config(output_dir: str, cfg: CfgNode) -> None:
    """Keep the run's resolved config next to its results, so a later call can say what differs."""
    with atomic_write(os.path.join(output_dir, CONFIG_FILE)) as file:
        file.write(cfg.dump())


def read_config(output_dir: str) -> CfgNode | None:
    """The config a run was started with (None when the run predates config.yaml)."""
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return CfgNode.load_cfg(file)


def record_for_seed(source_dir: str, target_dir: str, seed: int | str) -> None:
    """Record a seed-independent evaluation (zero-shot) under another seed, saying which seed ran."""
    with open(os.path.join(source_dir, METRICS_FILE), encoding="utf-8") as file:
        payload = json.load(file)
    target = os.path.join(target_dir, METRICS_FILE)
    write_json(target, payload | {"seed": int(seed), "evaluated_as_seed": payload["seed"]})


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity: not JSON) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(item) for item in value]
    return value


def write_chosen_attributes(
    output_dir: str, cfg: CfgNode, chosen: dict[str, list[list[str]]], classnames: list[str]
) -> None:
    """The sentences each class of the run uses, per kind, in the order drawn (repeats kept)."""
    vr = cfg.TRAINER.BIOMEDVR
    payload = {
        "attribute_set": vr.ATTRIBUTE_SET,
        "sampling": vr.ATTRIBUTE_SAMPLING,
        "num_attr": vr.NUM_ATTR,
        "seed": cfg.SEED,
        "kinds": {kind: dict(zip(classnames, texts, strict=True)) for kind, texts in chosen.items()},
    }
    write_json(os.path.join(output_dir, CHOSEN_ATTRIBUTES_FILE), payload)


def append_history(path: str, record: dict) -> None:
    """One JSON line per epoch (learning rate, losses, gate values); non-finite values are null."""
    with open(path, "a") as file:
        file.write(json.dumps(finite_or_none(record), allow_nan=False) + "\n")


def read_history(path: str) -> list[dict]:
    """The records of history.jsonl, in order."""
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def truncate_history(path: str, epochs: int) -> None:
    """Keep the records of the first ``epochs`` epochs: a run resumed from a checkpoint redoes the rest."""
    if not os.path.isfile(path):
        return
    kept = [record for record in read_history(path) if record["epoch"] <= epochs]
    with atomic_write(path) as file:
        file.writelines(json.dumps(record) + "\n" for record in kept)
