"""What a run leaves in its output folder besides Dassl's log: config.yaml, metrics.json, history.jsonl."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from yacs.config import CfgNode

from datasets.atomic import atomic_write, write_json

# Keys that differ between runs of one experiment and are left out of its config hash.
RUN_SPECIFIC_KEYS = ("OUTPUT_DIR", "RESUME", "SEED", "DATASET.ROOT", "DATALOADER.NUM_WORKERS")
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
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


def append_history(path: str, record: dict) -> None:
    """One JSON line per epoch (learning rate, losses, gate values)."""
    with open(path, "a") as file:
        file.write(json.dumps(record) + "\n")


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
