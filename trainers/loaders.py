"""The data loaders of a run on the frozen CLIP: Dassl's DataManager, then tensor caches (FAST_DATA)
or Dassl's PIL loaders re-batched with the trainer's batch size and last-batch rule."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from dassl.data import DataManager
from dassl.data.data_manager import DatasetWrapper
from torch.utils.data import DataLoader
from yacs.config import CfgNode

from datasets.images import load_rgb
from trainers.fast_data import (
    FastEvalLoader,
    FastTrainLoader,
    decode_all,
    decode_train_image,
    open_image_array,
    pil_transforms,
)


class RGBDatasetWrapper(DatasetWrapper):
    """Dassl's dataset wrapper, reading 16-bit and grayscale images correctly and naming bad files."""

    def __getitem__(self, idx: int) -> dict:
        item = self.data_source[idx]
        return {
            "img": self.transform(load_rgb(item.impath)),
            "label": item.label,
            "domain": item.domain,
            "impath": item.impath,
            "index": idx,
        }


@dataclass(frozen=True)
class TrainBatches:
    """How a trainer batches its training images (None: it does not train)."""

    size: int
    drop_last: bool


@dataclass
class Loaders:
    """A run's data: Dassl's DataManager and the training, validation and test loaders."""

    dm: DataManager
    train: Any
    val: Any
    test: Any


def build_loaders(cfg: CfgNode, size: int, device: torch.device, batches: TrainBatches | None) -> Loaders:
    """The loaders of a run whose images are decoded at ``size``."""
    augment, interpolation = cfg.TRAINER.COMMON.AUGMENT, cfg.INPUT.INTERPOLATION
    dm = DataManager(
        cfg,
        custom_tfm_train=pil_transforms(size, train=True, augment=augment, interpolation=interpolation),
        custom_tfm_test=pil_transforms(size, train=False, interpolation=interpolation),
        dataset_wrapper=RGBDatasetWrapper,
    )
    loaders = Loaders(dm, dm.train_loader_x, dm.val_loader, dm.test_loader)
    if cfg.TRAINER.COMMON.FAST_DATA:
        use_fast_loaders(loaders, cfg, size, device, batches)
    elif batches is not None:
        loaders.train = rebatched(dm.train_loader_x, batches)
    return loaders


def rebatched(loader: DataLoader, batches: TrainBatches) -> DataLoader:
    """Dassl's training loader with the trainer's batch size and last-batch rule."""
    return DataLoader(
        loader.dataset,
        batch_size=batches.size,
        sampler=loader.sampler,
        num_workers=loader.num_workers,
        drop_last=batches.drop_last and len(loader.dataset) >= batches.size,
        pin_memory=loader.pin_memory,
    )


def image_cache_dir(dm: DataManager, output_dir: str) -> str:
    """The dataset's shared image cache, else the run's own."""
    layout = getattr(dm.dataset, "layout", None)
    shared = layout.shared_image_cache_dir if layout is not None else None
    return shared or os.path.join(output_dir, "image_cache")


def use_fast_loaders(
    loaders: Loaders, cfg: CfgNode, size: int, device: torch.device, batches: TrainBatches | None
) -> None:
    """Replace Dassl's loaders by tensor caches: training images decoded onto the device, evaluation
    images from cached arrays."""
    dataset, interpolation = loaders.dm.dataset, cfg.INPUT.INTERPOLATION
    workers = max(1, cfg.DATALOADER.NUM_WORKERS)
    if batches is not None:
        train = dataset.train_x
        images = decode_all(
            [d.impath for d in train], decode_train_image, size, interpolation, workers, "Decoding train"
        )
        loaders.train = FastTrainLoader(
            [image.to(device) for image in images],
            [d.label for d in train],
            batches.size,
            size,
            seed=cfg.SEED,
            augment=cfg.TRAINER.COMMON.AUGMENT,
            interpolation=interpolation,
            drop_last=batches.drop_last,
        )
    split_file = getattr(getattr(dataset, "layout", None), "split_path", "")
    pin = device.type == "cuda"
    cache_dir = image_cache_dir(loaders.dm, cfg.OUTPUT_DIR)

    def eval_loader(name: str, items: list) -> FastEvalLoader:
        paths, labels = [d.impath for d in items], [d.label for d in items]
        array = open_image_array(cache_dir, name, paths, labels, size, interpolation, split_file, workers)
        return FastEvalLoader(array, labels, cfg.DATALOADER.TEST.BATCH_SIZE, pin)

    loaders.test = eval_loader("test", dataset.test)
    needs_val = cfg.TEST.FINAL_MODEL == "best_val" or cfg.TEST.SPLIT == "val"
    if dataset.val and needs_val:
        loaders.val = eval_loader("val", dataset.val)
