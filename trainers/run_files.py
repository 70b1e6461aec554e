"""What a run leaves in its output folder besides Dassl's log: metrics.json and history.jsonl."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from datasets.atomic import write_json

__all__ = ["RUN_SPECIFIC_KEYS", "append_history", "config_hash", "write_json"]

# Keys that differ between runs of one experiment and are left out of its config hash.
RUN_SPECIFIC_KEYS = ("OUTPUT_DIR", "RESUME", "SEED", "DATASET.ROOT", "DATALOADER.NUM_WORKERS")


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


def append_history(path: str, record: dict) -> None:
    """One JSON line per epoch (learning rate, losses, gate values)."""
    with open(path, "a") as file:
        file.write(json.dumps(record) + "\n")
