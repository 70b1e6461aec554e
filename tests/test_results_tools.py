"""Tests of the results tools on a generated output tree of known accuracies.

The tree: BioMedVR and AttrVR at 16 shots on btmri, busi and chmnist (AttrVR lacks chmnist), ZeroshotCLIP
at 0 shots, BioMedVR at 1 shot, a vit_b32 run, a base-to-novel pair, a failed CoOp run (traceback), and
CoOp runs with only a log (results in the log, no metrics.json).
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.catalog import BIOMEDICAL, in_domain
from tools import figures, parse_test_res, results

BINS = 15
FEW_SHOT_ACCURACY = {  # (trainer, dataset, shots) -> {seed: accuracy}
    ("BioMedVR", "btmri", 16): {1: 80.0, 2: 82.0, 3: 84.0},
    ("BioMedVR", "busi", 16): {1: 70.0, 2: 72.0, 3: 74.0},
    ("BioMedVR", "chmnist", 16): {1: 90.0, 2: 91.0, 3: 92.0},
    ("AttrVR", "btmri", 16): {1: 78.0, 2: 79.0, 3: 80.0},
    ("AttrVR", "busi", 16): {1: 71.0, 2: 73.0, 3: 75.0},
    ("ZeroshotCLIP", "btmri", 0): {1: 50.0},
    ("ZeroshotCLIP", "busi", 0): {1: 40.0},
    ("ZeroshotCLIP", "chmnist", 0): {1: 60.0},
    ("BioMedVR", "btmri", 1): {1: 60.0, 2: 62.0},
    ("BioMedVR", "busi", 1): {1: 50.0, 2: 52.0},
    ("BioMedVR", "chmnist", 1): {1: 70.0, 2: 72.0},
}
CLASSNAMES = ["glioma tumor", "meningioma tumor", "pituitary tumor", "normal brain"]


def run_dir(root: Path, dataset: str, shots: int, trainer: str, seed: int, backbone: str = "vit_b16") -> Path:
    folder = root / dataset / f"shots_{shots}" / trainer / backbone / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def result_lines(accuracy: float, macro_f1: float, ece: float | None = None) -> str:
    lines = ["=> result", "* total: 100", f"* accuracy: {accuracy:.1f}%", f"* error: {100 - accuracy:.1f}%"]
    lines.append(f"* macro_f1: {macro_f1:.1f}%")
    if ece is not None:
        lines.append(f"* ece: {ece:.2f}%")
    return "\n".join(lines) + "\n"


def write_finished(folder: Path, trainer: str, dataset: str, shots: int, seed: int, accuracy: float) -> None:
    """A log and a metrics.json whose reliability bins are under-confident by a known gap."""
    macro_f1, ece = accuracy - 1, 3.0
    (folder / "log.txt").write_text("Loading trainer\n" + result_lines(accuracy, macro_f1, ece))
    confidence = (np.arange(BINS) + 0.5) / BINS
    metrics = {
        "trainer": trainer,
        "dataset": dataset.upper(),
        "backbone": "ViT-B/16",
        "shots": shots,
        "seed": seed,
        "subsample_classes": "all",
        "classnames": CLASSNAMES,
        "epoch": 5,
        "split": "test",
        "num_samples": 100,
        "accuracy": accuracy,
        "error": 100 - accuracy,
        "macro_f1": macro_f1,
        "ece": ece,
        "reliability": {
            "bins": BINS,
            "confidence": confidence.tolist(),
            "accuracy": np.clip(confidence + 0.05, 0, 1).tolist(),
            "count": [seed + i for i in range(BINS)],
        },
        "gate": {"positive": 0.6, "negative": 0.4} if trainer == "BioMedVR" else None,
        "trainable_parameters": 1000,
        "config_hash": "abc",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


def write_extras(folder: Path, seed: int) -> None:
    """A BioMedVR run's checkpoint, 5-epoch history and embeddings."""
    checkpoint = folder / "prompt_learner" / "model.pth.tar-5"
    checkpoint.parent.mkdir()
    generator = torch.Generator().manual_seed(seed)
    state = {
        "prompt.delta": torch.randn(2, 3, 224, 224, generator=generator),
        "gate_logits": torch.tensor([0.4, -0.4]),
    }
    torch.save({"state_dict": state, "epoch": 5}, checkpoint)
    with open(folder / "history.jsonl", "w") as file:
        for epoch in range(1, 6):
            positive = 0.5 + 0.02 * epoch * seed
            record = {"epoch": epoch, "lr": 40.0, "loss_ce": 1 / epoch, "loss_cs": 0.1, "acc": 50.0 + epoch}
            record["gate"] = {"positive": positive, "negative": 1 - positive}
            file.write(json.dumps(record) + "\n")


