"""Tests of attribute file loading, validation and the `attributes.check` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attributes import check
from attributes.files import (
    CURATED_MIN_COUNTS,
    DATASETS,
    KINDS,
    SETS_ROOT,
    AttributeSetError,
    attribute_file,
    check_attributes,
    direction_issue,
    load_attributes,
    normalize_key,
    read_attribute_file,
    resolve_set_dir,
)

BTMRI = DATASETS["btmri"].classnames


def sentences(classname: str, count: int = 3) -> list[str]:
    return [f"A brain MRI of {classname} showing visual cue number {i}." for i in range(count)]


def valid_data(classnames=BTMRI, count: int = 3) -> dict[str, list[str]]:
    return {name: sentences(name, count) for name in classnames}


def confuse_data(count: int = 3) -> dict[str, list[str]]:
    """Confusion-aware sentences: under each class, the next class's look."""
    return {name: sentences(other, count) for name, other in zip(BTMRI, (*BTMRI[1:], BTMRI[0]), strict=True)}


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def problems_of(data: dict, tmp_path: Path, min_count: int = 1):
    return check_attributes(
        data,
        BTMRI,
        dataset="btmri",
        kind="des",
        file=tmp_path / "btmri_des.json",
        min_count=min_count,
    )


def test_valid_set_loads(tmp_path: Path) -> None:
    write(tmp_path, "btmri_des.json", {name: [f"  {sentences(name)[0]} "] for name in BTMRI})
    loaded = load_attributes(str(tmp_path), "BTMRI", "des", list(BTMRI))
    assert list(loaded) == list(BTMRI)
    assert loaded["glioma tumor"] == [sentences("glioma tumor")[0]]
    assert problems_of(valid_data(), tmp_path) == []


def test_normalize_key() -> None:
    assert normalize_key("  Glioma_Tumor ") == "glioma tumor"
    assert normalize_key("normal   OCT\tscan") == "normal oct scan"


def test_missing_class_names_class_file_and_keys(tmp_path: Path) -> None:
    data = valid_data()
    del data["normal brain"]
    write(tmp_path, "btmri_des.json", data)
    (problem,) = problems_of(data, tmp_path)
    assert problem.issue == "missing"
    text = str(problem)
    assert "normal brain" in text and "btmri_des.json" in text
    assert "glioma tumor" in text and "pituitary tumor" in text
    with pytest.raises(AttributeSetError, match="normal brain"):
        load_attributes(str(tmp_path), "btmri", "des", BTMRI)


@pytest.mark.parametrize(
    ("bad", "issue"),
    [
        ([], "empty"),
        (["A glioma with a ring-enhancing irregular margin."] * 2, "duplicate"),
        (["glioma " * 80], "long"),
        (["dark spot"], "short"),
    ],
)
def test_sentence_problems(tmp_path: Path, bad: list[str], issue: str) -> None:
    data = valid_data() | {"glioma tumor": bad}
    problems = problems_of(data, tmp_path)
    assert [p.issue for p in problems] == [issue]
    assert problems[0].classname == "glioma tumor"


def test_too_few_sentences(tmp_path: Path) -> None:
    problems = problems_of(valid_data(count=2), tmp_path, min_count=3)
    assert {p.issue for p in problems} == {"few"} and len(problems) == len(BTMRI)


def test_key_normalization(tmp_path: Path) -> None:
    data = valid_data()
    data["Glioma_Tumor"] = data.pop("glioma tumor")
    assert problems_of(data, tmp_path) == []
    data["gliomas"] = data.pop("Glioma_Tumor")
    problems = problems_of(data, tmp_path)
    assert sorted(p.issue for p in problems) == ["missing", "unknown_key"]
    assert any("gliomas" in str(p) for p in problems)


def test_alias_file_name(tmp_path: Path) -> None:
    covid = DATASETS["covid"].classnames
    path = write(tmp_path, "covid_19_des.json", valid_data(covid))
    assert attribute_file(tmp_path, "covid", "des") == path
    assert list(load_attributes(str(tmp_path), "covid", "des", covid)) == list(covid)


def test_missing_file_lists_paths_tried(tmp_path: Path) -> None:
    with pytest.raises(AttributeSetError) as err:
        attribute_file(tmp_path, "covid", "dist")
    message = str(err.value)
    assert str(tmp_path / "covid_dist.json") in message
    assert str(tmp_path / "covid_19_dist.json") in message
    assert "python -m attributes.generate" in message


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"glioma tumor": "one sentence"}', "list of sentences"),
        ('{"glioma tumor": ["fine sentence here", 3]}', "must be a string"),
    ],
)
def test_read_errors_name_the_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "btmri_des.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AttributeSetError, match=match) as err:
        read_attribute_file(path)
    assert str(path) in str(err.value)


def test_resolve_set_dir(tmp_path: Path) -> None:
    assert resolve_set_dir("curated") == SETS_ROOT / "curated"
    assert resolve_set_dir(str(tmp_path)) == tmp_path
    with pytest.raises(AttributeSetError, match=r"available sets: .*curated"):
        resolve_set_dir("no_such_set")
    with pytest.raises(AttributeSetError):
        resolve_set_dir(str(tmp_path / "absent"))


def write_full_set(folder: Path, count: int = 3) -> None:
    for kind in KINDS:
        data = confuse_data(count) if kind == "confuse" else valid_data(count=count)
        write(folder, f"btmri_{kind}.json", data)


def test_check_cli_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_full_set(tmp_path)
    assert check.main(["--set", str(tmp_path), "--dataset", "btmri"]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("btmri")]
    assert [row[:5] for row in rows] == [["btmri", kind, "4/4", "3", "3"] for kind in KINDS]


