"""Shared caches built once before a sweep fans out, so that concurrent jobs never race to build them.

Per dataset: the download (when its split file is missing), the few-shot picks of every (shots, seed)
(``split_fewshot/shot_<K>-seed_<S>.pkl``) and the test-image arrays of every (classes, image size,
resampling) the jobs use (``split_fewshot/image_cache/``). Per backbone: its weights, downloaded into
open_clip's or Hugging Face's cache. What a job needs is read from the config it would run.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from yacs.config import CfgNode


@dataclass(frozen=True)
class PrepareDataset:
    """Download one dataset if needed, draw its few-shot picks and decode its test-image arrays."""

    root: str
    folder: str
    picks: tuple[tuple[int, int], ...]  # (shots, seed)
    arrays: tuple[tuple[str, int, str], ...]  # (SUBSAMPLE_CLASSES, image size, interpolation)
    workers: int = 4

    @property
    def name(self) -> str:
        return f"prepare {self.folder}"

    def __call__(self) -> str:
        from dassl.utils import set_random_seed

        from datasets.download import download_dataset
        from datasets.layout import DatasetLayout, load_items
        from trainers.fast_data import open_image_array

        layout = DatasetLayout(self.root, self.folder)
        if not os.path.isfile(layout.split_path):
            download_dataset(self.folder, self.root)
        for shots, seed in self.picks:
            set_random_seed(seed)  # the picks are drawn right after the run seeds its generators
            load_items(self.root, self.folder, num_shots=shots, seed=seed)
        cache_dir = layout.shared_image_cache_dir
        for subsample, size, interpolation in self.arrays if cache_dir else ():
            test = load_items(self.root, self.folder, subsample=subsample)["test"]
            paths, labels = [item.impath for item in test], [item.label for item in test]
            open_image_array(
                cache_dir, "test", paths, labels, size, interpolation, layout.split_path, self.workers
            )
        return f"{self.folder}: {len(self.picks)} few-shot picks, {len(self.arrays)} test arrays ready"


@dataclass(frozen=True)
class PrepareBackbone:
    """Fetch a backbone's weights once (open_clip and Hugging Face cache them)."""

    backbone: str
    pretrained: str

    @property
    def name(self) -> str:
        return f"prepare {self.backbone}"

    def __call__(self) -> str:
        from trainers.backbones import load_backbone

        load_backbone(self.backbone, self.pretrained)
        return f"{self.backbone}: weights ready"


def prepare_tasks(configs: Iterable[CfgNode]) -> list[PrepareDataset | PrepareBackbone]:
    """One task per dataset and one per backbone that the configs of a sweep's jobs use."""
    from dassl.engine import TRAINER_REGISTRY

    picks: dict[tuple[str, str], set] = defaultdict(set)
    arrays: dict[tuple[str, str], set] = defaultdict(set)
    workers: dict[tuple[str, str], int] = {}
    backbones: set[tuple[str, str]] = set()
    for cfg in configs:
        key = (cfg.DATASET.ROOT, cfg.DATASET.NAME)
        workers[key] = max(1, cfg.DATALOADER.NUM_WORKERS)
        if cfg.DATASET.NUM_SHOTS >= 1:
            picks[key].add((cfg.DATASET.NUM_SHOTS, cfg.SEED))
        if cfg.TRAINER.COMMON.FAST_DATA:
            size = TRAINER_REGISTRY.get(cfg.TRAINER.NAME).image_size(cfg)
            arrays[key].add((cfg.DATASET.SUBSAMPLE_CLASSES, size, cfg.INPUT.INTERPOLATION))
        backbones.add((cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED))
    tasks: list[PrepareDataset | PrepareBackbone] = [
        PrepareDataset(root, folder, tuple(sorted(picks[key])), tuple(sorted(arrays[key])), workers[key])
        for key in sorted(workers)
        for root, folder in [key]
    ]
    return tasks + [PrepareBackbone(name, pretrained) for name, pretrained in sorted(backbones)]
