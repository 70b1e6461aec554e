"""What the benchmark's images can show: the visibility standard, its check, and the reviewed curated set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from attributes.check import main as check_main
from attributes.files import check_attributes, load_attributes
from attributes.generate import build_messages, reply_check
from attributes.visibility import VISIBLE, visibility_issue, visibility_note
from tests.conftest import REPO

CURATED = REPO / "attributes" / "curated"
# The eleven biomedical datasets, written out here rather than read from the catalog.
BIOMEDICAL = {
    "btmri", "busi", "chmnist", "covid", "ctkidney", "dermamnist", "kneexray", "kvasir", "lungcolon",
    "octmnist", "retina",
}  # fmt: skip


def sentences(dataset: str, classname: str | None = None) -> list[str]:
    texts = []
    for kind in ("des", "dist", "confuse"):
        data = json.loads((CURATED / f"{dataset}_{kind}.json").read_text())
        texts += [t for name, values in data.items() if classname in (None, name) for t in values]
    return texts


def test_every_biomedical_dataset_has_its_standard():
    assert set(VISIBLE) == BIOMEDICAL
    assert "150×150-pixel H&E tile" in visibility_note("chmnist")
    assert "nucleoli" in visibility_note("lungcolon") and "224×224" in visibility_note("lungcolon")


@pytest.mark.parametrize(
    "sentence",
    [
        "Prominent nucleoli in enlarged nuclei",
        "Frequent mitoses along the gland",
        "Signal close to grey matter on both T1 and T2 images.",
        "Tiny red dots of microaneurysms near the macula",
        "Reduced striations of the nerve fibre layer",
        "A stone of 4 mm in the lower calyx.",
        "A lesion larger than 2 centimetres",
        "A patient's history of smoking",
        "Grey and white matter contrast on every sequence.",
    ],
)
def test_claims_the_images_cannot_show_are_named(sentence: str):
    assert visibility_issue(sentence) is not None


@pytest.mark.parametrize(
    "sentence",
    ["Crowded dark nuclei in thick purple bands", "A T2-bright region in the white matter", "A small stone"],
)
def test_visible_findings_pass(sentence: str):
    assert visibility_issue(sentence) is None


def test_the_checker_counts_invisible_sentences_and_the_trainer_only_warns(tmp_path: Path, capsys):
    data = json.loads((CURATED / "retina_des.json").read_text())
    data["glaucoma"][0] = "Reduced visible striations of the nerve fibre layer"
    (tmp_path / "retina_des.json").write_text(json.dumps(data))
    problems = check_attributes(data, list(data), dataset="retina", kind="des", file=tmp_path / "x.json")
    assert [p.issue for p in problems] == ["invisible"]
    with pytest.warns(UserWarning, match="nerve fibre"):
        loaded = load_attributes(str(tmp_path), "retina", "des", list(data))
    assert loaded["glaucoma"][0].startswith("Reduced visible striations")
    for kind in ("dist", "confuse"):
        (tmp_path / f"retina_{kind}.json").write_text((CURATED / f"retina_{kind}.json").read_text())
    assert check_main(["--set", str(tmp_path), "--dataset", "retina"]) == 1
    out = capsys.readouterr().out
    header = out.splitlines()[2].split()
    row = next(line.split() for line in out.splitlines() if line.startswith("retina") and " des " in line)
    assert dict(zip(header, row, strict=True))["vis"] == "1"
    assert "--guide" in out


def test_the_generator_asks_for_what_is_visible_and_drops_the_rest():
    prompt = build_messages("lungcolon", "lung adenocarcinoma", "des", 5)[-1]["content"]
    assert visibility_note("lungcolon") in prompt
    check = reply_check("lungcolon", "lung adenocarcinoma", "des")
    assert "cannot show" in check("Enlarged nuclei with prominent nucleoli in the gland lining")
    assert check("Rounded glands lined by crowded cells in pink fibrous stroma") is None


# The review of issue 23: each corrected claim stays out of the curated set.
def test_lung_opacity_is_not_drawn_as_one_sided():
    one_sided = re.compile(r"\b(?:unilateral|confined to one|one side of the chest|of one lung)\b", re.I)
    assert [t for t in sentences("covid", "lung opacity lungs") if one_sided.search(t)] == []
    assert not any(one_sided.search(t) for t in json.loads((CURATED / "covid_confuse.json").read_text())
                   ["covid lungs"])  # fmt: skip


def test_knee_grades_rest_on_what_the_crop_shows():
    texts = sentences("kneexray")
    assert [t for t in texts if re.search(r"\b(?:axis|varus|valgus|cysts?)\b", t, re.I)] == []
    confuse = json.loads((CURATED / "kneexray_confuse.json").read_text())
    grades = ["healthy", "doubtful", "minimal", "moderate", "severe"]
    for name, texts in confuse.items():
        own = next(g for g, label in enumerate(grades) if name.startswith(label))
        far = [t for t in texts if any(abs(g - own) >= 3 and grades[g] in t.lower() for g in range(5))]
        assert len(far) <= 1, (name, far)


def test_single_findings_are_not_presented_as_signatures():
    assert not any("hobnail" in t.lower() for t in sentences("lungcolon"))
    assert not any("spoke-wheel" in t for t in sentences("btmri"))
    assert not any(
        "deep" in t.lower() for t in sentences("kvasir", "ulcerative colitis") if "ulcer" in t.lower()
    )
    assert not any("hair" in t.lower() for t in sentences("dermamnist", "melanocytic nevus"))
