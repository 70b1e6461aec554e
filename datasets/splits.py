"""BiomedCoOp split files, few-shot picks and base/new class subsets, without Dassl."""

from __future__ import annotations

import json
import math
import os
import random
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from datasets.atomic import write_json

SUBSAMPLES = ("all", "base", "new")
SPLIT_KEYS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


class Item(NamedTuple):
    """One image of a split: absolute path, 0-based label, class name."""

    impath: str
    label: int
    classname: str


class DatasetError(RuntimeError):
    """A dataset that is missing, incomplete or inconsistent on disk."""


def read_split(split_path: str, image_dir: str) -> dict[str, list[Item]]:
    """Read and validate a BiomedCoOp split file: {"train"|"val"|"test": [[path, label, classname]]}."""
    fix = "Correct the file, or download the dataset again (python -m datasets.download NAME --root ROOT)"
    try:
        with open(split_path, encoding="utf-8") as file:
            split = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"split file {split_path} cannot be read as JSON ({error}). {fix}.") from error
    if not isinstance(split, dict):
        raise DatasetError(
            f"split file {split_path} must hold a JSON object, not {type(split).__name__}. {fix}."
        )
    missing = [key for key in SPLIT_KEYS if key not in split]
    if missing:
        raise DatasetError(f"split file {split_path} lacks the keys {missing}. {fix}.")
    items: dict[str, list[Item]] = {}
    for key in SPLIT_KEYS:
        if not isinstance(split[key], list):
            raise DatasetError(f"split file {split_path}: {key!r} must be a list of entries. {fix}.")
        items[key] = [
            _entry(entry, key, index, split_path, image_dir) for index, entry in enumerate(split[key])
        ]
    validate_labels(items, split_path)
    return items


def _entry(entry: object, key: str, index: int, split_path: str, image_dir: str) -> Item:
    """One [relative path, label, classname] entry as an Item; anything else names the entry."""
    valid = (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and isinstance(entry[1], int)
        and not isinstance(entry[1], bool)
        and isinstance(entry[2], str)
        and entry[2].strip()
    )
    if not valid:
        raise DatasetError(
            f"split file {split_path}: entry {index} of {key!r} is {entry!r}, not "
            '["relative/path.jpg", integer label, "class name"]. Correct or remove that entry.'
        )
    path, label, name = entry
    return Item(os.path.join(image_dir, path), label, name)


def validate_labels(split: dict[str, list[Item]], split_path: str) -> None:
    """Labels run 0..C-1 in train, val and test use only those, and each label has one class name."""
    train_labels = sorted({item.label for item in split["train"]})
    if not train_labels:
        raise DatasetError(f"split file {split_path}: 'train' is empty. Add training entries.")
    expected = list(range(len(train_labels)))
    if train_labels != expected:
        absent = sorted(set(range(max(train_labels[-1], 0) + 1)) - set(train_labels))
        first = next(
            (index, item)
            for index, item in enumerate(split["train"])
            if item.label < 0 or item.label not in expected
        )
        raise DatasetError(
            f"split file {split_path}: the labels of 'train' must run from 0 to C-1 without gaps, "
            f"but they are {train_labels} (missing {absent}); the first label outside 0..{len(expected) - 1}"
            f" is entry {first[0]} of 'train' ({_describe(first[1])}). Renumber the labels 0..C-1."
        )
    names: dict[int, tuple[str, str, int]] = {}
    labels: dict[str, tuple[int, str, int]] = {}
    for key in SPLIT_KEYS:
        for index, item in enumerate(split[key]):
            if item.label not in expected:
                raise DatasetError(
                    f"split file {split_path}: entry {index} of {key!r} ({_describe(item)}) has label "
                    f"{item.label}, but the training labels are 0..{len(expected) - 1}. Give it the label "
                    "of its class in 'train', or remove it."
                )
            named = names.setdefault(item.label, (item.classname, key, index))
            if named[0] != item.classname:
                raise DatasetError(
                    f"split file {split_path}: label {item.label} is called {named[0]!r} in entry "
                    f"{named[2]} of {named[1]!r} but {item.classname!r} in entry {index} of {key!r}. "
                    "Each label needs one class name: correct one of them."
                )
            labelled = labels.setdefault(item.classname, (item.label, key, index))
            if labelled[0] != item.label:
                raise DatasetError(
                    f"split file {split_path}: class {item.classname!r} has label {labelled[0]} in entry "
                    f"{labelled[2]} of {labelled[1]!r} but {item.label} in entry {index} of {key!r}. "
                    "Each class needs one label: correct one of them."
                )


def _describe(item: Item) -> str:
    return f"{os.path.basename(item.impath)!r}, label {item.label}, {item.classname!r}"


def write_split(split: dict[str, list[Item]], split_path: str, image_dir: str) -> None:
    """Write a split file in BiomedCoOp's format, paths relative to ``image_dir``, atomically."""
    write_json(
        split_path,
        {
            key: [[os.path.relpath(item.impath, image_dir), item.label, item.classname] for item in items]
            for key, items in split.items()
        },
    )


