"""The datasets on BiomedCoOp's real split files: sizes, class order, few-shot picks, base/new."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest

from datasets.layout import load_items
from tests.conftest import SHARED_SPLITS, requires_dassl, requires_shared_splits, seed_everything

pytestmark = requires_shared_splits

# From shared/README.md: label order and split sizes.
EXPECTED = {
    "BTMRI": (["glioma tumor", "meningioma tumor", "pituitary tumor", "normal brain"], (2854, 1141, 1717)),
    "BUSI": (["benign tumor", "malignant tumor", "normal scan"], (389, 155, 236)),
    "CHMNIST": (
        [
            "adipose tissue",
            "complex stroma",
            "debris",
            "empty background",
            "immune cells",
            "normal mucosal glands",
            "simple stroma",
            "tumour epithelium",
        ],
        (2496, 1000, 1504),
    ),
    "COVID_19": (
        ["covid lungs", "lung opacity lungs", "viral pneumonia lungs", "normal lungs"],
        (10582, 4232, 6351),
    ),
    "CTKidney": (["cyst kidney", "kidney stone", "kidney tumor", "normal kidney"], (6221, 2487, 3738)),
    "DermaMNIST": (
        [
            "actinic keratosis",
            "basal cell carcinoma",
            "benign keratosis",
            "dermatofibroma",
            "melanoma",
            "melanocytic nevus",
            "vascular lesion",
        ],
        (7006, 1003, 2005),
    ),
    "KneeXray": (
        [
            "healthy knee",
            "doubtful osteoarthritis",
            "minimal osteoarthritis",
            "moderate osteoarthritis",
            "severe osteoarthritis",
        ],
        (5778, 826, 1656),
    ),
    "Kvasir": (
        [
            "dyed lifted polyps",
            "dyed resection margins",
            "esophagitis",
            "normal cecum",
            "normal pylorus",
            "normal z line",
            "polyps",
            "ulcerative colitis",
        ],
        (2000, 800, 1200),
    ),
    "LungColon": (
        [
            "colon adenocarcinoma",
            "colon benign tissue",
            "lung adenocarcinoma",
            "lung benign tissue",
            "lung squamous cell carcinoma",
        ],
        (12500, 5000, 7500),
    ),
    "RETINA": (["diabetic retinopathy", "glaucoma", "cataract", "normal retina"], (2108, 841, 1268)),
}
NAMES = sorted(EXPECTED)
# A valid 1x1 PNG: the tree has ~97,000 files, so they share these bytes (the loaders here never decode).
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a4944415478da6360000000020001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def real_layout_root(tmp_path_factory) -> str:
    """Every image path of the ten split files, as tiny files, under <root>/<NAME>/<NAME>/."""
    root = tmp_path_factory.mktemp("biomed")
    for name in NAMES:
        split_file = SHARED_SPLITS / name / f"split_{name}.json"
        dataset_dir = root / name
        dataset_dir.mkdir()
        (dataset_dir / split_file.name).write_bytes(split_file.read_bytes())
        split = json.loads(split_file.read_text())
        image_dir = dataset_dir / name
        folders = {os.path.dirname(p) for items in split.values() for p, _, _ in items}
        for folder in folders:
            (image_dir / folder).mkdir(parents=True, exist_ok=True)
        for items in split.values():
            for relative, _, _ in items:
                with open(image_dir / relative, "wb") as file:
                    file.write(TINY_PNG)
    return str(root)


def classnames_in_label_order(items) -> list[str]:
    names = {item.label: item.classname for item in items}
    assert sorted(names) == list(range(len(names)))
    return [names[label] for label in range(len(names))]


@pytest.mark.parametrize("name", NAMES)
def test_split_sizes_and_class_order(real_layout_root, name):
    classnames, sizes = EXPECTED[name]
    items = load_items(real_layout_root, name, num_shots=-1)
    assert tuple(len(items[key]) for key in ("train", "val", "test")) == sizes
    for key in ("train", "val", "test"):
        assert classnames_in_label_order(items[key]) == classnames
    first = items["train"][0].impath
    assert first.startswith(os.path.join(real_layout_root, name, name) + os.sep)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shots", [1, 4, 16])
def test_fewshot_counts_per_class(real_layout_root, name, shots):
    full = load_items(real_layout_root, name, num_shots=-1)
    seed_everything(1)
    picked = load_items(real_layout_root, name, num_shots=shots, seed=1, use_cache=False)
    for key, k in (("train", shots), ("val", min(shots, 4))):
        available = Counter(item.label for item in full[key])
        counts = Counter(item.label for item in picked[key])
        assert counts == {label: min(k, n) for label, n in available.items()}
        assert len(set(picked[key])) == len(picked[key])  # no image drawn twice
    assert picked["test"] == full["test"]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_picks_and_different_seeds_differ(real_layout_root, name):
    def picks(seed):
        seed_everything(seed)
        items = load_items(real_layout_root, name, num_shots=4, seed=seed, use_cache=False)
        return [item.impath for item in items["train"] + items["val"]]

    assert picks(1) == picks(1)
    assert picks(1) != picks(2)


@pytest.mark.parametrize("name", NAMES)
def test_base_and_new_classes(real_layout_root, name):
    classnames, _ = EXPECTED[name]
    middle = math.ceil(len(classnames) / 2)
    for subsample, expected in (("base", classnames[:middle]), ("new", classnames[middle:])):
        seed_everything(1)
        items = load_items(real_layout_root, name, num_shots=16, seed=1, subsample=subsample, use_cache=False)
        for key in ("train", "val", "test"):
            assert classnames_in_label_order(items[key]) == expected
    full_test = load_items(real_layout_root, name)["test"]
    new_test = load_items(real_layout_root, name, subsample="new")["test"]
    assert len(new_test) == sum(1 for item in full_test if item.label >= middle)


@requires_dassl
@pytest.mark.parametrize("name", ["BTMRI", "DermaMNIST"])
def test_picks_equal_dassl_generate_fewshot_dataset(real_layout_root, name):
    """BiomedCoOp draws with Dassl's DatasetBase.generate_fewshot_dataset right after set_random_seed."""
    from dassl.data.datasets import DatasetBase, Datum
    from dassl.utils import set_random_seed

    full = load_items(real_layout_root, name)
    as_datum = {
        key: [Datum(i.impath, i.label, 0, i.classname) for i in full[key]] for key in ("train", "val")
    }
    set_random_seed(3)
    base = DatasetBase.__new__(DatasetBase)
    dassl_train = base.generate_fewshot_dataset(as_datum["train"], num_shots=16)
    dassl_val = base.generate_fewshot_dataset(as_datum["val"], num_shots=4)
    set_random_seed(3)
    ours = load_items(real_layout_root, name, num_shots=16, seed=3, use_cache=False)
    assert [i.impath for i in ours["train"]] == [d.impath for d in dassl_train]
    assert [i.impath for i in ours["val"]] == [d.impath for d in dassl_val]


def test_missing_split_file_says_where_and_how_to_download(tmp_path):
    from datasets.splits import DatasetError

    with pytest.raises(DatasetError) as error:
        load_items(str(tmp_path), "BUSI")
    message = str(error.value)
    assert str(tmp_path / "BUSI" / "split_BUSI.json") in message
    assert "python -m datasets.download BUSI" in message
    assert "DATASET.CREATE_SPLIT" in message


def test_missing_images_are_counted_and_the_first_ten_listed(tmp_path):
    from datasets.splits import DatasetError

    split_file = SHARED_SPLITS / "BUSI" / "split_BUSI.json"
    (tmp_path / "BUSI").mkdir()
    (tmp_path / "BUSI" / split_file.name).write_bytes(split_file.read_bytes())
    with pytest.raises(DatasetError) as error:
        load_items(str(tmp_path), "BUSI")
    message = str(error.value)
    assert message.startswith("780 image(s) named by the split are missing")
    listed = [line for line in message.splitlines() if line.startswith("  ")]
    assert len(listed) == 10
    assert listed[0].strip() == str(
        Path(tmp_path, "BUSI", "BUSI", json.loads(split_file.read_text())["train"][0][0])
    )
