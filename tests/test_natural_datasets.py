"""The seven natural-image datasets on CoOp's split format and layouts: reading, class names, few-shot
picks equal to Dassl's sampler, base/new, prompt templates, and the catalog against the published lists."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from datasets import coop_names
from datasets.catalog import CATALOG, NATURAL, find_dataset, in_domain, prompt_templates
from datasets.layout import DatasetLayout, load_items
from tests.conftest import REPO, requires_dassl
from tools.synthetic_data import make_dataset

PUBLISHED = {
    name: value
    for name, value in json.loads((REPO / "tests" / "fixtures" / "coop_classes.json").read_text()).items()
    if not name.startswith("_")
}
NATURAL_NAMES = [entry.config_name for entry in in_domain(NATURAL)]
# Per-class (train, val) counts of CoOp's splits where every class has the same share (DTD: 120
# images per class, Food101: 1000) or where the class sizes are published (EuroSAT: 3000, 2500 or
# 2000 images, split 50/20/30 per class). The other datasets spread the published totals evenly.
EUROSAT_TRAIN_VAL = {
    "Annual Crop Land": (1500, 600),
    "Forest": (1500, 600),
    "Herbaceous Vegetation Land": (1500, 600),
    "Highway or Road": (1250, 500),
    "Industrial Buildings": (1250, 500),
    "Pasture Land": (1000, 400),
    "Permanent Crop Land": (1250, 500),
    "Residential Buildings": (1500, 600),
    "River": (1250, 500),
    "Sea or Lake": (1500, 600),
}
# CoOp's derived class names of each layout: (the published split path, its label, its class name).
COOP_ENTRIES = {
    "oxford_pets": ("Abyssinian_100.jpg", 0, "abyssinian"),
    "oxford_flowers": ("image_06734.jpg", 0, "pink primrose"),
    "caltech101": ("Faces/image_0001.jpg", 0, "face"),
    "eurosat": ("AnnualCrop/AnnualCrop_1.jpg", 0, "Annual Crop Land"),
    "ucf101": ("Apply_Eye_Makeup/v_ApplyEyeMakeup_g08_c01.jpg", 0, "Apply_Eye_Makeup"),
    "food101": ("apple_pie/1005649.jpg", 0, "apple_pie"),
    "dtd": ("banded/banded_0002.jpg", 0, "banded"),
}


def spread(total: int, parts: int) -> list[int]:
    """``total`` items over ``parts`` classes as evenly as possible, the first classes one more."""
    return [total // parts + (index < total % parts) for index in range(parts)]


def published_counts(name: str) -> list[tuple[int, int]]:
    """(train, val) images per class in label order, summing to the published split sizes."""
    classnames, (train, val, _) = PUBLISHED[name]["classnames"], PUBLISHED[name]["sizes"]
    if name == "eurosat":
        return [EUROSAT_TRAIN_VAL[classname] for classname in classnames]
    return list(zip(spread(train, len(classnames)), spread(val, len(classnames)), strict=True))


def write_coop_split(root: Path, name: str) -> None:
    """A split file with the published class list and counts (one test image per class), in the
    dataset's CoOp layout, entries grouped by class as CoOp writes them; every image an empty file."""
    entry = find_dataset(name)
    classnames = PUBLISHED[name]["classnames"]
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for label, (classname, counts) in enumerate(zip(classnames, published_counts(name), strict=True)):
        folder = coop_names.raw_folder(name, classname)
        prefix = f"{folder}/" if folder else f"{classname}_"
        for key, count in zip(("train", "val", "test"), (*counts, 1), strict=True):
            split[key] += [[f"{prefix}{key}{k}.jpg", label, classname] for k in range(count)]
    dataset_dir = root / entry.dataset_dir
    image_dir = dataset_dir / entry.image_dir
    for items in split.values():
        for relative, _, _ in items:
            path = image_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (dataset_dir / entry.split_file).write_text(json.dumps(split))


@pytest.fixture(scope="module")
def published_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coop")
    for name in NATURAL_NAMES:
        write_coop_split(root, name)
    return root


def in_label_order(items) -> list[str]:
    names = {item.label: item.classname for item in items}
    return [names[label] for label in range(len(names))]


def dassl_cfg(root: Path, folder: str, shots: int, seed: int, subsample: str = "all"):
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.DATASET.ROOT, cfg.DATASET.NAME, cfg.DATASET.NUM_SHOTS = str(root), folder, shots
    cfg.DATASET.SUBSAMPLE_CLASSES, cfg.SEED = subsample, seed
    return cfg


# ----- the catalog against the published lists ------------------------------------------------------


