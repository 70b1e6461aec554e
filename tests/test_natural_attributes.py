"""Attribute sets of the natural-image datasets: the checker's class lists and minimums come from the
catalog, a missing file fails in every domain, and the published natural files are fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attributes import check
from attributes.fetch import main as fetch_main
from attributes.files import SETS_ROOT, load_attributes
from datasets.catalog import CATALOG, NATURAL, in_domain
from tests.conftest import local_http_server
from tests.test_attribute_fetch import serve

KINDS = ("des", "dist", "confuse")


def fixture_sentences(dataset: str, kind: str, count: int) -> dict[str, list[str]]:
    """``count`` distinct sentences per class of a dataset; confuse ones name the next class."""
    names = CATALOG[dataset].classnames
    data = {}
    for index, name in enumerate(names):
        other = names[(index + 1) % len(names)].replace("_", " ")
        if kind == "confuse":
            data[name] = [f"A {other} seen with its own trait number {k}." for k in range(count)]
        else:
            data[name] = [
                f"A {name.replace('_', ' ')} showing {kind} trait number {k}." for k in range(count)
            ]
    return data


def write_fixture_set(folder: Path, dataset: str, count: int, kinds: tuple[str, ...] = KINDS) -> Path:
    """A small attribute set for one dataset, written by the test (never the curated files)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        (folder / f"{dataset}_{kind}.json").write_text(json.dumps(fixture_sentences(dataset, kind, count)))
    return folder


@pytest.fixture
def curated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in of attributes/curated, which the checker treats as the curated set."""
    monkeypatch.setattr(check, "SETS_ROOT", tmp_path)
    (tmp_path / "curated").mkdir()
    return tmp_path / "curated"


def run_check(folder: Path, *datasets: str) -> int:
    return check.main(["--set", str(folder), "--dataset", *datasets])


def test_natural_sets_of_the_curated_set_need_six_sentences_per_kind(curated, capsys):
    write_fixture_set(curated, "oxford_pets", 5)
    assert run_check(curated, "oxford_pets") == 1
    out = capsys.readouterr().out
    assert "class 'abyssinian': 5 sentences, at least 6 required" in out
    assert "des=6, dist=6, confuse=6" in out
    write_fixture_set(curated, "oxford_pets", 6)
    assert run_check(curated, "oxford_pets") == 0


def test_a_missing_file_fails_in_every_domain(curated, capsys):
    assert run_check(curated, "eurosat") == 1
    assert "no 'des' attribute file for dataset 'eurosat'" in capsys.readouterr().out
    assert run_check(curated, "busi") == 1
    assert "no 'des' attribute file for dataset 'busi'" in capsys.readouterr().out


def test_present_natural_files_are_checked_against_the_catalogs_classes(curated, capsys):
    write_fixture_set(curated, "eurosat", 6)
    data = json.loads((curated / "eurosat_des.json").read_text())
    data["Sea_or_Lake"] = data.pop("Sea or Lake")  # keys match with `_` as a space, any case
    data["Glacier"] = ["A white glacier tongue between dark rock walls."]
    (curated / "eurosat_des.json").write_text(json.dumps(data))
    assert run_check(curated, "eurosat") == 1
    out = capsys.readouterr().out
    assert "\n1 problem(s)" in out and "unknown key 'Glacier'" in out  # Sea_or_Lake matched its class


def test_a_confuse_sentence_naming_only_its_own_class_fails_the_direction_check(curated, capsys):
    write_fixture_set(curated, "dtd", 6)
    data = json.loads((curated / "dtd_confuse.json").read_text())
    data["banded"][0] = "Banded texture with its wide parallel stripes of colour."
    (curated / "dtd_confuse.json").write_text(json.dumps(data))
    assert run_check(curated, "dtd") == 1
    assert "names its own class and no other class" in capsys.readouterr().out


def test_fetch_published_takes_the_natural_files_and_names_those_without_confuse(tmp_path, capsys):
    folder = "/attributes/gpt3/gpt3"
    files = {
        f"{folder}/dtd_{kind}.json": json.dumps(fixture_sentences("dtd", kind, 5)).encode() for kind in KINDS
    }
    files[f"{folder}/caltech101_confuse.json"] = json.dumps(
        fixture_sentences("caltech101", "confuse", 5)
    ).encode()
    for kind in ("des", "dist"):
        files[f"{folder}/caltech101_{kind}.json"] = json.dumps(
            fixture_sentences("caltech101", kind, 5)
        ).encode()
    del files[f"{folder}/dtd_confuse.json"]
    requested: list[str] = []
    with local_http_server(serve(files, requested)) as url:
        argv = ["published", "--root", str(tmp_path), "--base-url", url, "--dataset", "dtd", "caltech101"]
        assert fetch_main(argv) == 0
    saved = sorted(path.name for path in (tmp_path / "published").iterdir())
    caltech = ["caltech101_confuse.json", "caltech101_des.json", "caltech101_dist.json"]
    assert saved == [*caltech, "dtd_des.json", "dtd_dist.json"]
    out = capsys.readouterr().out
    assert "No confusion-aware file is published for dtd:" in out and "MISSING_CONFUSE zero" in out


def test_fetch_published_still_fails_on_a_missing_biomedical_confuse_file(tmp_path, capsys):
    files = {
        f"/attributes/gpt3/gpt3/busi_{kind}.json": json.dumps(fixture_sentences("busi", kind, 5)).encode()
        for kind in ("des", "dist")
    }
    with local_http_server(serve(files, [])) as url:
        assert fetch_main(["published", "--root", str(tmp_path), "--base-url", url, "--dataset", "busi"]) == 1
    assert "busi_confuse.json: HTTP 404" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", [entry.config_name for entry in in_domain(NATURAL)])
def test_curated_natural_sets_load_for_every_class_and_share_no_sentence(dataset):
    """Checked when a dataset's curated files exist (they are being written dataset by dataset)."""
    folder = SETS_ROOT / "curated"
    if not all((folder / f"{dataset}_{kind}.json").is_file() for kind in KINDS):
        pytest.skip(f"the curated {dataset} files are not written yet")
    classnames = CATALOG[dataset].classnames
    owners: dict[str, set[str]] = {}
    for kind in KINDS:
        by_class = load_attributes("curated", dataset, kind, classnames)
        assert list(by_class) == list(classnames)
        assert min(len(sentences) for sentences in by_class.values()) >= CATALOG[dataset].min_sentences[kind]
        for classname, sentences in by_class.items():
            for sentence in sentences:
                owners.setdefault(sentence.casefold(), set()).add(classname)
    shared = {sentence: sorted(names) for sentence, names in owners.items() if len(names) > 1}
    assert not shared, f"sentences under several classes of {dataset}: {shared}"
