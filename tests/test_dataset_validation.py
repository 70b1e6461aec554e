"""Broken split files, stale few-shot caches, classes smaller than NUM_SHOTS, a data root one level deep."""

from __future__ import annotations

import json
import os
import pickle
import re

import pytest

from datasets.atomic import atomic_write, write_json
from datasets.fewshot_cache import cache_path, read_cache
from datasets.images import ImageReadError, load_rgb
from datasets.layout import load_items
from datasets.splits import DatasetError, Item, read_split, write_split
from tests.conftest import requires_dassl, seed_everything
from tools.synthetic_data import make_dataset


def dataset(tmp_path, **kwargs) -> tuple[str, dict]:
    """A synthetic BTMRI; returns its split file path and content."""
    make_dataset(str(tmp_path), "BTMRI", **kwargs)
    split_file = str(tmp_path / "BTMRI" / "split_BTMRI.json")
    with open(split_file) as file:
        return split_file, json.load(file)


def rewrite(split_file: str, split: dict) -> None:
    with open(split_file, "w") as file:
        json.dump(split, file)


def load(tmp_path, shots: int = 2, **kwargs) -> dict[str, list[Item]]:
    seed_everything(1)
    return load_items(str(tmp_path), "BTMRI", num_shots=shots, seed=1, **kwargs)


def test_a_train_label_outside_0_to_c_minus_1_names_file_entry_and_fix(tmp_path):
    split_file, split = dataset(tmp_path)
    split["train"][5][1] = 9
    rewrite(split_file, split)
    with pytest.raises(DatasetError) as error:
        load(tmp_path, use_cache=False)
    message = str(error.value)
    assert split_file in message
    assert "entry 5 of 'train'" in message
    assert "[0, 1, 2, 3, 9]" in message and "Renumber the labels 0..C-1" in message


def test_a_test_label_outside_the_training_labels_is_refused(tmp_path):
    split_file, split = dataset(tmp_path)
    split["test"][2][1] = 4
    rewrite(split_file, split)
    with pytest.raises(
        DatasetError, match=r"entry 2 of 'test' .* has label 4, but the training labels are 0\.\.3"
    ):
        read_split(split_file, str(tmp_path))


def test_two_class_names_for_one_label_are_refused(tmp_path):
    split_file, split = dataset(tmp_path)
    split["val"][0][2] = "glioma"
    rewrite(split_file, split)
    with pytest.raises(DatasetError) as error:
        read_split(split_file, str(tmp_path))
    message = str(error.value)
    assert (
        "label 0 is called 'glioma tumor' in entry 0 of 'train' but 'glioma' in entry 0 of 'val'" in message
    )
    assert split_file in message


def test_one_class_name_for_two_labels_is_refused(tmp_path):
    split_file, split = dataset(tmp_path)
    for entry in split["train"]:
        if entry[1] == 1:
            entry[2] = "glioma tumor"
    rewrite(split_file, split)
    with pytest.raises(DatasetError, match="class 'glioma tumor' has label 0 in entry 0 of 'train' but 1"):
        read_split(split_file, str(tmp_path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"train": [["a.png", 0]], "val": [], "test": []}', r"entry 0 of 'train' is \['a\.png', 0\]"),
        (b'{"train": [["a.png", "0", "x"]], "val": [], "test": []}', "entry 0 of 'train'"),
        (b'{"train": {}, "val": [], "test": []}', "'train' must be a list"),
        (b"[]", "must hold a JSON object"),
        (b"\xff\xfe\x00", "cannot be read as JSON"),
        (b'{"train": [], "val": [], "test": []}', "'train' is empty"),
    ],
)
def test_malformed_split_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "split_X.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as error:
        read_split(str(path), str(tmp_path))
    assert str(path) in str(error.value)


def test_an_unreadable_split_file_names_the_file(tmp_path):
    path = tmp_path / "split_X.json"
    path.mkdir()
    with pytest.raises(DatasetError, match=re.escape(str(path))):
        read_split(str(path), str(tmp_path))


@requires_dassl
def test_no_few_shot_cache_is_written_from_an_invalid_split(tmp_path):
    split_file, split = dataset(tmp_path)
    split["train"][0][1] = 7
    rewrite(split_file, split)
    with pytest.raises(DatasetError):
        load(tmp_path)
    assert not os.path.exists(tmp_path / "BTMRI" / "split_fewshot")


