"""Reading images of every bit depth, the few-shot cache (safe loading, BiomedCoOp's format), new splits."""

from __future__ import annotations

import json
import os
import pickle
import random
import re

import numpy as np
import pytest
from PIL import Image

from datasets.fewshot_cache import CorruptCacheError, UnsafeCacheError, cache_path, read_cache
from datasets.images import ImageReadError, load_rgb
from datasets.layout import load_items
from datasets.splits import DatasetError, Item, create_split, read_split
from tests.conftest import requires_dassl, seed_everything
from tools.synthetic_data import make_dataset


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.array([[0, 128], [200, 255]], dtype=np.uint8), mode="L").save(path)
    rgb = np.asarray(load_rgb(str(path)))
    assert rgb.shape == (2, 2, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb[1, 0, 0] == 200


def test_16_bit_images_use_their_full_range(tmp_path):
    path = tmp_path / "xray16.png"
    values = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)  # a 12-bit detector in a 16-bit file
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = np.asarray(load_rgb(str(path)))
    assert rgb.shape == (2, 2, 3)
    assert rgb[..., 0].tolist() == [[0, 64], [128, 255]]  # not clipped to white, not crushed to black


def test_undecodable_image_names_the_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match=r"broken\.jpg"):
        load_rgb(str(path))


def test_a_cache_with_anything_but_datum_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "shot_1-seed_1.pkl"
    path.write_bytes(pickle.dumps({"train": [Exploit()], "val": []}))
    with pytest.raises(UnsafeCacheError, match=r"shot_1-seed_1\.pkl.*(posix|os)\.system"):
        read_cache(str(path))
    assert not marker.exists()


def test_a_truncated_cache_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "shot_2-seed_1.pkl"
    path.write_bytes(pickle.dumps({"train": [], "val": []})[:-3])
    with pytest.raises(CorruptCacheError, match=r"shot_2-seed_1\.pkl"):
        read_cache(str(path))


def test_create_split_is_stratified_50_20_30_and_warns(tmp_path):
    make_dataset(str(tmp_path), "BUSI", classnames=("benign tumor", "normal scan"), counts=(5, 2, 3))
    os.remove(tmp_path / "BUSI" / "split_BUSI.json")
    with pytest.warns(UserWarning, match="NOT be comparable"):
        split = create_split(str(tmp_path / "BUSI" / "BUSI"), random.Random(0))
    assert [len(split[k]) for k in ("train", "val", "test")] == [10, 4, 6]
    assert {item.classname for item in split["train"]} == {"benign tumor", "normal scan"}
    seed_everything(1)
    with pytest.warns(UserWarning):
        items = load_items(str(tmp_path), "BUSI", create_split=True)
    assert os.path.isfile(tmp_path / "BUSI" / "split_BUSI.json")
    assert len(items["test"]) == 6


@requires_dassl
def test_cache_written_here_reads_back_identically_and_is_reused(tmp_path):
    make_dataset(str(tmp_path), "BTMRI")
    seed_everything(1)
    first = load_items(str(tmp_path), "BTMRI", num_shots=2, seed=1)
    path = cache_path(str(tmp_path / "BTMRI" / "split_fewshot"), 2, 1)
    assert os.path.isfile(path)
    cached = read_cache(path)
    assert cached["train"] == first["train"] and cached["val"] == first["val"]
    seed_everything(99)  # a different stream: the cache, not the draw, decides
    assert load_items(str(tmp_path), "BTMRI", num_shots=2, seed=1)["train"] == first["train"]


@requires_dassl
def test_a_biomedcoop_cache_from_another_machine_is_used_as_is(tmp_path):
    """BiomedCoOp pickles Dassl Datum objects with absolute paths of the machine that drew them."""
    from dassl.data.datasets import Datum

    make_dataset(str(tmp_path), "BTMRI")
    image_dir = tmp_path / "BTMRI" / "BTMRI"
    split = read_split(str(tmp_path / "BTMRI" / "split_BTMRI.json"), str(image_dir))
    chosen = {"train": split["train"][-4:], "val": split["val"][:2]}
    data = {
        key: [Datum(item.impath, item.label, 0, item.classname) for item in items]
        for key, items in chosen.items()
    }
    for items in data.values():
        for datum in items:  # as if drawn on another machine
            datum._impath = datum.impath.replace(str(tmp_path), "/home/someone/data")
    fewshot_dir = tmp_path / "BTMRI" / "split_fewshot"
    fewshot_dir.mkdir()
    with open(cache_path(str(fewshot_dir), 16, 1), "wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
    items = load_items(str(tmp_path), "BTMRI", num_shots=16, seed=1)
    assert items["train"] == chosen["train"] and items["val"] == chosen["val"]
    assert all(isinstance(item, Item) for item in items["train"])


def test_a_boolean_label_is_refused_naming_the_entry(tmp_path):
    split = {"train": [["a/1.png", 0, "a"], ["b/1.png", True, "b"]], "val": [], "test": []}
    path = tmp_path / "split.json"
    path.write_text(json.dumps(split))
    message = (
        f"split file {path}: entry 1 of 'train' is ['b/1.png', True, 'b'], not "
        '["relative/path.jpg", integer label, "class name"]. Correct or remove that entry.'
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        read_split(str(path), str(tmp_path))


def test_create_split_refuses_a_class_too_small_for_a_test_set(tmp_path):
    make_dataset(str(tmp_path), "BUSI", classnames=("benign tumor", "normal scan"), counts=(5, 2, 3))
    small = tmp_path / "BUSI" / "BUSI" / "tiny_class"
    small.mkdir()
    for index in range(3):  # 2 train, 1 val (rounded from 1.5 and 0.6), no test image
        Image.new("RGB", (8, 8)).save(small / f"{index}.png")
    with (
        pytest.warns(UserWarning),
        pytest.raises(DatasetError, match=re.escape(f"{small} has too few images (3)")),
    ):
        create_split(str(tmp_path / "BUSI" / "BUSI"), random.Random(0))
