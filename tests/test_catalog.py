"""The dataset catalog against the real split files and config files, and the datasets made from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from datasets.catalog import CATALOG, find_dataset, main
from datasets.layout import load_items
from tests.conftest import REPO, SHARED_SPLITS, requires_shared_splits
from tools import synthetic_data


def split_classes(split: dict) -> tuple[list[str], list[str]]:
    """Class names in label order and the class folders of a split file's train entries."""
    names: dict[int, str] = {}
    folders: dict[int, str] = {}
    for path, label, name in split["train"]:
        names.setdefault(label, name)
        folders.setdefault(label, path.split("/")[0])
    return [names[k] for k in sorted(names)], [folders[k] for k in sorted(folders)]


@requires_shared_splits
@pytest.mark.parametrize("entry", CATALOG.values(), ids=CATALOG)
def test_class_names_and_folders_equal_the_published_split(entry):
    split_file = SHARED_SPLITS / entry.folder / f"split_{entry.folder}.json"
    if not split_file.is_file():
        pytest.skip(f"no published split for {entry.folder} in shared/")
    names, folders = split_classes(json.loads(split_file.read_text()))
    assert names == list(entry.classnames)
    assert folders == list(entry.class_folders)


@pytest.mark.parametrize("entry", CATALOG.values(), ids=CATALOG)
def test_config_files_name_the_catalog_folder(entry):
    config = yaml.safe_load((REPO / "configs" / "datasets" / f"{entry.config_name}.yaml").read_text())
    assert config["DATASET"]["NAME"] == entry.folder


def test_every_config_file_is_in_the_catalog():
    assert sorted(p.stem for p in (REPO / "configs" / "datasets").glob("*.yaml")) == sorted(CATALOG)


@pytest.mark.parametrize("spelling", ["busi", "BUSI", "Busi"])
def test_synthetic_data_writes_each_datasets_own_classes_and_layout(tmp_path, spelling):
    assert synthetic_data.main(["--root", str(tmp_path), spelling, "--per-class", "2", "1", "1"]) == 0
    split = json.loads((tmp_path / "BUSI" / "split_BUSI.json").read_text())
    names, folders = split_classes(split)
    assert names == ["benign tumor", "malignant tumor", "normal scan"]
    assert sorted(p.name for p in (tmp_path / "BUSI" / "BUSI").iterdir()) == sorted(folders)
    items = load_items(str(tmp_path), "BUSI")
    assert {item.classname for item in items["test"]} == set(names)


def test_synthetic_data_refuses_an_unknown_name_listing_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        synthetic_data.main(["--root", "/nonexistent", "bsui"])
    err = capsys.readouterr().err
    assert "did you mean 'busi'" in err and "KneeXray (kneexray)" in err


@pytest.mark.parametrize(
    ("name", "folder"), [("covid", "COVID_19"), ("covid_19", "COVID_19"), ("KNEEXRAY", "KneeXray")]
)
def test_find_dataset_accepts_every_spelling(name, folder):
    assert find_dataset(name).folder == folder


def test_the_shell_query_prints_the_folder_or_explains(capsys):
    assert main(["folder", "ctkidney"]) == 0
    assert capsys.readouterr().out == "CTKidney\n"
    assert main(["folder", "kvasr"]) == 2
    assert "did you mean 'kvasir'" in capsys.readouterr().err
    result = subprocess.run(
        [sys.executable, "-m", "datasets.catalog", "names"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == list(CATALOG)
