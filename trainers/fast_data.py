"""Images decoded once per run (train) or once per dataset (test), augmented as tensor batches.

The reference pipeline decodes and resizes the same few JPEGs with PIL every epoch. Here the
few-shot training images are decoded and resized (shorter side to the input size, as the reference
``Resize`` does) once into uint8 tensors on the training device, and random-resized-crop and flip
run on batches there. Test and validation images are resized and centre-cropped once into an
on-disk uint8 array shared by every seed and method, and streamed in batches.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.nn import functional as F
from torchvision.transforms import InterpolationMode
from tqdm import tqdm

from datasets.atomic import atomic_path, ensure_space, write_json
from datasets.images import ImageReadError, load_rgb

CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


class Augmentation(NamedTuple):
    """How training images are augmented: random resized crop (else centre crop), with its area scale
    range, and horizontal flip (p = 0.5, only with the crop)."""

    crop: bool = True
    flip: bool = True
    scale: tuple[float, float] = CROP_SCALE


CACHE_FORMAT = 2
CACHE_HEADER_BYTES = 4096  # more than the .npy header of an image cache takes


def interpolation_mode(name: str) -> InterpolationMode:
    return InterpolationMode(name.lower())


def resize_shorter(image: Image.Image, size: int, interpolation: str = "bicubic") -> Image.Image:
    """torchvision's ``Resize(size)`` on a PIL image: the shorter side becomes ``size``."""
    return TF.resize(image, size, interpolation=interpolation_mode(interpolation))


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL RGB image as a uint8 tensor [3, H, W] (``ToTensor`` without the division)."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def decode_train_image(path: str, size: int, interpolation: str = "bicubic") -> torch.Tensor:
    """Decode and resize the shorter side to ``size``: the first step of the reference train transform."""
    return to_uint8_tensor(resize_shorter(load_rgb(path), size, interpolation))


def decode_eval_image(path: str, size: int, interpolation: str = "bicubic") -> torch.Tensor:
    """The whole reference test transform, without ``ToTensor``'s division: resize, centre crop."""
    return to_uint8_tensor(TF.center_crop(resize_shorter(load_rgb(path), size, interpolation), size))


def decode_all(paths: Sequence[str], decode, size: int, interpolation: str, workers: int, desc: str) -> list:
    """Decode many images with a thread pool (PIL releases the GIL), in order, with a progress bar."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = pool.map(lambda path: decode(path, size, interpolation), paths)
        return list(tqdm(jobs, total=len(paths), desc=desc, unit="img", leave=False))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random stream of one epoch: a function of (seed, epoch) only, so a resumed run replays it."""
    return torch.Generator().manual_seed(max(seed, 0) * 1_000_003 + epoch)


