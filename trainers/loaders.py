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
    CROP_SCALE,
    Augmentation,
    FastEvalLoader,
    FastTrainLoader,
    decode_all,
    decode_train_image,
    open_image_array,
    pil_transforms,
)
from trainers.methods import BY_NAME


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


# INPUT.TRANSFORMS the prompt learners follow (Dassl's names; "normalize" is always done by the model).
PROMPT_TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
# The area range of the random resized crop of BiomedCoOp's main.py (its feature baselines' training).
FEATURE_CROP_SCALE = (0.5, 1.0)


def train_augmentation(cfg: CfgNode) -> Augmentation:
    """How the training images of a run are augmented, by its trainer's family (trainers/methods.py):
    prompt learners follow INPUT.TRANSFORMS when it lists any (BiomedCoOp's files: random_resized_crop,
    no flip); feature baselines crop an area of 0.5-1 and flip (BiomedCoOp's main.py); otherwise, and
    for an empty INPUT.TRANSFORMS, crop and flip or neither (TRAINER.COMMON.AUGMENT)."""
    row, transforms, augment = (
        BY_NAME.get(cfg.TRAINER.NAME),
        list(cfg.INPUT.TRANSFORMS),
        cfg.TRAINER.COMMON.AUGMENT,
    )
    family = row.family if row is not None else ""
    if family == "prompt" and transforms:
        return Augmentation(crop="random_resized_crop" in transforms, flip="random_flip" in transforms)
    return Augmentation(augment, augment, FEATURE_CROP_SCALE if family == "feature" else CROP_SCALE)


def build_loaders(cfg: CfgNode, size: int, device: torch.device, batches: TrainBatches | None) -> Loaders:
    """The loaders of a run whose images are decoded at ``size`` (training images: train_augmentation)."""
    augmentation = train_augmentation(cfg)
    crop, flip, scale = augmentation
    interpolation = cfg.INPUT.INTERPOLATION
    dm = DataManager(
        cfg,
        custom_tfm_train=pil_transforms(size, True, crop, interpolation, flip, scale),
        custom_tfm_test=pil_transforms(size, train=False, interpolation=interpolation),
        dataset_wrapper=RGBDatasetWrapper,
    )
    loaders = Loaders(dm, dm.train_loader_x, dm.val_loader, dm.test_loader)
    if cfg.TRAINER.COMMON.FAST_DATA:
        use_fast_loaders(loaders, cfg, size, device, batches, augmentation)
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
    loaders: Loaders,
    cfg: CfgNode,
    size: int,
    device: torch.device,
    batches: TrainBatches | None,
    augmentation: Augmentation,
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
            augment=augmentation.crop,
            interpolation=interpolation,
            drop_last=batches.drop_last,
            flip=augmentation.flip,
            scale=augmentation.scale,
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
