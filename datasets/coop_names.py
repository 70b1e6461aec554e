"""How CoOp derives the class names of the natural-image datasets from their raw files.

The published split files hold the derived names (and the catalog holds them in label order); these
rules say where each comes from, so that a split made from the raw files, or generated test data in the
raw layout, names the classes as CoOp's split files do.
"""

from __future__ import annotations

import os
import re

# Caltech101: folders left out of the split, and folders whose class name differs from the folder.
CALTECH_IGNORED = ("BACKGROUND_Google", "Faces_easy")
CALTECH_RENAMED = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
# EuroSAT: folder name -> class name.
EUROSAT_RENAMED = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


def caltech_classes(folders: list[str]) -> list[tuple[str, str]]:
    """(folder, class name) in label order: folders sorted case-sensitively, two left out, four renamed."""
    kept = sorted(folder for folder in folders if folder not in CALTECH_IGNORED)
    return [(folder, CALTECH_RENAMED.get(folder, folder)) for folder in kept]


def eurosat_classes(folders: list[str]) -> list[tuple[str, str]]:
    """(folder, class name) in label order: sorted folder names, renamed by CoOp's table."""
    return [(folder, EUROSAT_RENAMED.get(folder, folder)) for folder in sorted(folders)]


def ucf101_classname(action: str) -> str:
    """UCF101's CamelCase action split at capitals and joined by ``_``: ``YoYo`` -> ``Yo_Yo``."""
    return "_".join(re.findall("[A-Z][^A-Z]*", action))


def pets_breed(image_name: str) -> str:
    """The breed of an Oxford-IIIT Pet image: its file name without the index, lower-cased."""
    stem = os.path.splitext(os.path.basename(image_name))[0]
    return "_".join(stem.split("_")[:-1]).lower()


def raw_folder(config_name: str, classname: str) -> str:
    """The image sub-folder of a class in CoOp's layout ("" where images lie in one flat folder)."""
    if config_name in ("oxford_pets", "oxford_flowers"):
        return ""
    renamed = {"caltech101": CALTECH_RENAMED, "eurosat": EUROSAT_RENAMED}.get(config_name, {})
    return next((folder for folder, name in renamed.items() if name == classname), classname)


def flowers_classname(cat_to_name: dict[str, str], label: int) -> str:
    """Oxford Flowers' class of a 0-based label: ``cat_to_name.json`` keyed by the 1-based label."""
    return cat_to_name[str(label + 1)]
