"""The catalog datasets in Dassl's registry, under BiomedCoOp's and CoOp's names: one class for all."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

from datasets.catalog import CATALOG
from datasets.layout import DatasetLayout, load_items
from datasets.splits import Item


def _to_datum(items: list[Item]) -> list[Datum]:
    return [Datum(impath=item.impath, label=item.label, classname=item.classname) for item in items]


@contextmanager
def drawing_seed(seed: int, run_seed: int) -> Iterator[None]:
    """Python's ``random`` as a run with ``seed`` has it (seeded as Dassl does), inside; the run's own
    stream is left as it was outside. Nothing changes when ``seed`` is the run's."""
    if seed == run_seed:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class BiomedDataset(DatasetBase):
    """A catalog dataset in its published layout (``datasets.layout.DatasetLayout``): BiomedCoOp's
    ``<root>/<folder>/split_<folder>.json`` with images in ``<folder>/<folder>``, or CoOp's, e.g.
    ``<root>/oxford_pets/split_zhou_OxfordPets.json`` with images in ``oxford_pets/images``."""

    folder = ""

    def __init__(self, cfg) -> None:
        self.layout = DatasetLayout(cfg.DATASET.ROOT, self.folder)
        seed = cfg.DATASET.FEWSHOT_SEED if cfg.DATASET.FEWSHOT_SEED >= 0 else cfg.SEED
        with drawing_seed(seed, cfg.SEED):
            items = load_items(
                cfg.DATASET.ROOT,
                self.folder,
                num_shots=cfg.DATASET.NUM_SHOTS,
                seed=seed,
                subsample=cfg.DATASET.SUBSAMPLE_CLASSES,
                create_split=cfg.DATASET.CREATE_SPLIT,
            )
        super().__init__(
            train_x=_to_datum(items["train"]), val=_to_datum(items["val"]), test=_to_datum(items["test"])
        )


def _register(folder: str) -> type[BiomedDataset]:
    """A BiomedDataset subclass named after the folder, in Dassl's registry (DATASET.NAME)."""
    dataset = type(folder, (BiomedDataset,), {"folder": folder, "__module__": __name__})
    DATASET_REGISTRY.register(dataset)
    return dataset


REGISTERED = {entry.folder: _register(entry.folder) for entry in CATALOG.values()}