def create_split(
    image_dir: str, rng: random.Random | None = None, fractions: tuple[float, float] = (0.5, 0.2)
) -> dict[str, list[Item]]:
    """A new stratified 50/20/30 split of ``image_dir/<class folder>/*``, classes in sorted order.

    Class names are the folder names with ``_`` as spaces. Results on such a split are not
    comparable to published ones, and a warning says so.
    """
    rng = rng or random
    warnings.warn(
        f"creating a new random split of {image_dir}: results will NOT be comparable to results "
        "published on BiomedCoOp's splits",
        stacklevel=2,
    )
    folders = sorted(name for name in os.listdir(image_dir) if os.path.isdir(os.path.join(image_dir, name)))
    if not folders:
        raise DatasetError(f"no class folders in {image_dir}: cannot create a split")
    split: dict[str, list[Item]] = {key: [] for key in SPLIT_KEYS}
    for label, folder in enumerate(folders):
        directory = os.path.join(image_dir, folder)
        files = sorted(
            os.path.join(directory, name)
            for name in os.listdir(directory)
            if name.lower().endswith(IMAGE_SUFFIXES)
        )
        rng.shuffle(files)
        n_train = round(len(files) * fractions[0])
        n_val = round(len(files) * fractions[1])
        if min(n_train, n_val, len(files) - n_train - n_val) < 1:
            raise DatasetError(f"class folder {directory} has too few images ({len(files)}) to split")
        name = folder.replace("_", " ")
        for key, chunk in zip(
            SPLIT_KEYS,
            (files[:n_train], files[n_train : n_train + n_val], files[n_train + n_val :]),
            strict=True,
        ):
            split[key].extend(Item(path, label, name) for path in chunk)
    return split


def fewshot_sample(items: Sequence[Item], num_shots: int, rng: random.Random | None = None) -> list:
    """Pick ``num_shots`` items per label exactly as Dassl's ``generate_fewshot_dataset`` does.

    Labels are visited in order of first appearance; each draws ``rng.sample(items, num_shots)``
    (a class with fewer items keeps them all). With the module-level ``random`` seeded as Dassl's
    ``set_random_seed`` seeds it, the picks equal BiomedCoOp's.
    """
    if num_shots < 1:
        return list(items)
    rng = rng or random
    by_label: dict[int, list] = defaultdict(list)
    for item in items:
        by_label[item.label].append(item)
    picked: list = []
    for group in by_label.values():
        picked.extend(rng.sample(group, num_shots) if len(group) >= num_shots else group)
    return picked


def subsample_classes(*splits: Sequence[Item], subsample: str = "all") -> list[list[Item]]:
    """Base-to-novel: base = the first ceil(n/2) labels, new = the rest, relabelled from 0.

    The labels are those present in the first split; class names are kept.
    """
    if subsample not in SUBSAMPLES:
        raise ValueError(f"DATASET.SUBSAMPLE_CLASSES must be one of {SUBSAMPLES}, got {subsample!r}")
    if subsample == "all":
        return [list(split) for split in splits]
    labels = sorted({item.label for item in splits[0]})
    middle = math.ceil(len(labels) / 2)
    selected = labels[:middle] if subsample == "base" else labels[middle:]
    relabel = {label: new for new, label in enumerate(selected)}
    return [
        [Item(item.impath, relabel[item.label], item.classname) for item in split if item.label in relabel]
        for split in splits
    ]


def missing_images(items: Iterable[Item]) -> list[str]:
    """Paths of the items whose image file does not exist, in order, without repeats."""
    seen: set[str] = set()
    missing = []
    for item in items:
        if item.impath not in seen and not os.path.isfile(item.impath):
            missing.append(item.impath)
        seen.add(item.impath)
    return missing


def ensure_images_exist(items: Iterable[Item], dataset_dir: str) -> None:
    """Stop before training when images named by the split are missing: count and first ten."""
    missing = missing_images(items)
    if missing:
        listing = "\n  ".join(missing[:10])
        raise DatasetError(
            f"{len(missing)} image(s) named by the split are missing under {dataset_dir}; the first "
            f"{min(10, len(missing))}:\n  {listing}\nThe dataset is incomplete: download it again "
            "(python -m datasets.download NAME --root ROOT) or restore these files."
        )


def rebase_path(impath: str, image_dir: str) -> str:
    """Move a path recorded on another machine (.../<dataset dir>/<image dir>/rel) under ``image_dir``."""
    if os.path.isfile(impath):
        return impath
    tail = os.path.join(*os.path.normpath(image_dir).split(os.sep)[-2:])
    marker = os.sep + tail + os.sep
    normalized = impath.replace("\\", "/").replace("/", os.sep)
    if marker in normalized:
        return os.path.join(image_dir, normalized.rsplit(marker, 1)[1])
    return impath