def test_check_cli_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_full_set(tmp_path)
    (tmp_path / "btmri_confuse.json").unlink()
    write(tmp_path, "btmri_dist.json", valid_data() | {"gliomas": ["x" * 30]})
    argv = ["--set", str(tmp_path), "--dataset", "btmri", "--min-count", "des=4"]
    assert check.main(argv) == 1
    out = capsys.readouterr().out
    assert "btmri_confuse.json" in out  # missing file reported, not raised
    assert "unknown key 'gliomas'" in out
    assert "3 sentences, at least 4 required" in out
    rows = {row[1]: row for row in map(str.split, out.splitlines()) if row[:1] == ["btmri"]}
    assert rows["dist"][-1] == "1"  # unknown keys column
    assert rows["confuse"][2] == "0/4"


CTKIDNEY = DATASETS["ctkidney"].classnames
TODAYS = "A cystic kidney tumor with thin septa that looks like a simple cyst."
FIG7 = "A well-defined, fluid-filled lesion with a thin smooth wall."


def test_direction_check_flags_look_alike_and_passes_paper_example(tmp_path: Path) -> None:
    data = {name: [FIG7] for name in CTKIDNEY} | {"cyst kidney": [TODAYS]}
    path = tmp_path / "ctkidney_confuse.json"
    problems = check_attributes(data, CTKIDNEY, dataset="ctkidney", kind="confuse", file=path)
    assert [(p.issue, p.classname) for p in problems] == [("direction", "cyst kidney")]
    text = str(problems[0])
    assert str(path) in text and "'cyst kidney'" in text and TODAYS in text and "'looks like'" in text
    des = check_attributes(data, CTKIDNEY, dataset="ctkidney", kind="des", file=path)
    assert des == []  # positive sets describe their own class


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("A low-grade glioma with smooth margins that mimics a meningioma.", "'mimics'"),
        ("A glioma mimicking an extra-axial mass on a single slice.", "'mimicking'"),
        ("A pituitary adenoma resembling a skull base mass.", "'resembling'"),
        ("Bright dural folds that are easily mistaken for a dural-based mass.", "'mistaken for'"),
        ("A falcine mass that can pass for a butterfly-shaped lesion.", "'pass for'"),
        ("A sellar mass imitating a suprasellar lesion.", "'imitating'"),
        ("A cystic glioma simulating a well-circumscribed mass.", "'simulating'"),
        (
            "An enhancing extra-axial mass that looks just like a meningioma tumor.",
            "'like a meningioma tumor'",
        ),
        ("A smooth extra-axial mass, unlike an infiltrative intra-axial one.", "'unlike'"),
        ("A round sellar mass rather than an infiltrative one.", "'rather than'"),
        ("A sellar mass instead of a cortical lesion.", "'instead of'"),
        ("A typical Meningioma_Tumor on a contrast-enhanced slice.", "names its own class"),
        ("Several meningioma tumors along the falx.", "names its own class"),
    ],
)
def test_direction_issue_flags(sentence: str, reason: str) -> None:
    issue = direction_issue(sentence, "meningioma tumor", BTMRI)
    assert issue is not None and reason in issue


@pytest.mark.parametrize(
    "sentence",
    [
        "An infiltrative, ill-defined intra-axial mass with heterogeneous enhancement and edema.",
        "A glioma tumor spreading across the corpus callosum in a butterfly pattern.",
        "A round sellar mass of a pituitary tumor lifting the optic chiasm.",
        "A glioma tumor beside a meningioma tumor on the same slice.",
    ],
)
def test_direction_issue_passes_confuser_descriptions(sentence: str) -> None:
    assert direction_issue(sentence, "meningioma tumor", BTMRI) is None


def test_loading_a_wrong_way_confuse_file_warns(tmp_path: Path) -> None:
    write(tmp_path, "ctkidney_confuse.json", {name: [FIG7] for name in CTKIDNEY} | {"cyst kidney": [TODAYS]})
    with pytest.warns(UserWarning, match="ctkidney_confuse.json") as record:
        loaded = load_attributes(str(tmp_path), "ctkidney", "confuse", CTKIDNEY)
    assert TODAYS in str(record[0].message) and loaded["cyst kidney"] == [TODAYS]


def test_check_cli_bad_min_count(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        check.main(["--set", str(tmp_path), "--min-count", "des=zero"])


def test_curated_set_is_complete(capsys: pytest.CaptureFixture[str]) -> None:
    """The curated set ships with the repository: a missing file fails here, it is never skipped."""
    rc = check.main(["--set", "curated"])
    out = capsys.readouterr().out
    assert rc == 0, f"curated set fails with minimums {CURATED_MIN_COUNTS}:\n{out}"


def test_class_names_with_punctuation_are_matched_as_written_in_sentences() -> None:
    flowers = ["rose", "desert-rose", "colt's foot", "black-eyed susan"]
    assert (
        direction_issue("A desert-rose with a swollen grey trunk and pink trumpets.", "rose", flowers) is None
    )
    own = direction_issue("A black-eyed susan with a dark cone.", "black-eyed susan", flowers)
    assert own == "names its own class and no other class"
    assert direction_issue("Colt's foot: yellow rayed heads on scaly stems.", "rose", flowers) is None


def test_an_over_long_sentence_is_quoted_by_its_first_80_characters(tmp_path: Path) -> None:
    long = "A glioma tumor" + " with a ring-enhancing irregular margin" * 20
    (problem,) = problems_of(valid_data() | {"glioma tumor": [long]}, tmp_path)
    assert problem.issue == "long"
    assert f"{long[:80]!r}... ({len(long)} characters)" in problem.message
    assert long[:81] not in problem.message
