"""What a run leaves in its output folder besides Dassl's log: metrics.json and history.jsonl."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

# Keys that differ between runs of one experiment and are left out of its config hash.
RUN_SPECIFIC_KEYS = ("OUTPUT_DIR", "RESUME", "SEED", "DATASET.ROOT")


def config_hash(cfg: Any) -> str:
    """A short hash of the config without run-specific keys: every seed of an experiment shares it."""
    clone = cfg.clone()
    clone.defrost()
    for key in RUN_SPECIFIC_KEYS:
        node, _, leaf = key.rpartition(".")
        target = clone
        for part in filter(None, node.split(".")):
            target = target[part]
        target[leaf] = None
    return hashlib.sha256(clone.dump().encode()).hexdigest()[:12]


def write_json(path: str, payload: dict) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        json.dump(payload, file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


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
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as file:
        file.writelines(json.dumps(record) + "\n" for record in kept)
    os.replace(temporary, path)
