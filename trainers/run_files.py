"""What a run leaves in its output folder besides Dassl's log and checkpoints: config.yaml, metrics.json,
history.jsonl, embeddings.npz and (fitted baselines) fit.json. Other code names these files through the
constants below."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from typing import Any

import numpy as np
from yacs.config import CfgNode

from datasets.atomic import atomic_write, write_json
from trainers.methods import BY_NAME, ZERO_SHOT

# Keys that differ between runs of one experiment and are left out of its config hash.
RUN_SPECIFIC_KEYS = ("OUTPUT_DIR", "RESUME", "SEED", "DATASET.ROOT", "DATALOADER.NUM_WORKERS")
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
EMBEDDINGS_FILE = "embeddings.npz"
FIT_FILE = "fit.json"
CHOSEN_ATTRIBUTES_FILE = "attributes_used.json"
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


def best_test_epoch(path: str) -> dict[str, Any]:
    """The epoch of the best ``test_accuracy`` in a history.jsonl and that accuracy ({} when none)."""
    tested = [r for r in read_history(path) if "test_accuracy" in r] if os.path.isfile(path) else []
    if not tested:
        return {}
    best = max(tested, key=lambda record: record["test_accuracy"])
    return {"best_test_epoch": best["epoch"], "best_test_accuracy": best["test_accuracy"]}


def write_embeddings(
    output_dir: str, embeddings: np.ndarray, labels: np.ndarray, classnames: list[str]
) -> None:
    """L2-normalized test embeddings, their labels and the class names, for t-SNE figures."""
    path = os.path.join(output_dir, EMBEDDINGS_FILE)
    np.savez_compressed(path, embeddings=embeddings, labels=labels, classnames=np.array(classnames))


class RunRecords:
    """What a trainer writes into its run folder besides checkpoints: history.jsonl's path and metrics.json
    (mixed into ``FrozenCLIPTrainer``)."""

    loaded_epoch: int | None = None  # the epoch of a checkpoint restored by load_model

    @property
    def history_path(self) -> str:
        return os.path.join(self.output_dir, HISTORY_FILE)

    def best_test_epoch(self) -> dict:
        """With TEST.EVAL_EVERY_EPOCH: the epoch of the best test accuracy (history.jsonl) and that accuracy.

        Optimistic: selected on the test set, as the published numbers were. Never the reported accuracy.
        """
        best = best_test_epoch(self.history_path) if self.cfg.TEST.EVAL_EVERY_EPOCH else {}
        if best:
            print(
                f"* best_test_accuracy: {best['best_test_accuracy']:.1f}% at epoch {best['best_test_epoch']} "
                "(optimistic: selected on the test set, as the published numbers were)"
            )
        return best

    def tested_epoch(self) -> int:
        """The epoch of the evaluated parameters: a loaded checkpoint's, else the last trained one."""
        if self.loaded_epoch is not None:
            return self.loaded_epoch
        return self.epoch + 1 if self.trains else 0

    def learns(self, cfg: CfgNode) -> bool:
        """Whether the run learns from training images (every method of the table but the zero-shot ones)."""
        row = BY_NAME.get(cfg.TRAINER.NAME)
        return self.trains if row is None else ZERO_SHOT not in row.protocols

    def shots_per_class(self) -> dict[str, int] | None:
        """Training images used per class (fewer than NUM_SHOTS where a class is small); None if zero-shot."""
        if not self.learns(self.cfg):
            return None
        counts = Counter(datum.label for datum in self.dm.dataset.train_x)
        return {self.lab2cname[label]: counts[label] for label in range(self.num_classes)}

    def _write_metrics(self, report: dict, split: str) -> None:
        cfg = self.cfg
        payload = {
            "trainer": cfg.TRAINER.NAME,
            "dataset": cfg.DATASET.NAME,
            "backbone": cfg.MODEL.BACKBONE.NAME,
            "shots": cfg.DATASET.NUM_SHOTS
            if cfg.DATASET.NUM_SHOTS > 0 or not self.learns(cfg)
            else ALL_IMAGES,
            "seed": cfg.SEED,
            "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
            "classnames": self.classnames,
            "shots_per_class": self.shots_per_class(),
            "epoch": self.tested_epoch(),
            "split": split,
            **report,
            "gate": self.gate_values(),
            **self.best_test_epoch(),
            "trainable_parameters": self.num_trainable,
            "config_hash": config_hash(cfg),
        }
        write_json(os.path.join(self.output_dir, METRICS_FILE), payload)