@pytest.mark.parametrize("name", NATURAL_NAMES)
def test_catalog_class_lists_and_sizes_are_the_published_ones(name):
    entry = CATALOG[name]
    assert list(entry.classnames) == PUBLISHED[name]["classnames"]
    assert list(entry.sizes) == PUBLISHED[name]["sizes"]
    assert entry.min_sentences == {"des": 6, "dist": 6, "confuse": 6}
    assert CATALOG["btmri"].min_sentences == {"des": 20, "dist": 20, "confuse": 12}


def test_the_seven_are_coops_datasets_with_coops_names_and_layouts():
    assert NATURAL_NAMES == [
        "ucf101",
        "caltech101",
        "food101",
        "dtd",
        "eurosat",
        "oxford_pets",
        "oxford_flowers",
    ]
    layouts = {name: (e.folder, e.dataset_dir, e.image_dir, e.split_file) for name, e in CATALOG.items()}
    assert layouts["oxford_pets"] == ("OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json")
    assert layouts["dtd"] == ("DescribableTextures", "dtd", "images", "split_zhou_DescribableTextures.json")
    assert layouts["caltech101"][1:3] == ("caltech-101", "101_ObjectCategories")
    assert layouts["food101"][1:3] == ("food-101", "images")
    assert layouts["eurosat"][2] == "2750" and layouts["ucf101"][2] == "UCF-101-midframes"
    assert layouts["oxford_flowers"][2] == "jpg"
    assert layouts["btmri"] == ("BTMRI", "BTMRI", "BTMRI", "split_BTMRI.json")  # BiomedCoOp's, unchanged


def test_the_catalog_command_prints_split_paths_and_a_domains_names():
    def catalog(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "datasets.catalog", *args], cwd=REPO, capture_output=True, text=True
        )
        return result.stdout.strip() or result.stderr.strip()

    assert catalog("split", "oxford_pets") == "oxford_pets/split_zhou_OxfordPets.json"
    assert catalog("split", "DescribableTextures") == "dtd/split_zhou_DescribableTextures.json"
    assert catalog("split", "busi") == "BUSI/split_BUSI.json"
    assert catalog("names", "natural").split() == NATURAL_NAMES
    assert "valid domains: biomedical, natural" in catalog("names", "medical")


def test_zero_shot_templates_are_coops_per_dataset_and_configured_ones_win():
    assert prompt_templates("OxfordPets") == ["a photo of a {}, a type of pet."]
    assert prompt_templates("oxford_flowers") == ["a photo of a {}, a type of flower."]
    assert prompt_templates("food101") == ["a photo of {}, a type of food."]
    assert prompt_templates("dtd") == ["{} texture."]
    assert prompt_templates("eurosat") == ["a centered satellite photo of {}."]
    assert prompt_templates("ucf101") == ["a photo of a person doing {}."]
    assert prompt_templates("caltech101") == ["a photo of a {}."]
    assert prompt_templates("BTMRI") == ["a photo of a {}."]
    assert prompt_templates("not_in_catalog") == ["a photo of a {}."]
    assert prompt_templates("OxfordPets", ["a {}.", "an image of {}."]) == ["a {}.", "an image of {}."]


# ----- CoOp's name derivations ------------------------------------------------------------------------


def test_caltech_labels_are_the_sorted_folders_with_two_left_out_and_four_renamed():
    folders = [coop_names.raw_folder("caltech101", name) for name in CATALOG["caltech101"].classnames]
    folders += ["BACKGROUND_Google", "Faces_easy"]
    random.Random(0).shuffle(folders)
    pairs = coop_names.caltech_classes(folders)
    assert [name for _, name in pairs] == list(CATALOG["caltech101"].classnames)
    assert pairs[:5] == [
        ("Faces", "face"), ("Leopards", "leopard"), ("Motorbikes", "motorbike"), ("accordion", "accordion"),
        ("airplanes", "airplane"),
    ]  # fmt: skip


def test_eurosat_labels_are_the_sorted_folders_renamed():
    folders = sorted(coop_names.EUROSAT_RENAMED, reverse=True)
    assert [name for _, name in coop_names.eurosat_classes(folders)] == list(CATALOG["eurosat"].classnames)
    assert coop_names.raw_folder("eurosat", "Highway or Road") == "Highway"


def test_ucf101_camel_case_actions_are_split_at_capitals():
    assert coop_names.ucf101_classname("YoYo") == "Yo_Yo"
    assert coop_names.ucf101_classname("ApplyEyeMakeup") == "Apply_Eye_Makeup"
    assert coop_names.ucf101_classname("Skijet") == "Skijet"
    camel = [name.replace("_", "") for name in CATALOG["ucf101"].classnames]
    assert [coop_names.ucf101_classname(action) for action in camel] == list(CATALOG["ucf101"].classnames)


