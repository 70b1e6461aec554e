"""BiomedCoOp's four backbones in the sweep grids and in tools.results: one table per backbone, its order."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_bash
from tools import results
from tools.sweep_grid import load_grids
from trainers.methods import BY_NAME

BIOMEDCOOP_BACKBONES = ["ViT-B/16", "PubMedCLIP", "PMC-CLIP", "BiomedCLIP"]


def test_the_backbones_grid_runs_every_method_on_biomedcoops_four_backbones():
    grid = load_grids()["backbones"]
    assert list(grid.backbones) == BIOMEDCOOP_BACKBONES
    assert set(grid.methods) == set(BY_NAME) and len(grid.methods) == 17
    assert list(grid.shots) == [1, 2, 4, 8, 16] and grid.protocol == "few_shot"


def test_results_order_is_the_backbone_tags_in_biomedcoops_order():
    script = "source scripts/common.sh >/dev/null; " + "; ".join(
        f'backbone_tag "{name}"' for name in BIOMEDCOOP_BACKBONES
    )
    tags = run_bash(["-c", script], check=True).stdout.split()
    assert tuple(tags) == results.BIOMEDCOOP_BACKBONES == ("vit_b16", "pubmedclip", "pmcclip", "biomedclip")


def test_one_shots_table_per_backbone_in_biomedcoops_order(tmp_path: Path, capsys) -> None:
    accuracy = {"rn50": 40.0, "biomedclip": 70.0, "pmcclip": 60.0, "pubmedclip": 55.0, "vit_b16": 50.0}
    for backbone, value in accuracy.items():
        for shots in (1, 16):
            folder = tmp_path / "btmri" / f"shots_{shots}" / "CoOp" / backbone / "seed1"
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps({"accuracy": value + shots}))
    assert results.main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    titles = [f"Accuracy (%) vs shots with {tag} (mean over" for tag in accuracy]
    positions = {tag: text.index(title) for tag, title in zip(accuracy, titles, strict=True)}
    assert sorted(positions, key=positions.get) == ["vit_b16", "pubmedclip", "pmcclip", "biomedclip", "rn50"]
    pmcclip = text[positions["pmcclip"] : positions["biomedclip"]]
    assert "| CoOp | **61.0** | **76.0** |" in pmcclip
