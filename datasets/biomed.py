"""The eleven datasets in Dassl's registry, under BiomedCoOp's names: one class and declarations."""

from __future__ import annotations

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

from datasets.layout import DatasetLayout, load_items
from datasets.splits import Item


def _to_datum(items: list[Item]) -> list[Datum]:
    return [Datum(impath=item.impath, label=item.label, classname=item.classname) for item in items]


class BiomedDataset(DatasetBase):
    """A BiomedCoOp dataset: ``<root>/<folder>/split_<folder>.json``, images in ``<folder>/<folder>``."""

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


@DATASET_REGISTRY.register()
class BTMRI(BiomedDataset):
    folder = "BTMRI"


@DATASET_REGISTRY.register()
class BUSI(BiomedDataset):
    folder = "BUSI"


@DATASET_REGISTRY.register()
class CHMNIST(BiomedDataset):
    folder = "CHMNIST"


@DATASET_REGISTRY.register()
class COVID_19(BiomedDataset):
    folder = "COVID_19"


@DATASET_REGISTRY.register()
class CTKidney(BiomedDataset):
    folder = "CTKidney"


@DATASET_REGISTRY.register()
class DermaMNIST(BiomedDataset):
    folder = "DermaMNIST"


@DATASET_REGISTRY.register()
class KneeXray(BiomedDataset):
    folder = "KneeXray"


@DATASET_REGISTRY.register()
class Kvasir(BiomedDataset):
    folder = "Kvasir"


@DATASET_REGISTRY.register()
class LungColon(BiomedDataset):
    folder = "LungColon"


@DATASET_REGISTRY.register()
class OCTMNIST(BiomedDataset):
    folder = "OCTMNIST"


@DATASET_REGISTRY.register()
class RETINA(BiomedDataset):
    folder = "RETINA"
