"""PRESET=reference_code draws the attribute sentences the published BioMedVR code draws, file for file.

The reference below is written from the published code's structure (``tools.set_seed``,
``datasets/utils.py: generate_fewshot_dataset``, ``tools.clip_attr_classifier``), on the module-level
``random``, independently of ``trainers.attribute_bank``.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from attributes.fetch import ensure_fetched
from attributes.files import AttributeSetError
from datasets.catalog import CATALOG
from datasets.layout import fewshot_pools
from tests.conftest import REPO, TINY_BACKBONE, requires_dassl, run_train_py
from tools.synthetic_data import make_dataset
from trainers.attribute_bank import choose_attributes
from trainers.run_files import CHOSEN_ATTRIBUTES_FILE

CLASSES = CATALOG["btmri"].classnames
KINDS = ("des", "dist", "confuse")
NUM_ATTR = 20


def published_format_files(folder: Path) -> Path:
    """Five sentences per class, as the published files hold, with a short one, a repeat and a sentence
    whose raw length (20, leading space) passes the published filter only unstripped."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        data = {}
        for c, name in enumerate(CLASSES):
            texts = [f"{kind} sentence {i} about an image of class number {c}." for i in range(4)]
            texts.append("Tiny." if c % 2 else " nineteen chars here")
            if c == 1:
                texts.append(texts[0])
            data[name.replace(" ", "_")] = texts
        (folder / f"btmri_{kind}.json").write_text(json.dumps(data))
    return folder


def published_draw(folder: Path, seed: int, split_file: Path | None = None, shots: int = 0) -> dict:
    """The published call sequence: set_seed, (the few-shot picks when drawn,) des, dist, confuse."""
    state = random.getstate()
    try:
        random.seed(seed)
        if split_file is not None:
            split = json.loads(split_file.read_text())
            for pool, k in ((split["train"], shots), (split["val"], min(shots, 4))):
                tracker: dict[int, list] = defaultdict(list)
                for impath, label, classname in pool:
                    tracker[label].append((impath, label, classname))
                for items in tracker.values():
                    if len(items) >= k:
                        random.sample(items, k)
        drawn = {}
        for kind in KINDS:
            data = json.loads((folder / f"btmri_{kind}.json").read_text())
            drawn[kind] = []
            for name in CLASSES:
                filtered = [s for s in data[name.replace(" ", "_")] if len(s) >= 20]
                if len(filtered) > NUM_ATTR:
                    drawn[kind].append(random.sample(filtered, NUM_ATTR))
                else:
                    drawn[kind].append(random.choices(filtered, k=NUM_ATTR))
        return drawn
    finally:
        random.setstate(state)