def write_embeddings(folder: Path, seed: int, spread: float) -> None:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 10)
    embeddings = rng.normal(size=(40, 8)) + spread * np.eye(8)[labels]
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    np.savez_compressed(
        folder / "embeddings.npz",
        embeddings=embeddings.astype(np.float32),
        labels=labels,
        classnames=np.array(CLASSNAMES),
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results") / "output"
    for (trainer, dataset, shots), seeds in FEW_SHOT_ACCURACY.items():
        for seed, accuracy in seeds.items():
            write_finished(
                run_dir(root, dataset, shots, trainer, seed), trainer, dataset, shots, seed, accuracy
            )
    for seed in (1, 2, 3):
        write_extras(run_dir(root, "btmri", 16, "BioMedVR", seed), seed)
    write_embeddings(run_dir(root, "btmri", 16, "BioMedVR", 1), 1, spread=3.0)
    write_embeddings(run_dir(root, "btmri", 0, "ZeroshotCLIP", 1), 2, spread=0.5)
    other = run_dir(root, "btmri", 16, "BioMedVR", 1, backbone="vit_b32")
    write_finished(other, "BioMedVR", "btmri", 16, 1, 99.0)
    b2n = root / "base2new"
    for side, values in (("train_base", {1: 90.0, 2: 92.0}), ("test_new", {1: 70.0, 2: 72.0})):
        for seed, accuracy in values.items():
            write_finished(
                run_dir(b2n / side, "btmri", 16, "BioMedVR", seed), "BioMedVR", "btmri", 16, seed, accuracy
            )
    write_finished(run_dir(b2n / "train_base", "busi", 16, "AttrVR", 1), "AttrVR", "busi", 16, 1, 85.0)
    failed = run_dir(root, "busi", 16, "CoOp", 1)
    (failed / "log.txt").write_text(
        'Loading trainer\nTraceback (most recent call last):\n  File "train.py", line 1, in <module>\n'
        "    main()\nRuntimeError: CUDA out of memory\n"
    )
    # CoOp runs of another codebase: results only in the logs; seed 1 was re-run (newer time-stamped log),
    # and seed 2's log has a validation result before the test result.
    log_only = {1: 70.0, 2: 72.5, 3: 75.0}
    for seed, accuracy in log_only.items():
        (run_dir(root, "kvasir", 16, "CoOp", seed) / "log.txt").write_text(
            result_lines(accuracy, accuracy - 2)
        )
    (run_dir(root, "kvasir", 16, "CoOp", 1) / "log.txt").write_text(result_lines(10.0, 9.0))
    (run_dir(root, "kvasir", 16, "CoOp", 1) / "log.txt-2026-01-02-03-04-05").write_text(
        result_lines(70.0, 68.0)
    )
    (run_dir(root, "kvasir", 16, "CoOp", 2) / "log.txt").write_text(
        result_lines(50.0, 49.0) + result_lines(72.5, 70.5)
    )
    run_dir(root, "kvasir", 16, "CoOp", 4)  # an empty seed folder: not a run
    return root


@pytest.fixture(scope="module")
def runs(tree: Path) -> list[results.Run]:
    return results.collect_runs(tree)


def cell_text(markdown: str, method: str, header: str) -> str:
    """The text of one cell of the markdown table whose header row holds ``header``."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("| Method |") and f" {header} |" in line:
            headers = [text.strip() for text in line.strip("|").split("|")]
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                texts = [text.strip() for text in row.strip("|").split("|")]
                if texts[0] == method:
                    return texts[headers.index(header)]
    raise AssertionError(f"no cell {method} / {header}")


# ----- parse_test_res -------------------------------------------------------------------------------
def test_parse_directory_reads_metrics_json(tree: Path) -> None:
    result = parse_test_res.parse_directory(tree / "btmri/shots_16/BioMedVR/vit_b16")
    assert [Path(run["file"]).name for run in result["runs"]] == ["metrics.json"] * 3
    accuracy = result["summary"]["accuracy"]
    assert accuracy["mean"] == pytest.approx(82.0)
    assert accuracy["spread"] == pytest.approx(math.sqrt(8 / 3))  # population std of 80, 82, 84
    assert accuracy["n"] == 3
    assert result["summary"]["macro_f1"]["mean"] == pytest.approx(81.0)
    assert result["summary"]["ece"]["mean"] == pytest.approx(3.0)


def test_parse_directory_reads_newest_log_and_last_lines(tree: Path) -> None:
    result = parse_test_res.parse_directory(tree / "kvasir/shots_16/CoOp/vit_b16")
    assert [Path(run["file"]).name for run in result["runs"]] == [
        "log.txt-2026-01-02-03-04-05",
        "log.txt",
        "log.txt",
    ]
    assert [run["accuracy"] for run in result["runs"]] == [70.0, 72.5, 75.0]
    assert result["summary"]["accuracy"]["mean"] == pytest.approx(72.5)
    assert "ece" not in result["summary"]  # the logs print no ECE
    assert result["missing"] == [str(tree / "kvasir/shots_16/CoOp/vit_b16/seed4")]


def test_parse_test_res_cli_std_and_ci95(tree: Path, capsys) -> None:
    directory = tree / "btmri/shots_16/BioMedVR/vit_b16"
    assert parse_test_res.main([str(directory)]) == 0
    text = capsys.readouterr().out
    assert "* accuracy: 82.00% +- 1.63%" in text
    assert text.count("file: ") == 3 and "seed1/metrics.json. accuracy: 80.00%." in text
    assert parse_test_res.main([str(directory), "--ci95"]) == 0
    assert "* accuracy: 82.00% +- 1.85%" in capsys.readouterr().out  # 1.96 * 1.633 / sqrt(3)
    assert parse_test_res.main([str(directory), "--test-log"]) == 0
    assert "seed1/log.txt. accuracy: 80.00%." in capsys.readouterr().out


def test_parse_test_res_multi_exp_as_module(tree: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "tools.parse_test_res",
        str(tree / "btmri/shots_16/BioMedVR"),
        "--multi-exp",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    summaries = [line for line in completed.stdout.splitlines() if line.startswith("* accuracy")]
    assert summaries == ["* accuracy: 82.00% +- 1.63% (n=3)", "* accuracy: 99.00% +- 0.00% (n=1)"]


def test_parse_test_res_harmonic_with(tree: Path, capsys) -> None:
    common = "btmri/shots_16/BioMedVR/vit_b16"
    base, new = tree / "base2new/train_base" / common, tree / "base2new/test_new" / common
    assert parse_test_res.main([str(base), "--harmonic-with", str(new)]) == 0
    text = capsys.readouterr().out
    assert "* harmonic mean of accuracy (base 91.00%, new 71.00%): 79.77%" in text
    assert parse_test_res.main([str(base), "--harmonic-with", str(tree / "missing")]) == 1
    assert "no harmonic mean" in capsys.readouterr().out


def test_parse_test_res_empty_directory(tmp_path: Path, capsys) -> None:
    assert parse_test_res.main([str(tmp_path)]) == 1
    assert "no results found" in capsys.readouterr().out


# ----- results ----------------------------------------------------------------------------------------
def test_collect_runs(runs: list[results.Run]) -> None:
    by_status = {
        status: sum(run.status == status for run in runs) for status in ("finished", "failed", "unfinished")
    }
    assert by_status == {"finished": 30, "failed": 1, "unfinished": 3}
    failed = next(run for run in runs if run.status == "failed")
    assert (failed.dataset, failed.trainer, failed.seed) == ("busi", "CoOp", 1)
    assert "RuntimeError: CUDA out of memory" in failed.reason
    protocols = {run.protocol for run in runs}
    assert protocols == {"few_shot", "train_base", "test_new"}


def test_table1_values(runs: list[results.Run]) -> None:
    table = results.table1(runs, shots=16, backbone="vit_b16")
    assert table.rows == ["ZeroshotCLIP", "AttrVR", "BioMedVR"]
    biomedical = [entry.config_name for entry in in_domain(BIOMEDICAL)]
    assert table.columns == [*biomedical, results.AVG]  # Table 3 holds the natural-image datasets
    btmri = table.cells["BioMedVR", "btmri"].cell
    assert (btmri.mean, btmri.n) == (82.0, 3) and btmri.std == pytest.approx(1.63299, abs=1e-5)
    average = table.cells["BioMedVR", results.AVG].cell
    assert average.mean == pytest.approx(245 / 3) and average.complete
    assert average.std == pytest.approx(np.std([80.0, 245 / 3, 250 / 3]))
    attrvr = table.cells["AttrVR", results.AVG].cell
    assert attrvr.mean == pytest.approx(76.0) and not attrvr.complete
    assert table.cells["ZeroshotCLIP", "btmri"].shots == 0
    assert ("AttrVR", "chmnist") not in table.cells


def test_markdown_table1(runs: list[results.Run]) -> None:
    failed = [run for run in runs if not run.finished]
    text = results.format_markdown([results.table1(runs)], failed)
    assert cell_text(text, "BioMedVR", "BTMRI") == "**82.0 ± 1.6**"
    assert cell_text(text, "AttrVR", "BTMRI") == "79.0 ± 0.8"
    assert cell_text(text, "AttrVR", "BUSI") == "**73.0 ± 1.6**"
    assert cell_text(text, "BioMedVR", "BUSI") == "72.0 ± 1.6"
    assert cell_text(text, "AttrVR", "CHMNIST") == "–"
    assert cell_text(text, "BioMedVR", "Kvasir") == "–"
    assert cell_text(text, "ZeroshotCLIP", "BTMRI") == "50.0"  # one seed: no std
    assert cell_text(text, "BioMedVR", "Avg.") == "**81.7 ± 1.4**"
    assert cell_text(text, "AttrVR", "Avg.") == "76.0 ± 1.2*"
    assert "AttrVR lacks CHMNIST" in text
    assert "busi/shots_16/CoOp/vit_b16/seed1`: failed (log.txt: RuntimeError: CUDA out of memory)" in text
    assert "kvasir/shots_16/CoOp/vit_b16/seed3`: unfinished" in text


def test_shots_table(runs: list[results.Run]) -> None:
    table = results.shots_table(runs, backbone="vit_b16")
    assert table.columns == ["0", "1", "16"]
    assert table.cells["BioMedVR", "1"].cell.mean == pytest.approx(61.0)
    assert table.cells["BioMedVR", "1"].cell.std == pytest.approx(1.0)
    assert table.cells["BioMedVR", "16"].cell.mean == pytest.approx(245 / 3)
    assert table.cells["ZeroshotCLIP", "0"].cell.mean == pytest.approx(50.0)
    assert ("ZeroshotCLIP", "16") not in table.cells
    text = results.format_table_markdown(table)
    assert cell_text(text, "AttrVR", "16 shots") == "76.0 ± 1.2*"
    assert cell_text(text, "AttrVR", "1 shot") == "–"


def test_base_to_new(runs: list[results.Run]) -> None:
    entries = results.base_to_new(runs, shots=16, backbone="vit_b16")
    btmri = next(e for e in entries if e.method == "BioMedVR" and e.dataset == "btmri")
    assert (btmri.base.mean, btmri.new.mean) == (91.0, 71.0)
    assert btmri.hm == pytest.approx(2 * 91 * 71 / 162)
    average = next(e for e in entries if e.method == "BioMedVR" and e.dataset == results.AVG)
    assert average.hm == pytest.approx(2 * 91 * 71 / 162) and not average.complete
    attrvr = next(e for e in entries if e.method == "AttrVR")
    assert attrvr.new is None and attrvr.hm is None
    text = results.format_table_markdown(results.base_to_new_table(entries))
    assert cell_text(text, "BioMedVR", "BTMRI base") == "**91.0 ± 1.0**"
    assert cell_text(text, "BioMedVR", "BTMRI HM") == "**79.8**"
    assert cell_text(text, "BioMedVR", "Avg. HM") == "79.8*"
    assert cell_text(text, "AttrVR", "BUSI base") == "**85.0**"
    assert cell_text(text, "AttrVR", "BUSI HM") == "–"


def bold_test_table(incomplete_mean: float) -> results.Table:
    """One column: complete cells 80.0 and 75.0, and an incomplete (``*``) Avg. of ``incomplete_mean``."""
    means = {"BioMedVR": (80.0, True), "AttrVR": (75.0, True), "VP": (incomplete_mean, False)}
    cells = {
        (method, results.AVG): results.Entry(
            method, "vit_b16", results.AVG, 16, results.Cell(mean, 1.0, 3, complete)
        )
        for method, (mean, complete) in means.items()
    }
    return results.Table("t", "Test", [results.AVG], ["Avg."], list(means), cells)


def test_an_incomplete_average_tied_with_the_best_is_not_bold() -> None:
    text = results.format_table_markdown(bold_test_table(80.0))
    assert cell_text(text, "BioMedVR", "Avg.") == "**80.0 ± 1.0**"
    assert cell_text(text, "VP", "Avg.") == "80.0 ± 1.0*"


def test_an_incomplete_average_above_the_best_leaves_the_bold_on_the_best_complete_cell() -> None:
    text = results.format_table_markdown(bold_test_table(90.0))
    assert cell_text(text, "BioMedVR", "Avg.") == "**80.0 ± 1.0**"
    assert cell_text(text, "AttrVR", "Avg.") == "75.0 ± 1.0"
    assert cell_text(text, "VP", "Avg.") == "90.0 ± 1.0*"


def test_csv_sections_parse(tree: Path, capsys) -> None:
    assert results.main([str(tree), "--format", "csv"]) == 0
    sections = {}
    for block in capsys.readouterr().out.strip().split("\n\n"):
        comment, *lines = block.splitlines()
        assert comment.startswith("# ")
        sections[comment[2:].split(":")[0]] = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert list(sections) == ["table1", "shots", "base2new", "failed"]
    row = next(r for r in sections["table1"] if r["method"] == "BioMedVR" and r["dataset"] == "btmri")
    assert (float(row["mean"]), float(row["std"]), row["n_seeds"], row["shots"]) == (82.0, 1.633, "3", "16")
    assert any(r["method"] == "AttrVR" and r["dataset"] == "Avg.*" for r in sections["table1"])
    assert {r["shots"] for r in sections["shots"]} == {"0", "1", "16"}
    b2n = next(r for r in sections["base2new"] if r["dataset"] == "btmri")
    assert float(b2n["hm"]) == pytest.approx(79.7654, abs=1e-4) and b2n["n_seeds_new"] == "2"
    assert len(sections["failed"]) == 4


def test_results_markdown_cli_filters_backbone(tree: Path, capsys) -> None:
    assert results.main([str(tree), "--backbone", "vit_b16"]) == 0
    text = capsys.readouterr().out
    assert "99.0" not in text  # the vit_b32 run
    assert results.main([str(tree), "--backbone", "vit_b32"]) == 0
    assert cell_text(capsys.readouterr().out, "BioMedVR", "BTMRI") == "**99.0**"


def test_several_backbones_also_give_one_table1_with_each_rows_backbone(tree: Path, capsys) -> None:
    assert results.main([str(tree)]) == 0
    text = capsys.readouterr().out
    combined = text.index("Table 1: accuracy (%) with each row's backbone")
    assert combined < text.index("Table 1: accuracy (%) with vit_b16")
    assert cell_text(text, "BioMedVR (vit_b32)", "BTMRI") == "**99.0**"
    assert cell_text(text, "BioMedVR (vit_b16)", "BTMRI") == "82.0 ± 1.6"


def test_table1_rows_follow_the_paper_groups_with_their_backbones(tmp_path: Path) -> None:
    """Zero-shot, prompt learning (here on BiomedCLIP, as in the paper), visual reprogramming."""
    order = [
        ("BioMedVR", "vit_b16"),
        ("ProGrad", "biomedclip"),
        ("CoOp", "vit_b16"),
        ("ZeroshotCLIP", "vit_b16"),
    ]
    order += [
        ("BiomedCoOp", "biomedclip"),
        ("CoOp", "biomedclip"),
        ("AR", "vit_b16"),
        ("CoCoOp", "biomedclip"),
    ]
    for trainer, backbone in order:
        shots = 0 if trainer == "ZeroshotCLIP" else 16
        folder = run_dir(tmp_path, "btmri", shots, trainer, 1, backbone=backbone)
        write_finished(folder, trainer, "btmri", shots, 1, 60.0)
    table = results.table1(results.collect_runs(tmp_path), backbone=None)
    assert table.rows == [
        "ZeroshotCLIP (vit_b16)",
        "CoOp (biomedclip)",
        "CoOp (vit_b16)",
        "CoCoOp (biomedclip)",
        "ProGrad (biomedclip)",
        "BiomedCoOp (biomedclip)",
        "AR (vit_b16)",
        "BioMedVR (vit_b16)",
    ]
    entry = table.cells["CoOp (biomedclip)", "btmri"]
    assert (entry.method, entry.backbone) == ("CoOp", "biomedclip")
    assert "each row's backbone" in table.title


def test_results_show_every_backbone_found_by_default(tree: Path, capsys) -> None:
    assert results.main([str(tree)]) == 0
    text = capsys.readouterr().out
    vit_b16 = text.index("Table 1: accuracy (%) with vit_b16, 16 shots")
    vit_b32 = text.index("Table 1: accuracy (%) with vit_b32, 16 shots")
    assert vit_b16 < vit_b32
    assert cell_text(text[vit_b32:], "BioMedVR", "BTMRI") == "**99.0**"


def test_results_and_figures_find_other_backbones_and_shots(tmp_path: Path, capsys) -> None:
    root = tmp_path / "output"
    for seed in (1, 2):
        folder = run_dir(root, "busi", 4, "BioMedVR", seed, backbone="rn50")
        (folder / "metrics.json").write_text(json.dumps({"accuracy": 60.0 + seed}))
    assert results.main([str(root)]) == 0
    text = capsys.readouterr().out
    assert "No finished runs" not in text.split("### Accuracy")[0]
    assert "Table 1: accuracy (%) with rn50, 4 shots" in text
    assert cell_text(text, "BioMedVR", "BUSI") == "**61.5 ± 0.5**"
    assert results.main([str(root), "--backbone", "vit_b16"]) == 0
    assert "finished runs exist for: rn50 (shots 4)" in capsys.readouterr().err
    assert figures.main([str(root), "--out", str(tmp_path / "figures")]) == 0
    assert "figures of backbone rn50 at 4 shots" in capsys.readouterr().err
    assert (tmp_path / "figures" / "accuracy_vs_shots.png").is_file()


# ----- figures ------------------------------------------------------------------------------------------
def assert_image(path: Path, size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    with Image.open(path) as image:
        assert image.size == size
        assert np.asarray(image.convert("L"), dtype=float).std() > 10


def test_figures_cli_renders_every_figure(tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figures"
    assert figures.main([str(tree), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" not in printed
    assert_image(out / "accuracy_vs_shots.png", (960, 660))
    assert_image(out / "experts_btmri_BioMedVR_seed1.png", (1200, 690))
    assert not (out / "experts_btmri_BioMedVR_seed2.png").exists()
    assert_image(out / "gate_btmri_BioMedVR.png", (960, 630))
    assert_image(out / "reliability.png", (1440, 510))  # three methods side by side
    assert_image(out / "tsne_btmri.png", (1500, 810))


def test_experts_frame_is_grey_inside(tree: Path) -> None:
    checkpoint = figures.run_checkpoint(tree / "btmri/shots_16/BioMedVR/vit_b16/seed1")
    assert checkpoint is not None and checkpoint.name == "model.pth.tar-5"
    delta, gate, inner_size = figures.load_prompt(checkpoint)
    assert inner_size == 192  # no input_size recorded: the config default
    images = figures.expert_images(delta, inner_size)
    assert images.shape == (2, 224, 224, 3) and gate.shape == (2,)
    assert np.all(images[:, 16:208, 16:208] == 0.5)
    assert np.allclose(images[0, :16], torch.sigmoid(delta[0, :, :16]).permute(1, 2, 0).numpy())


def test_figures_options_and_skips(tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figures"
    zero_shot = tree / "btmri/shots_0/ZeroshotCLIP/vit_b16/seed1"
    proposed = tree / "btmri/shots_16/BioMedVR/vit_b16/seed1"
    args = [
        str(tree),
        "--out",
        str(out),
        "--dataset",
        "btmri",
        "--all-experts",
        "--tsne",
        str(zero_shot),
        str(proposed),
    ]
    assert figures.main(args) == 0
    capsys.readouterr()
    for seed in (1, 2, 3):
        assert (out / f"experts_btmri_BioMedVR_seed{seed}.pdf").is_file()
    assert (out / "tsne_btmri.png").is_file()
    # A tree with a failed run only: every figure is skipped with a line, none crashes.
    assert figures.main([str(tree / "busi/shots_16/CoOp"), "--out", str(tmp_path / "none")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "skipped accuracy_vs_shots", "skipped experts", "skipped gate", "skipped reliability", "skipped tsne",
    ]  # fmt: skip
    with pytest.raises(figures.SkipFigure, match=r"no embeddings\.npz"):
        figures.plot_tsne([zero_shot, tree / "busi/shots_16/BioMedVR/vit_b16/seed1"], out, "tsne_busi")


def test_corrupt_files_are_skipped_not_fatal(tmp_path: Path, capsys) -> None:
    root = tmp_path / "output"
    folder = run_dir(root, "btmri", 16, "BioMedVR", 1)
    (folder / "log.txt").write_text("Loading trainer\n")
    (folder / "metrics.json").write_text("{not json")
    (folder / "prompt_learner").mkdir()
    (folder / "prompt_learner" / "model.pth.tar-3").write_bytes(b"not a checkpoint")
    (folder / "history.jsonl").write_text('{"epoch": 1, "gate": null}\nnot json\n')
    (folder / "embeddings.npz").write_bytes(b"broken")
    runs = results.collect_runs(root)
    assert [run.status for run in runs] == ["failed"] and "unreadable metrics.json" in runs[0].reason
    assert figures.main([str(root), "--out", str(tmp_path / "figures")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "skipped accuracy_vs_shots", "skipped experts_btmri_BioMedVR_seed1", "skipped gate",
        "skipped reliability", "skipped tsne",
    ]  # fmt: skip
    assert "cannot read prompt.delta" in lines[1]
    with pytest.raises(figures.SkipFigure, match="cannot read"):
        figures.load_embeddings(folder)
    assert results.main([str(root)]) == 0
    assert "unreadable metrics.json" in capsys.readouterr().out


def test_experts_use_the_input_size_the_checkpoint_records(tmp_path: Path) -> None:
    path = tmp_path / "model.pth.tar-1"
    delta = torch.randn(2, 3, 224, 224)
    torch.save({"state_dict": {"prompt.delta": delta}, "epoch": 1, "input_size": 160}, path)
    loaded, gate, inner_size = figures.load_prompt(path)
    assert (inner_size, gate) == (160, None)
    images = figures.expert_images(loaded, inner_size)
    assert np.all(images[:, 32:192, 32:192] == 0.5)
    assert np.allclose(
        images[0, 16:32, 16:32], torch.sigmoid(delta[0, :, 16:32, 16:32]).permute(1, 2, 0).numpy()
    )
