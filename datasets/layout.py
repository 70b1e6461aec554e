"""One dataset on disk: its folder layout (BiomedCoOp's or CoOp's), split file, few-shot cache, and checks."""

from __future__ import annotations

import os
import random
import warnings
from collections import Counter
from dataclasses import dataclass

from datasets import fewshot_cache
from datasets.catalog import DatasetEntry, UnknownDatasetError, find_dataset
from datasets.splits import (
    DatasetError,
    Item,
    create_split,
    ensure_images_exist,
    fewshot_sample,
    read_split,
    rebase_path,
    subsample_classes,
    write_split,
)


@dataclass(frozen=True)
class DatasetLayout:
    """``<root>/<dir>/{<split file>, <images>/..., split_fewshot/}``, as the catalog entry of NAME says.

    BiomedCoOp's layout: ``<NAME>/{split_<NAME>.json, <NAME>/<class>/...}`` (also for names outside the
    catalog); CoOp's, e.g. ``oxford_pets/{split_zhou_OxfordPets.json, images/...}``.
    """

    root: str
    name: str

    @property
    def entry(self) -> DatasetEntry | None:
        try:
            return find_dataset(self.name)
        except UnknownDatasetError:
            return None

    @property
    def dataset_dir(self) -> str:
        folder = self.entry.dataset_dir if self.entry else self.name
        return os.path.join(os.path.abspath(os.path.expanduser(self.root)), folder)

    @property
    def image_dir(self) -> str:
        return os.path.join(self.dataset_dir, self.entry.image_dir if self.entry else self.name)

    @property
    def split_path(self) -> str:
        split_file = self.entry.split_file if self.entry else f"split_{self.name}.json"
        return os.path.join(self.dataset_dir, split_file)

    @property
    def fewshot_dir(self) -> str:
        return os.path.join(self.dataset_dir, "split_fewshot")

    @property
    def shared_image_cache_dir(self) -> str | None:
        """Where the eval image arrays of every run are cached (None: the dataset folder is read-only)."""
        if not os.access(self.dataset_dir, os.W_OK):
            return None
        return os.path.join(self.fewshot_dir, "image_cache")


def _read_or_create_split(layout: DatasetLayout, create: bool) -> dict[str, list[Item]]:
    if os.path.isfile(layout.split_path):
        return read_split(layout.split_path, layout.image_dir)
    nested = os.path.join(os.path.dirname(layout.dataset_dir), os.path.basename(layout.split_path))
    if os.path.isfile(nested):
        parent = os.path.dirname(os.path.dirname(layout.dataset_dir))
        raise DatasetError(
            f"split file not found: {layout.split_path}, but {nested} exists: the data root "
            f"{os.path.dirname(layout.dataset_dir)} is the {layout.name} folder itself. Point DATA "
            f"(--root, DATASET.ROOT) at its parent, {parent}"
        )
    if not create:
        raise DatasetError(
            f"split file not found: {layout.split_path}\n"
            f"Download {layout.name} with:  python -m datasets.download {layout.name} --root "
            f"{layout.root}\n(or set DATASET.CREATE_SPLIT True to make a new split, whose results "
            "are not comparable to published ones)"
        )
    split = create_split(layout.image_dir)
    write_split(split, layout.split_path, layout.image_dir)
    print(f"Saved a new split to {layout.split_path}")
    return split


def _key(item: Item) -> tuple[str, int, str]:
    return os.path.normpath(item.impath), item.label, item.classname


def _cached_picks(
    layout: DatasetLayout, path: str, train: list[Item], val: list[Item]
) -> tuple[list[Item], list[Item]] | None:
    """The cached picks when the cache is readable and every pick is an entry of the split, else None."""
    try:
        cached = fewshot_cache.read_cache(path)
    except fewshot_cache.CorruptCacheError as error:
        print(f"Warning: {error}. Drawing the picks again.")
        return None
    picks = []
    for key, pool in (("train", train), ("val", val)):
        entries = {_key(item) for item in pool}
        rebased = [item._replace(impath=rebase_path(item.impath, layout.image_dir)) for item in cached[key]]
        stray = next((item for item in rebased if _key(item) not in entries), None)
        if stray is not None:
            print(
                f"Few-shot cache {path} is stale: its {key} pick {stray.impath} (label {stray.label}, "
                f"{stray.classname!r}) is no {key} entry of {layout.split_path}. Drawing the picks again."
            )
            return None
        picks.append(rebased)
    return picks[0], picks[1]


def _warn_small_classes(train: list[Item], picked: list[Item], num_shots: int) -> None:
    """Say which classes have fewer training images than NUM_SHOTS (all of theirs are used)."""
    available = Counter(item.classname for item in train)
    used = Counter(item.classname for item in picked)
    short = [f"{name!r}: {used[name]}" for name, count in available.items() if count < num_shots]
    if short:
        warnings.warn(
            f"DATASET.NUM_SHOTS {num_shots} is more than some classes have in the training split; they "
            f"use all their images ({', '.join(short)}). metrics.json records the number used per class "
            "(shots_per_class).",
            stacklevel=3,
        )


def val_shots(num_shots: int) -> int:
    """Validation images picked per class beside ``num_shots`` training images (BiomedCoOp: at most 4)."""
    return min(num_shots, 4)


def fewshot_pools(root: str, name: str, num_shots: int) -> list[tuple[list[Item], int]]:
    """The pools the few-shot picks are drawn from, in drawing order, each with its shot count."""
    layout = DatasetLayout(root, name)
    split = read_split(layout.split_path, layout.image_dir)
    return [(split["train"], num_shots), (split["val"], val_shots(num_shots))]


def _fewshot(
    layout: DatasetLayout, train: list[Item], val: list[Item], num_shots: int, seed: int, use_cache: bool
) -> tuple[list[Item], list[Item]]:
    """BiomedCoOp's picks: K per class from train, ``val_shots(K)`` from val, cached per (K, seed)."""
    path = fewshot_cache.cache_path(layout.fewshot_dir, num_shots, seed)
    picks = None
    if use_cache and os.path.isfile(path):
        print(f"Loading preprocessed few-shot data from {path}")
        picks = _cached_picks(layout, path, train, val)
    if picks is None:
        picks = fewshot_sample(train, num_shots, random), fewshot_sample(val, val_shots(num_shots), random)
        if use_cache:
            ensure_images_exist(picks[0] + picks[1], layout.dataset_dir)
            try:
                fewshot_cache.write_cache(path, *picks)
                print(f"Saving preprocessed few-shot data to {path}")
            except OSError as error:
                print(f"Warning: could not write the few-shot cache {path} ({error}); continuing")
    _warn_small_classes(train, picks[0], num_shots)
    return picks


def load_items(
    root: str,
    name: str,
    num_shots: int = -1,
    seed: int = -1,
    subsample: str = "all",
    create_split: bool = False,
    use_cache: bool = True,
) -> dict[str, list[Item]]:
    """The train/val/test items a run uses, checked to exist on disk.

    Python's ``random`` must be seeded as Dassl's ``set_random_seed`` does, and nothing may draw
    from it before this call, for the few-shot picks to equal BiomedCoOp's.
    """
    layout = DatasetLayout(root, name)
    split = _read_or_create_split(layout, create_split)
    train, val, test = split["train"], split["val"], split["test"]
    if num_shots >= 1:
        train, val = _fewshot(layout, train, val, num_shots, seed, use_cache)
    train, val, test = subsample_classes(train, val, test, subsample=subsample)
    ensure_images_exist(train + val + test, layout.dataset_dir)
    return {"train": train, "val": val, "test": test}