@requires_dassl
def test_a_cache_drawn_from_a_since_corrected_split_is_drawn_again(tmp_path, capsys):
    dataset(tmp_path)
    good = load(tmp_path)
    cache = cache_path(str(tmp_path / "BTMRI" / "split_fewshot"), 2, 1)
    cached = read_cache(cache)
    from dassl.data.datasets import Datum

    stale = {
        "train": [Datum(i.impath, 3 - i.label, 0, i.classname) for i in cached["train"]],
        "val": [Datum(i.impath, i.label, 0, i.classname) for i in cached["val"]],
    }
    with open(cache, "wb") as file:
        pickle.dump(stale, file)
    assert load(tmp_path)["train"] == good["train"]
    assert "is stale" in capsys.readouterr().out
    assert read_cache(cache)["train"] == good["train"]


@requires_dassl
def test_cached_picks_outside_the_dataset_are_stale(tmp_path, capsys):
    dataset(tmp_path)
    good = load(tmp_path)
    cache = cache_path(str(tmp_path / "BTMRI" / "split_fewshot"), 2, 1)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"")
    from dassl.data.datasets import Datum

    first = good["train"][0]
    stale = {"train": [Datum(str(outside), first.label, 0, first.classname)], "val": []}
    with open(cache, "wb") as file:
        pickle.dump(stale, file)
    assert load(tmp_path)["train"] == good["train"]
    assert f"pick {outside}" in capsys.readouterr().out


@requires_dassl
@pytest.mark.parametrize(
    "damage", [b"", b"\x80\x05garbage", pickle.dumps([1, 2]), pickle.dumps({"train": 1})]
)
def test_a_corrupt_few_shot_cache_is_drawn_again(tmp_path, capsys, damage):
    dataset(tmp_path)
    good = load(tmp_path)
    cache = cache_path(str(tmp_path / "BTMRI" / "split_fewshot"), 2, 1)
    with open(cache, "wb") as file:
        file.write(damage)
    assert load(tmp_path)["train"] == good["train"]
    assert f"few-shot cache {cache} is unreadable" in capsys.readouterr().out
    assert read_cache(cache)["train"] == good["train"]


@requires_dassl
@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_the_few_shot_cache_is_written_with_the_umask(tmp_path, mask):
    dataset(tmp_path)
    old = os.umask(mask)
    try:
        load(tmp_path)
    finally:
        os.umask(old)
    mode = os.stat(cache_path(str(tmp_path / "BTMRI" / "split_fewshot"), 2, 1)).st_mode & 0o777
    assert mode == 0o666 & ~mask


def test_num_shots_above_a_class_size_warns_with_the_numbers_used(tmp_path):
    split_file, split = dataset(tmp_path)
    split["train"] = [
        entry for entry in split["train"] if entry[1] != 2 or entry[0].endswith(("_0.png", "_1.png"))
    ]
    rewrite(split_file, split)
    with pytest.warns(UserWarning, match=r"NUM_SHOTS 4 .*\('pituitary tumor': 2\)"):
        items = load(tmp_path, shots=4, use_cache=False)
    assert sorted(item.label for item in items["train"]) == [0] * 4 + [1] * 4 + [2] * 2 + [3] * 4


def test_a_data_root_one_level_too_deep_says_to_point_at_the_parent(tmp_path):
    dataset(tmp_path)
    with pytest.raises(DatasetError, match=rf"Point DATA .* at its parent, {re.escape(str(tmp_path))}$"):
        load_items(str(tmp_path / "BTMRI"), "BTMRI")


def test_a_missing_image_is_named_with_what_to_do(tmp_path):
    with pytest.raises(ImageReadError, match=rf"image {re.escape(str(tmp_path))}/gone\.png does not exist"):
        load_rgb(str(tmp_path / "gone.png"))


def test_write_split_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    split_file, _ = dataset(tmp_path)
    image_dir = str(tmp_path / "BTMRI" / "BTMRI")
    with open(split_file) as file:
        before = file.read()
    split = read_split(split_file, image_dir)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("datasets.atomic.json.dump", broken)
    with pytest.raises(OSError, match="disk full"):
        write_split(split, split_file, image_dir)
    with open(split_file) as file:
        assert file.read() == before
    assert sorted(os.listdir(tmp_path / "BTMRI")) == ["BTMRI", "split_BTMRI.json"]


def test_concurrent_atomic_writers_use_distinct_temporary_files(tmp_path):
    path = tmp_path / "metrics.json"
    with atomic_write(path) as first, atomic_write(path) as second:
        assert first.name != second.name
        first.write("1")
        second.write("2")
    assert path.read_text() == "1"  # the last to finish wins, whole
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]
