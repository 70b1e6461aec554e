"""The catalog datasets in Dassl's registry, under BiomedCoOp's and CoOp's names: one class for all."""

from __future__ import annotations

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

from datasets.catalog import CATALOG
from datasets.layout import DatasetLayout, load_items
from datasets.splits import Item


def _to_datum(items: list[Item]) -> list[Datum]:
    return [Datum(impath=item.impath, label=item.label, classname=item.classname) for item in items]


class BiomedDataset(DatasetBase):
    """A catalog dataset in its published layout (``datasets.layout.DatasetLayout``): BiomedCoOp's
    ``<root>/<folder>/split_<folder>.json`` with images in ``<folder>/<folder>``, or CoOp's, e.g.
    ``<root>/oxford_pets/split_zhou_OxfordPets.json`` with images in ``oxford_pets/images``."""

    folder = ""

    def __init__(self, cfg) -> None:
        self.layout = DatasetLayout(cfg.DATASET.ROOT, self.folder)
        items = load_items(
            cfg.DATASET.ROOT,
            self.folder,
            num_shots=cfg.DATASET.NUM_SHOTS,
            seed=cfg.SEED,
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