def random_resized_crop_box(
    height: int, width: int, generator: torch.Generator, scale: tuple[float, float] = CROP_SCALE
) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` (``scale``, ratio 3/4-4/3) on our generator."""
    area = height * width
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        draws = torch.rand(2, generator=generator).tolist()
        target_area = area * (scale[0] + (scale[1] - scale[0]) * draws[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * draws[1])
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            i = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            j = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return i, j, h, w
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, round(width / CROP_RATIO[0])
    elif ratio > CROP_RATIO[1]:
        h, w = height, round(height * CROP_RATIO[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def resize_crop(crop: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """A uint8 crop [3, h, w] -> uint8 [3, size, size], antialiased like PIL's resize.

    CPU resizes uint8 directly (fast); other devices resize in float and round back.
    """
    batch = crop.unsqueeze(0) if crop.device.type == "cpu" else crop.unsqueeze(0).float()
    resized = F.interpolate(batch, size=(size, size), mode=mode, antialias=mode in ("bilinear", "bicubic"))
    if resized.dtype != torch.uint8:
        resized = resized.round_().clamp_(0, 255).to(torch.uint8)
    return resized.squeeze(0)


def augment_batch(
    images: Sequence[torch.Tensor],
    size: int,
    generator: torch.Generator,
    mode: str = "bicubic",
    flip: bool = True,
    scale: tuple[float, float] = CROP_SCALE,
) -> torch.Tensor:
    """Random-resized-crop to ``size`` (area ``scale``) and (``flip``) horizontal flip (p = 0.5) of uint8
    images, as a float batch.

    The crop boxes follow torchvision's ``RandomResizedCrop``; crops are resized on the images' device.
    """
    boxes = [random_resized_crop_box(image.shape[-2], image.shape[-1], generator, scale) for image in images]
    flips = torch.rand(len(images), generator=generator) < 0.5 if flip else None
    batch = torch.stack(
        [
            resize_crop(image[:, i : i + h, j : j + w], size, mode)
            for image, (i, j, h, w) in zip(images, boxes, strict=True)
        ]
    )
    if flips is not None:
        flips = flips.to(batch.device)
        batch[flips] = batch[flips].flip(-1)
    return batch.float().div_(255)


def centre_batch(images: Sequence[torch.Tensor], size: int, mode: str = "bicubic") -> torch.Tensor:
    """No augmentation: centre-crop each uint8 image to a square of ``size`` as a float batch."""
    return torch.stack([TF.center_crop(image, size).float().div(255) for image in images])


class FastTrainLoader:
    """Few-shot training batches from uint8 tensors kept on the training device.

    Random order; with ``drop_last`` (Dassl's train loader) the last incomplete batch is dropped when
    there are at least ``batch_size`` images, otherwise it is kept. Yields
    ``{"img": float [B, 3, s, s], "label": [B]}``.
    """

    def __init__(
        self,
        images: list[torch.Tensor],
        labels: Sequence[int],
        batch_size: int,
        size: int,
        seed: int,
        augment: bool = True,
        interpolation: str = "bicubic",
        drop_last: bool = False,
        flip: bool = True,
        scale: tuple[float, float] = CROP_SCALE,
    ) -> None:
        self.images = images
        self.flip, self.scale = flip, scale
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.batch_size, self.size, self.seed = batch_size, size, seed
        self.augment, self.mode = augment, interpolation
        self.drop_last = drop_last and len(images) >= batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.images) // self.batch_size
        return math.ceil(len(self.images) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        generator = epoch_generator(self.seed, self.epoch)
        order = torch.randperm(len(self.images), generator=generator)
        for index in range(len(self)):
            chosen = order[index * self.batch_size : (index + 1) * self.batch_size].tolist()
            batch = [self.images[k] for k in chosen]
            if self.augment:
                img = augment_batch(batch, self.size, generator, self.mode, self.flip, self.scale)
            else:
                img = centre_batch(batch, self.size, self.mode)
            yield {"img": img, "label": self.labels[chosen].to(img.device)}


@dataclass
class ImageArray:
    """An on-disk uint8 array [N, 3, s, s] of eval images, with the key it was built for."""

    path: str
    key: dict

    @property
    def meta_path(self) -> str:
        return self.path + ".json"


def _file_digest(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_stamp(path: str) -> str:
    """Size, modification and change times (ns) and inode of an image: any rewrite of the file changes
    it, even one that keeps the size and puts the modification time back (the change time cannot be)."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise ImageReadError(
            f"cannot read image {path} ({error}). Restore it or remove its split entry."
        ) from error
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


def cache_key(
    paths: Sequence[str], labels: Sequence[int], size: int, interpolation: str, split_file: str
) -> dict:
    """What an eval cache depends on: the images in order with their file stamps, size, resampling, split.

    Each image counts by path and file stamp (size, mtime, ctime, inode) rather than by a hash of its
    bytes: hashing would read the whole test set on every run, while any write to an image changes its
    ctime, which, unlike its mtime, cannot be set back.
    """
    listing = hashlib.blake2b("\n".join(f"{p}\t{y}" for p, y in zip(paths, labels, strict=True)).encode())
    stamps = hashlib.blake2b("\n".join(_file_stamp(path) for path in paths).encode())
    split_digest = _file_digest(split_file) if os.path.isfile(split_file) else ""
    return {
        "format": CACHE_FORMAT,
        "count": len(paths),
        "size": size,
        "interpolation": interpolation,
        "images": listing.hexdigest()[:32],
        "files": stamps.hexdigest()[:32],
        "split_file": split_digest,
    }


def _read_meta(path: str) -> dict:
    """The side file of an image cache; an unreadable or malformed one counts as absent (stale)."""
    try:
        with open(path, encoding="utf-8") as file:
            meta = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"Warning: image cache record {path} is unreadable ({error}); rebuilding the cache")
        return {}
    return meta if isinstance(meta, dict) else {}


def open_image_array(
    cache_dir: str,
    name: str,
    paths: Sequence[str],
    labels: Sequence[int],
    size: int,
    interpolation: str,
    split_file: str,
    workers: int = 4,
) -> np.ndarray:
    """The memory-mapped eval array of ``paths``: reused when its key and checksum match, else (re)built."""
    key = cache_key(paths, labels, size, interpolation, split_file)
    array = ImageArray(
        os.path.join(cache_dir, f"{name}-{size}-{interpolation}-{key['images'][:10]}.npy"), key
    )
    if os.path.isfile(array.path) and os.path.isfile(array.meta_path):
        meta = _read_meta(array.meta_path)
        if meta.get("key") == key:
            if meta.get("checksum") == _file_digest(array.path):
                try:
                    return np.load(array.path, mmap_mode="r")
                except (OSError, ValueError) as error:
                    print(f"Warning: image cache {array.path} is unreadable ({error}); rebuilding it")
            else:
                print(f"Warning: image cache {array.path} is corrupted (checksum mismatch); rebuilding it")
        elif meta:
            print(f"Image cache {array.path} is out of date (split or images changed); rebuilding it")
    return _build_image_array(array, paths, size, interpolation, workers)


def reserve(path: str) -> None:
    """Allocate a sparse file's blocks now: writing it through a memory map then cannot hit a full disk."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # a file system that cannot reserve
            raise
    finally:
        os.close(descriptor)


def _build_image_array(
    array: ImageArray, paths: Sequence[str], size: int, interpolation: str, workers: int
) -> np.ndarray:
    chunk = 256
    with (
        atomic_path(array.path) as temporary,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=len(paths), desc=f"Caching {os.path.basename(array.path)}", unit="img") as progress,
    ):
        shape = (len(paths), 3, size, size)
        ensure_space(array.path, math.prod(shape) + CACHE_HEADER_BYTES)
        data = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=shape)
        reserve(temporary)  # a disk that fills meanwhile fails here, not with a bus error while mapped
        for start in range(0, len(paths), chunk):
            part = paths[start : start + chunk]
            decoded = list(pool.map(lambda p: decode_eval_image(p, size, interpolation).numpy(), part))
            data[start : start + len(part)] = np.stack(decoded)
            progress.update(len(part))
        data.flush()
        del data
    write_json(array.meta_path, {"key": array.key, "checksum": _file_digest(array.path)})
    return np.load(array.path, mmap_mode="r")


class FastEvalLoader:
    """Batches of uint8 images streamed from an array (memory-mapped or in memory), in order.

    Yields ``{"img": uint8 [B, 3, s, s], "label": [B]}``; only one batch is in memory at a time.
    """

    def __init__(self, images: np.ndarray | torch.Tensor, labels: Sequence[int], batch_size: int, pin: bool):
        self.images, self.batch_size, self.pin = images, batch_size, pin
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, len(self.labels), self.batch_size):
            stop = start + self.batch_size
            block = self.images[start:stop]
            img = torch.from_numpy(np.array(block)) if isinstance(block, np.ndarray) else block
            if self.pin:
                img = img.pin_memory()
            yield {"img": img, "label": self.labels[start:stop]}


def pil_transforms(
    size: int,
    train: bool,
    augment: bool = True,
    interpolation: str = "bicubic",
    flip: bool = True,
    scale: tuple[float, float] = CROP_SCALE,
):
    """The reference pipeline's torchvision transforms (the ``FAST_DATA False`` path).

    Train: resize the shorter side, random-resized-crop (area ``scale``), horizontal flip (``flip``);
    test: resize, centre crop.
    """
    from torchvision import transforms as T

    mode = interpolation_mode(interpolation)
    steps = [T.Resize(size, interpolation=mode)]
    if train and augment:
        steps += [T.RandomResizedCrop(size, scale=scale, interpolation=mode)]
        steps += [T.RandomHorizontalFlip()] if flip else []
    else:
        steps += [T.CenterCrop(size)]
    return T.Compose([*steps, T.ToTensor()])
