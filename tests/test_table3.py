"""Table 3 by one command: the planned jobs, a tiny end-to-end sweep on a synthetic natural dataset,
CoOp's template for zero-shot CLIP, and BioMedVR without a confusion-aware file (MISSING_CONFUSE)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import TINY_BACKBONE, requires_dassl, run_bash
from tests.test_natural_attributes import write_fixture_set
from tools import sweep
from tools.synthetic_data import make_dataset

BIOMEDICAL_REST = ["busi", "chmnist", "covid", "ctkidney", "dermamnist", "kneexray", "kvasir"]
BIOMEDICAL_REST += ["lungcolon", "octmnist", "retina"]
NATURAL = ["ucf101", "caltech101", "food101", "dtd", "eurosat", "oxford_pets", "oxford_flowers"]
FEW_SHOT, ZERO_SHOT = ("AR", "VP", "AttrVR", "BioMedVR"), ("ZeroshotCLIP", "BioMedVR_ZS")
TINY_TAG = "biomedvr-test-tiny"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("data")
    make_dataset(str(root), "eurosat", counts=(2, 1, 2), size=(24, 24))
    return str(root)


@pytest.fixture(scope="module")
def attribute_set(tmp_path_factory) -> Path:
    return write_fixture_set(tmp_path_factory.mktemp("attrs") / "set", "eurosat", 6)


def test_reproduce_table3_dry_run_plans_exactly_the_papers_rows(tmp_path):
    env = {**os.environ, "DATA": str(tmp_path / "data"), "OUTPUT": str(tmp_path / "out")}
    result = run_bash(["scripts/reproduce_table3.sh", "--dry-run"], env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    planned = {line.split()[-1] for line in result.stdout.splitlines() if line.startswith("  to run  ")}
    expected = {
        f"{dataset}/shots_16/{method}/vit_b16/seed{seed}"
        for dataset in NATURAL
        for method in FEW_SHOT
        for seed in (1, 2, 3)
    } | {f"{dataset}/shots_0/{method}/vit_b16/seed1" for dataset in NATURAL for method in ZERO_SHOT}
    assert planned == expected
    assert "98 jobs: 98 to run" in result.stdout


@requires_dassl
def test_a_tiny_table3_sweep_on_a_synthetic_natural_dataset_prints_table_3(
    data_root, attribute_set, tmp_path, capsys
):
    output = tmp_path / "output"
    argv = [
        "--grid", "table3", "--methods", "ZeroshotCLIP", "BioMedVR_ZS", "AR", "BioMedVR",
        "--datasets", "eurosat", "--shots", "2", "--seeds", "1",
        "--backbones", TINY_BACKBONE, "--data", data_root, "--output", str(output), "--executor", "debug",
        "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0",
        "TRAINER.BIOMEDVR.ATTRIBUTE_SET", str(attribute_set),
    ]  # fmt: skip
    assert sweep.main(argv) == 0
    out = capsys.readouterr().out
    table = out.split("### Table 3: natural-image accuracy (%)", 1)[1].split("###", 1)[0]
    assert "| Method | UCF101 | Caltech101 | Food101 | DTD | EuroSAT | Pets | Flowers | Avg. |" in table
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row[1].strip() for row in rows] == [
        "Method",
        "AR",
        "BioMedVR",
        "CLIP (zero-shot)",
        "BioMedVR (ZS)",
    ]
    assert all(row[6].strip() not in ("", "–") for row in rows[1:])  # the EuroSAT cells hold results
    table1 = out.split("### Table 1", 1)[1].split("###", 1)[0]
    assert "EuroSAT" not in table1  # Table 1 keeps the biomedical datasets
    assert (output / "eurosat" / "shots_0" / "ZeroshotCLIP" / TINY_TAG / "seed1" / "metrics.json").is_file()


def test_table3_has_the_papers_rows_in_order_and_only_the_natural_datasets():
    from tools import results

    def run(dataset: str, method: str, shots: int, accuracy: float) -> results.Run:
        path = Path("/out", dataset, f"shots_{shots}", method, "vit_b16", "seed1")
        return results.Run(path, dataset, shots, method, "vit_b16", 1, metrics={"accuracy": accuracy})

    methods = [("BioMedVR_ZS", 0), ("CoOp", 16), ("BioMedVR", 16), ("ZeroshotCLIP", 0)]
    methods += [("AttrVR", 16), ("VP", 16), ("AR", 16)]
    runs = [run("dtd", method, shots, 50.0 + i) for i, (method, shots) in enumerate(methods)]
    runs += [run("oxford_pets", "AR", 16, 80.0), run("btmri", "AR", 16, 70.0), run("btmri", "VP", 16, 60.0)]
    table = results.table3(runs)
    expected = ["AR", "VP", "AttrVR", "BioMedVR", "CLIP (zero-shot)", "BioMedVR (ZS)", "CoOp"]
    assert list(table.rows) == expected
    assert table.columns == [*NATURAL, results.AVG]
    cells = {(str(row), column): entry.cell.mean for (row, column), entry in table.cells.items()}
    assert cells["AR", "dtd"] == 56.0 and cells["AR", "oxford_pets"] == 80.0 and cells["AR", "avg"] == 68.0
    assert cells["CLIP (zero-shot)", "dtd"] == 53.0 and cells["BioMedVR (ZS)", "dtd"] == 50.0
    assert "btmri" not in table.columns and results.table1(runs).columns == ["btmri", *BIOMEDICAL_REST, "avg"]


def build(data_root: str, out: Path, trainer: str, config: str, *overrides: str):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    config_files = [
        "--dataset-config-file", "configs/datasets/eurosat.yaml",
        "--config-file", f"configs/trainers/{trainer}/{config}.yaml",
    ]  # fmt: skip
    args = train_module.parse_args(
        [
            *("--root", data_root, "--seed", "1", "--output-dir", str(out), "--trainer", trainer),
            *config_files,
            *("MODEL.BACKBONE.NAME", TINY_BACKBONE, "DATALOADER.NUM_WORKERS", "0"),
            *overrides,
        ]
    )
    set_random_seed(1)
    return build_trainer(train_module.setup_cfg(args))


@requires_dassl
def test_zero_shot_clip_on_a_natural_dataset_uses_coops_template(data_root, tmp_path, monkeypatch):
    from trainers import frozen_clip

    used = []
    embed = frozen_clip.class_text_embeddings

    def spy(templates, *rest):
        used.append(list(templates))
        return embed(templates, *rest)

    monkeypatch.setattr(frozen_clip, "class_text_embeddings", spy)
    build(data_root, tmp_path / "zs", "ZeroshotCLIP", "zero_shot")
    assert used == [["a centered satellite photo of {}."]]
    build(data_root, tmp_path / "zs2", "ZeroshotCLIP", "zero_shot", "TRAINER.COMMON.TEMPLATES", "['a {}.']")
    assert used[-1] == ["a {}."]


@requires_dassl
def test_without_a_confuse_file_biomedvr_stops_unless_missing_confuse_is_zero(data_root, tmp_path, capsys):
    from attributes.files import AttributeSetError

    no_confuse = write_fixture_set(tmp_path / "set", "eurosat", 6, kinds=("des", "dist"))
    attrs = ("TRAINER.BIOMEDVR.ATTRIBUTE_SET", str(no_confuse), "DATASET.NUM_SHOTS", "2")
    with pytest.raises(
        AttributeSetError, match=r"no 'confuse' attribute file for dataset 'EuroSAT'.*eurosat_confuse"
    ):
        build(data_root, tmp_path / "a", "BioMedVR", "few_shot", *attrs)
    with pytest.raises(ValueError, match=r"TRAINER\.BIOMEDVR\.MISSING_CONFUSE must be one of"):
        build(
            data_root,
            tmp_path / "b",
            "BioMedVR",
            "few_shot",
            *attrs,
            "TRAINER.BIOMEDVR.MISSING_CONFUSE",
            "skip",
        )
    trainer = build(data_root, tmp_path / "c", "BioMedVR", "reference_code", *attrs)
    assert trainer.cfg.TRAINER.BIOMEDVR.MISSING_CONFUSE == "zero"  # the preset's
    assert trainer.model.negative_bank is None and trainer.gated  # two experts and the gate, s- = 0
    zero_shot = build(
        data_root,
        tmp_path / "d",
        "BioMedVR_ZS",
        "zero_shot",
        *attrs,
        "TRAINER.BIOMEDVR.MISSING_CONFUSE",
        "zero",
    )
    assert zero_shot.model.negative_bank is None
    assert capsys.readouterr().out.count("running without the negative pathway (s- = 0)") == 2