def test_pet_breeds_come_from_file_names_and_flowers_from_cat_to_name():
    assert coop_names.pets_breed("British_Shorthair_12.jpg") == "british_shorthair"
    assert coop_names.pets_breed("american_pit_bull_terrier_100.jpg") == "american_pit_bull_terrier"
    assert coop_names.flowers_classname({"1": "pink primrose", "2": "hard-leaved pocket orchid"}, 1) == (
        "hard-leaved pocket orchid"
    )
    assert coop_names.raw_folder("oxford_pets", "abyssinian") == ""


# ----- reading CoOp's split format and layouts -------------------------------------------------------


@pytest.mark.parametrize("name", NATURAL_NAMES)
def test_a_coop_split_file_is_read_in_its_layout(tmp_path, name):
    """CoOp's entries: [path relative to the image folder, 0-based label, class name]."""
    entry = find_dataset(name)
    relative, label, classname = COOP_ENTRIES[name]
    split = {key: [[relative, label, classname]] for key in ("train", "val", "test")}
    make_dataset(str(tmp_path), name, split=split)
    image = tmp_path / entry.dataset_dir / entry.image_dir / relative
    assert image.is_file()
    assert (tmp_path / entry.dataset_dir / entry.split_file).is_file()
    items = load_items(str(tmp_path), entry.folder)
    assert [(item.impath, item.label, item.classname) for item in items["test"]] == [
        (str(image), 0, classname)
    ]


@requires_dassl
@pytest.mark.parametrize("name", NATURAL_NAMES)
def test_the_dassl_class_reads_generated_images_with_the_catalogs_classes(tmp_path, name):
    from dassl.data.datasets import DATASET_REGISTRY

    import datasets.biomed  # noqa: F401  (registers the catalog's datasets)

    entry = find_dataset(name)
    make_dataset(str(tmp_path), name, counts=(2, 1, 1), size=(8, 8))
    dataset = DATASET_REGISTRY.get(entry.folder)(dassl_cfg(tmp_path, entry.folder, 1, 1))
    assert dataset.classnames == list(entry.classnames)
    assert len(dataset.train_x) == len(entry.classnames) and len(dataset.test) == len(entry.classnames)
    first = Path(dataset.test[0].impath)
    assert first.is_file() and first.is_relative_to(tmp_path / entry.dataset_dir / entry.image_dir)
    assert (tmp_path / entry.dataset_dir / "split_fewshot" / "shot_1-seed_1.pkl").is_file()


# ----- few-shot picks and base/new on the published class lists and counts ----------------------------


@pytest.mark.parametrize("name", NATURAL_NAMES)
def test_published_lists_and_counts_load_in_label_order(published_root, name):
    items = load_items(str(published_root), find_dataset(name).folder)
    assert in_label_order(items["train"]) == PUBLISHED[name]["classnames"]
    assert [len(items["train"]), len(items["val"])] == PUBLISHED[name]["sizes"][:2]


@requires_dassl
@pytest.mark.parametrize("name", NATURAL_NAMES)
def test_picks_equal_dassl_generate_fewshot_dataset_for_seeds_1_to_3(published_root, name, tmp_path):
    """CoOp draws with Dassl's generate_fewshot_dataset right after set_random_seed: the same images."""
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
    from dassl.utils import set_random_seed

    import datasets.biomed  # noqa: F401

    folder = find_dataset(name).folder
    full = load_items(str(published_root), folder)
    as_datum = {k: [Datum(i.impath, i.label, 0, i.classname) for i in full[k]] for k in ("train", "val")}
    for seed in (1, 2, 3):
        set_random_seed(seed)
        base = DatasetBase.__new__(DatasetBase)
        dassl_train = base.generate_fewshot_dataset(as_datum["train"], num_shots=16)
        dassl_val = base.generate_fewshot_dataset(as_datum["val"], num_shots=4)
        set_random_seed(seed)
        ours = DATASET_REGISTRY.get(folder)(dassl_cfg(published_root, folder, 16, seed))
        assert [d.impath for d in ours.train_x] == [d.impath for d in dassl_train]
        assert [d.impath for d in ours.val] == [d.impath for d in dassl_val]
        counts = Counter(d.label for d in ours.train_x)
        assert set(counts.values()) == {16} and len(counts) == len(PUBLISHED[name]["classnames"])
    fewshot_dir = DatasetLayout(str(published_root), folder).fewshot_dir
    assert all(os.path.isfile(os.path.join(fewshot_dir, f"shot_16-seed_{s}.pkl")) for s in (1, 2, 3))


@pytest.mark.parametrize("name", ["oxford_pets", "caltech101", "ucf101"])
def test_base_and_new_are_the_first_and_second_half_of_the_published_list(published_root, name):
    classnames = PUBLISHED[name]["classnames"]
    middle = math.ceil(len(classnames) / 2)
    for subsample, expected in (("base", classnames[:middle]), ("new", classnames[middle:])):
        items = load_items(str(published_root), name, subsample=subsample)
        for key in ("train", "val", "test"):
            assert in_label_order(items[key]) == expected
