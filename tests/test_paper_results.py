"""The paper's numbers (transcription and --paper), Table 4 and Figure 5 from small generated output trees."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from datasets.catalog import BIOMEDICAL, NATURAL, in_domain
from tests.test_results_tools import run_dir, write_finished
from tools import figures, paper, results

# Averages the paper prints, as issue #23 quotes them: each must be in the transcription.
QUOTED_AVERAGES = {
    ("table1", "BioMedVR"): 76.4,
    ("table4", "BioMedVR (ViT-B/16)"): 76.4,
    ("table4", "w/o CA"): 71.4,
    ("table4", "BioMedVR (RN50)"): 51.6,
}


def one_decimal(value: float) -> str:
    return f"{value:.1f}"


# ----- the transcription ----------------------------------------------------------------------------
def test_every_transcribed_row_agrees_with_the_papers_own_average():
    blocks = paper.load_paper()
    checked = 0
    for block in blocks.values():
        for row in block.rows:
            if not row.cells:
                continue
            domain = NATURAL if block.name == "table3" else BIOMEDICAL  # Table 3: the natural-image datasets
            names = {entry.config_name for entry in in_domain(domain)}
            assert set(row.cells) == names, (block.name, row.label)
            mean = one_decimal(paper.mean_of_cells(row))
            if row.cells_mean is None:
                assert mean == one_decimal(row.avg), f"{block.name} {row.label}: cells average to {mean}"
            else:  # the paper's printed average is not its cells' mean: that mean is recorded instead
                assert mean == one_decimal(row.cells_mean) != one_decimal(row.avg), (block.name, row.label)
            checked += 1
    assert checked == 7  # Table 1's seven rows with per-dataset values


def test_the_averages_quoted_from_the_paper_are_transcribed():
    blocks = paper.load_paper()
    for (name, label), average in QUOTED_AVERAGES.items():
        (row,) = [row for row in blocks[name].rows if row.label == label]
        assert row.avg == average
    assert paper.paper_seconds_per_epoch() == 9.10


def test_a_malformed_paper_file_names_the_block_row_and_keys(tmp_path):
    bad = tmp_path / "numbers.yaml"
    bad.write_text(
        "table1:\n  caption: c\n  source: s\n  rows:\n    - {label: A, method: AR, avg: 1, colour: 2}\n"
    )
    with pytest.raises(paper.PaperFileError, match=r"table1, row 1: unknown keys \['colour'\]"):
        paper.load_paper(bad)


# ----- --paper --------------------------------------------------------------------------------------
def write_history_seconds(folder: Path, seconds: list[float]) -> None:
    lines = [
        json.dumps({"epoch": epoch + 1, "lr": 40.0, "seconds": value}) for epoch, value in enumerate(seconds)
    ]
    (folder / "history.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def paper_tree(tmp_path) -> Path:
    """BioMedVR on BUSI (80, 82, 84) and Knee X-ray (40 three times), with epoch times of seed 1."""
    root = tmp_path / "output"
    for dataset, accuracies in (("busi", (80.0, 82.0, 84.0)), ("kneexray", (40.0, 40.0, 40.0))):
        for seed, accuracy in enumerate(accuracies, start=1):
            write_finished(
                run_dir(root, dataset, 16, "BioMedVR", seed), "BioMedVR", dataset, 16, seed, accuracy
            )
    write_history_seconds(run_dir(root, "busi", 16, "BioMedVR", 1), [5.0, 1.0, 2.0, 3.0])
    return root


def test_paper_columns_show_ours_the_papers_and_the_delta_marking_cells_outside_the_tolerance(
    paper_tree, capsys
):
    assert results.main([str(paper_tree), "--paper"]) == 0
    out = capsys.readouterr().out
    beside = next(line for line in out.splitlines() if line.startswith("| BioMedVR |") and " / " in line)
    # BUSI: 82.0 ± 1.6 against 82.6, inside max(2, 2·1.63); Knee X-ray: 40.0 ± 0 against 45.7, outside 2.
    assert "82.0 / 82.6 / −0.6 |" in beside
    assert "40.0 / 45.7 / −5.7 ! |" in beside
    assert beside.endswith("61.0 / 76.4 / −15.4 ! |")  # Avg. of the two datasets against the printed 76.4
    assert "| CoOp | – / 79.2 / – | – / 62.3 / – |" in out  # a paper row without runs (BTMRI, BUSI)
    assert "| BioMedVR (ZS, CLIP) | – | – |" in out and out.count("– / 31.6 / – |") == 1  # an Avg. only
    assert "CoOp: the paper prints Avg. 63.6; the mean of its cells is 63.1" in out
    # Table 2's cost row: seed 1's median epoch of 1, 2, 3, 5 s is 2.5 s; 2.5 / 9.10 = 0.27.
    assert "| BioMedVR | 2.50 | 9.10 | 0.27× | 1,000 |" in out
    assert "issue #23" in out  # Table 4's source, whole


def test_paper_csv_section_has_the_delta_and_the_tolerance(paper_tree, capsys):
    assert results.main([str(paper_tree), "--paper", "--format", "csv"]) == 0
    section = capsys.readouterr().out.split("# paper: ")[1].split("\n\n")[0]
    rows = list(csv.DictReader(io.StringIO(section.split("\n", 1)[1])))
    busi = next(
        r for r in rows if r["paper_row"] == "BioMedVR" and r["dataset"] == "busi" and r["table"] == "table1"
    )
    assert float(busi["delta"]) == pytest.approx(-0.6) and busi["outside"] == "0"
    assert float(busi["tolerance"]) == pytest.approx(2 * (8 / 3) ** 0.5, abs=1e-4)  # 2 std over seeds
    knee = next(r for r in rows if r["paper_row"] == "BioMedVR" and r["dataset"] == "kneexray")
    assert float(knee["tolerance"]) == 2.0 and knee["outside"] == "1"


# ----- Table 4 and Figure 5 from variant folders ----------------------------------------------------
def write_variant(root: Path, variant: str, trainer: str, backbone: str, dataset: str, accuracies) -> None:
    for seed, accuracy in enumerate(accuracies, start=1):
        folder = run_dir(root / variant, dataset, 16, trainer, seed, backbone=backbone)
        write_finished(folder, trainer, dataset, 16, seed, accuracy)


def write_loss_config(
    root: Path, variant: str, dataset: str, beta: float, margin: float, accuracy: float
) -> None:
    folder = run_dir(root / variant, dataset, 16, "BioMedVR", 1)
    write_finished(folder, "BioMedVR", dataset, 16, 1, accuracy)
    (folder / "config.yaml").write_text(
        f"TRAINER:\n  BIOMEDVR:\n    CS_MARGIN: {margin}\n    CS_WEIGHT: {beta}\n    TOPK: 3\n"
    )


@pytest.fixture
def variant_tree(tmp_path) -> Path:
    root = tmp_path / "output"
    write_finished(run_dir(root, "busi", 16, "BioMedVR", 1), "BioMedVR", "busi", 16, 1, 50.0)  # Table 1's run
    write_variant(root, "full", "BioMedVR", "vit_b16", "busi", (80.0, 82.0))
    write_variant(root, "full", "BioMedVR", "vit_b16", "btmri", (70.0, 72.0))
    write_variant(root, "no_confusion_attributes", "BioMedVR", "vit_b16", "busi", (75.0,))
    write_variant(root, "backbones", "AttrVR", "rn50", "busi", (40.0,))
    write_variant(root, "backbones", "BioMedVR", "rn50", "busi", (45.0,))
    write_variant(root, "attributes_llm-gpt-4.1", "BioMedVR", "vit_b16", "busi", (78.0,))
    for beta, margin, busi, btmri in ((0.1, 0.5, 60.0, 70.0), (0.3, 0.5, 70.0, 80.0), (0.3, 0.7, 64.0, 66.0)):
        variant = f"beta{beta}_m{margin}"
        write_loss_config(root, variant, "busi", beta, margin, busi)
        write_loss_config(root, variant, "btmri", beta, margin, btmri)
    write_loss_config(root, "beta0.5_m0.5", "busi", 0.5, 0.5, 99.0)  # lacks btmri: not averaged with others
    return root


def test_table4_rows_come_from_the_grid_folders_in_the_papers_order(variant_tree):
    plain, variants = results.split_variant_runs(results.collect_runs(variant_tree), variant_tree)
    assert [run.path.parent.parent.parent.parent.name for run in plain] == ["busi"]  # only the top-level run
    table = results.table4(variants["table4"], variant_tree)
    assert list(table.rows) == [
        "BioMedVR (vit_b16)",
        "w/o CA",
        "AttrVR (rn50)",
        "BioMedVR (rn50)",
        "BioMedVR, attributes llm-gpt-4.1 (vit_b16)",
    ]
    full = table.rows[0]
    assert table.cells[full, "busi"].cell.mean == 81.0 and table.cells[full, "avg"].cell.mean == 76.0
    assert table.columns == ["btmri", "busi", "avg"]
    assert not table.cells[table.rows[1], "avg"].cell.complete  # w/o CA lacks BTMRI: its Avg. is marked
    text = results.format_table_markdown(table)
    assert (
        "| BioMedVR (vit_b16) | 71.0 ± 1.0 | 81.0 ± 1.0 | **76.0** ± 1.0 |" not in text
    )  # bold is on the mean
    assert "| BioMedVR (vit_b16) | **71.0 ± 1.0** | **81.0 ± 1.0** | **76.0 ± 1.0** |" in text


def test_table1_never_pools_a_variants_runs_and_table4_is_printed(variant_tree, capsys):
    assert results.main([str(variant_tree), "--backbone", "vit_b16"]) == 0
    out = capsys.readouterr().out
    table1 = out.split("### Table 1")[1].split("###")[0]
    assert "| BioMedVR | – | **50.0** | – |" in table1 and "81.0" not in table1  # not the variants' runs
    assert "### Table 4" in out and "### Figure 5" in out


def test_sensitivity_points_average_the_datasets_every_point_has(variant_tree):
    runs = results.split_variant_runs(results.collect_runs(variant_tree), variant_tree)[1]["sensitivity"]
    cells, datasets = results.sensitivity_cells(runs)
    assert datasets == ["busi"]  # beta 0.5 has BUSI only, so every point is its BUSI accuracy
    assert {point: cell.mean for point, cell in cells.items()} == {
        (0.1, 0.5): 60.0,
        (0.3, 0.5): 70.0,
        (0.3, 0.7): 64.0,
        (0.5, 0.5): 99.0,
    }
    without = [run for run in runs if "beta0.5" not in str(run.path)]
    cells, datasets = results.sensitivity_cells(without)
    assert datasets == ["btmri", "busi"] and cells[0.3, 0.5].mean == 75.0 and cells[0.3, 0.7].mean == 65.0


def test_the_heat_map_renders_from_the_sensitivity_runs(variant_tree, tmp_path, capsys):
    out = tmp_path / "figures"
    assert figures.main([str(variant_tree), "--out", str(out)]) == 0
    assert f"wrote {out / 'sensitivity.png'}" in capsys.readouterr().out
    assert (out / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = results.split_variant_runs(results.collect_runs(variant_tree), variant_tree)[1]["sensitivity"]
    with pytest.raises(figures.SkipFigure, match="no finished BioMedVR runs at 4 shots"):
        figures.plot_sensitivity(runs, out, shots=4)
