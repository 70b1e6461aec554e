"""Small generated datasets in the published layouts, for tests, benchmarks and smoke tests.

``python -m tools.synthetic_data --root /tmp/data BTMRI busi`` writes ``/tmp/data/BTMRI/split_BTMRI.json``
and ``/tmp/data/BUSI/split_BUSI.json`` with an image per split entry, each dataset with its own class
names and class folders (any catalog spelling: folder or config name). A natural-image dataset gets
CoOp's layout: ``oxford_pets`` writes ``oxford_pets/split_zhou_OxfordPets.json`` and flat
``oxford_pets/images/<breed>_<k>.jpg``; Caltech101 and EuroSAT use their raw folder names. Images are
class-dependent (a tint and a stripe frequency per label, plus noise), so a model can learn them.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from datasets.catalog import NATURAL, UnknownDatasetError, find_dataset
from datasets.coop_names import raw_folder


def synthetic_image(label: int, index: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB image [H, W, 3] whose tint and stripes depend on the label."""
    height, width = size
    x = np.linspace(0, 1, width)[None, :, None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (label + 1) * 2 * x + index)
    tint = np.array([(label * 67) % 256, (label * 131 + 60) % 256, (label * 29 + 120) % 256]) / 255.0
    noise = rng.normal(0, 0.08, (height, width, 3))
    image = 0.55 * stripes * tint + 0.35 * stripes + noise
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def split_entries(
    classnames: Sequence[str], counts: tuple[int, int, int], suffix: str, coop_dataset: str = ""
) -> dict[str, list[list]]:
    """Split entries [[relative path, label, classname]] with ``counts`` per class and split.

    Paths are ``<class folder>/<split>_<k><suffix>``; with ``coop_dataset`` (a natural dataset's config
    name) the class folder is CoOp's raw one, and flat datasets name the file after the class.
    """
    split: dict[str, list[list]] = {}
    for key, per_class in zip(("train", "val", "test"), counts, strict=True):
        split[key] = [
            [_relative_path(name, f"{key}_{k}{suffix}", coop_dataset), label, name]
            for label, name in enumerate(classnames)
            for k in range(per_class)
        ]
    return split


def _relative_path(classname: str, filename: str, coop_dataset: str) -> str:
    if not coop_dataset:
        return f"{classname.replace(' ', '_')}/{filename}"
    folder = raw_folder(coop_dataset, classname)
    return f"{folder}/{filename}" if folder else f"{classname.replace(' ', '_')}_{filename.replace('_', '')}"


def write_images(image_dir: str, split: dict[str, list[list]], size: tuple[int, int], seed: int = 0) -> None:
    """Write one image per distinct split path under ``image_dir``."""
    rng = np.random.default_rng(seed)
    written: set[str] = set()
    for items in split.values():
        for index, (relative, label, _) in enumerate(items):
            if relative in written:
                continue
            path = os.path.join(image_dir, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(synthetic_image(int(label), index, size, rng)).save(path)
            written.add(relative)


def make_dataset(
    root: str,
    name: str,
    classnames: Sequence[str] | None = None,
    counts: tuple[int, int, int] = (8, 4, 6),
    size: tuple[int, int] = (40, 48),
    suffix: str = "",
    split: dict[str, list[list]] | None = None,
    seed: int = 0,
) -> str:
    """Create a dataset's split file and its images in its published layout; returns the dataset folder.

    A catalog dataset (``BUSI`` or ``busi``) gets its layout and class names; ``classnames`` overrides
    them, and is required for a name outside the catalog (BiomedCoOp's layout). Pass ``split`` (a real
    split file's content) to reproduce a published layout exactly. ``suffix`` defaults to ``.jpg`` for
    natural-image datasets and ``.png`` otherwise.
    """
    directory, image_dir, split_file, coop_dataset = name, name, f"split_{name}.json", ""
    try:
        entry = find_dataset(name)
    except UnknownDatasetError:
        if classnames is None and split is None:
            raise
    else:
        classnames = classnames or entry.classnames
        directory, image_dir, split_file = entry.dataset_dir, entry.image_dir, entry.split_file
        coop_dataset = entry.config_name if entry.domain == NATURAL else ""
    suffix = suffix or (".jpg" if coop_dataset else ".png")
    split = split or split_entries(classnames, counts, suffix, coop_dataset)
    dataset_dir = os.path.join(root, directory)
    os.makedirs(dataset_dir, exist_ok=True)
    with open(os.path.join(dataset_dir, split_file), "w") as file:
        json.dump(split, file)
    write_images(os.path.join(dataset_dir, image_dir), split, size, seed)
    return dataset_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="+", help="catalog dataset names, e.g. BTMRI or busi")
    parser.add_argument("--root", default="data")
    parser.add_argument("--per-class", type=int, nargs=3, default=(8, 4, 6), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--size", type=int, nargs=2, default=(40, 48), metavar=("H", "W"))
    args = parser.parse_args(argv)
    try:
        entries = [find_dataset(name) for name in args.names]
    except UnknownDatasetError as error:
        parser.error(str(error))
    for entry in entries:
        print(make_dataset(args.root, entry.folder, counts=tuple(args.per_class), size=tuple(args.size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