def write_split(root: Path) -> Path:
    """A BTMRI split with unequal, interleaved classes (one smaller than the shots: no draw for it)."""
    counts = {"train": (7, 3, 9, 5), "val": (5, 2, 6, 4), "test": (1, 1, 1, 1)}
    split = {}
    for key, per_class in counts.items():
        entries = [
            [f"{name.replace(' ', '_')}/{key}_{k}.png", label, name]
            for k in range(max(per_class))
            for label, name in enumerate(CLASSES)
            if k < per_class[label]
        ]
        split[key] = entries
    folder = root / "BTMRI"
    folder.mkdir(parents=True)
    path = folder / "split_BTMRI.json"
    path.write_text(json.dumps(split))
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_draw_equals_the_published_call_sequence(tmp_path: Path, seed: int):
    folder = published_format_files(tmp_path / "published")
    ours = choose_attributes(str(folder), "BTMRI", KINDS, CLASSES, NUM_ATTR, "reference", seed)
    expected = published_draw(folder, seed)
    assert ours == expected
    assert " nineteen chars here" in ours["des"][0]  # kept unstripped, as the published filter sees it
    assert all("Tiny." not in texts for texts in ours["des"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_draw_after_the_few_shot_picks_equals_the_published_one(tmp_path: Path, seed: int):
    folder = published_format_files(tmp_path / "published")
    split_file = write_split(tmp_path / "data")
    picks = fewshot_pools(str(tmp_path / "data"), "BTMRI", 4)
    ours = choose_attributes(str(folder), "BTMRI", KINDS, CLASSES, NUM_ATTR, "reference", seed, picks)
    assert ours == published_draw(folder, seed, split_file, shots=4)
    assert ours != published_draw(folder, seed)  # the picks do move the stream


def test_seeds_draw_different_sentences(tmp_path: Path):
    folder = published_format_files(tmp_path / "published")
    one = choose_attributes(str(folder), "BTMRI", KINDS, CLASSES, NUM_ATTR, "reference", 1)
    two = choose_attributes(str(folder), "BTMRI", KINDS, CLASSES, NUM_ATTR, "reference", 2)
    assert one != two


def test_the_first_sentences_are_taken_by_default(tmp_path: Path):
    folder = published_format_files(tmp_path / "published")
    with pytest.raises(AttributeSetError, match=r"under 20 characters: 'Tiny\.'"):
        choose_attributes(str(folder), "BTMRI", KINDS, CLASSES, 3)
    curated = choose_attributes("curated", "BTMRI", ["des"], CLASSES, 3)
    first = json.loads((REPO / "attributes" / "curated" / "btmri_des.json").read_text())
    assert curated["des"] == [first[name][:3] for name in CLASSES]


def test_a_missing_published_set_names_the_files_to_provide(tmp_path: Path, monkeypatch):
    import attributes.fetch as fetch

    def offline(url: str) -> bytes:
        raise fetch.FetchError(f"{url}: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fetch, "fetch_url", offline)
    with pytest.raises(AttributeSetError) as error:
        ensure_fetched("published", "BTMRI", KINDS, root=tmp_path)
    message = str(error.value)
    assert "\n" not in message
    for kind in KINDS:
        assert str(tmp_path / "published" / f"btmri_{kind}.json") in message
    assert "python -m attributes.fetch published --dataset btmri" in message
    assert not (tmp_path / "published").exists() or not any((tmp_path / "published").iterdir())


def test_a_published_set_is_fetched_once_on_first_use(tmp_path: Path, monkeypatch):
    import attributes.fetch as fetch

    source = published_format_files(tmp_path / "remote")
    requested: list[str] = []

    def serve(url: str) -> bytes:
        requested.append(url)
        return (source / url.rsplit("/", 1)[1]).read_bytes()

    monkeypatch.setattr(fetch, "fetch_url", serve)
    ensure_fetched("published", "BTMRI", KINDS, root=tmp_path)
    assert [url.rsplit("/", 1)[1] for url in requested] == [f"btmri_{kind}.json" for kind in KINDS]
    ensure_fetched("published", "BTMRI", KINDS, root=tmp_path)
    assert len(requested) == 3  # cached: no second download
    ensure_fetched("curated", "BTMRI", KINDS, root=tmp_path)
    assert len(requested) == 3  # our own sets are never fetched


@pytest.mark.parametrize(
    ("method", "attribute_set"), [("BioMedVR", "published"), ("AttrVR", "published_attrvr"), ("AR", None)]
)
def test_the_preset_uses_the_published_files_and_no_grad_scaler(method: str, attribute_set: str | None):
    preset = yaml.safe_load((REPO / "configs" / "trainers" / method / "reference_code.yaml").read_text())
    assert preset["TRAINER"]["COMMON"]["GRAD_SCALER"] is False
    assert preset["TRAINER"]["BIOMEDVR"]["PREC"] == "fp16"
    if attribute_set:
        assert preset["TRAINER"]["BIOMEDVR"]["ATTRIBUTE_SET"] == attribute_set
        assert preset["TRAINER"]["BIOMEDVR"]["ATTRIBUTE_SAMPLING"] == "reference"
    default = yaml.safe_load((REPO / "configs" / "trainers" / method / "few_shot.yaml").read_text())
    assert "GRAD_SCALER" not in str(default)


@pytest.mark.slow
@requires_dassl
def test_a_run_writes_the_sentences_it_drew(tmp_path: Path):
    root = tmp_path / "data"
    make_dataset(str(root), "BTMRI", counts=(6, 4, 2))
    folder = published_format_files(tmp_path / "published")
    out = tmp_path / "run"
    # fmt: off
    run_train_py(
        "--root", str(root), "--seed", "2", "--output-dir", str(out), "--trainer", "BioMedVR",
        "--dataset-config-file", "configs/datasets/btmri.yaml",
        "--config-file", "configs/trainers/BioMedVR/few_shot.yaml",
        "MODEL.BACKBONE.NAME", TINY_BACKBONE, "DATASET.NUM_SHOTS", "4", "DATALOADER.NUM_WORKERS", "0",
        "OPTIM.MAX_EPOCH", "1", "TRAINER.BIOMEDVR.ATTRIBUTE_SET", str(folder),
        "TRAINER.BIOMEDVR.ATTRIBUTE_SAMPLING", "reference", "TRAINER.BIOMEDVR.REFERENCE_PICKS_DRAWN", "True",
    )
    # fmt: on
    written = json.loads((out / CHOSEN_ATTRIBUTES_FILE).read_text())
    expected = published_draw(folder, 2, root / "BTMRI" / "split_BTMRI.json", shots=4)
    assert written["seed"] == 2 and written["sampling"] == "reference" and written["num_attr"] == NUM_ATTR
    assert written["kinds"] == {kind: dict(zip(CLASSES, expected[kind], strict=True)) for kind in KINDS}
