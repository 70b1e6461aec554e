"""The result tools never average seeds of different settings, never count a damaged or diverged
metrics.json, and tabulate only test-split results unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from yacs.config import CfgNode

from tools import parse_test_res, results
from trainers.run_files import config_hash, write_config
from trainers.run_folder import RunFolderError, remove_run


def tiny_cfg(max_epoch: int, seed: int) -> CfgNode:
    """A config with the run-specific keys config_hash leaves out, and one experiment key."""
    return CfgNode(
        {
            "OUTPUT_DIR": f"out/seed{seed}",
            "RESUME": "",
            "SEED": seed,
            "DATASET": CfgNode({"ROOT": "data", "NAME": "BTMRI"}),
            "DATALOADER": CfgNode({"NUM_WORKERS": 2}),
            "OPTIM": CfgNode({"MAX_EPOCH": max_epoch}),
        }
    )


def finished_seed(root: Path, seed: int, accuracy: float, max_epoch: int, **extra) -> Path:
    folder = root / "btmri" / "shots_16" / "BioMedVR" / "vit_b16" / f"seed{seed}"
    folder.mkdir(parents=True)
    cfg = tiny_cfg(max_epoch, seed)
    write_config(str(folder), cfg)
    metrics = {"accuracy": accuracy, "seed": seed, "split": "test", "config_hash": config_hash(cfg), **extra}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_seeds_of_different_settings_are_not_averaged(tmp_path: Path, capsys) -> None:
    finished_seed(tmp_path, 1, 77.7, max_epoch=400)
    finished_seed(tmp_path, 2, 38.9, max_epoch=2)
    finished_seed(tmp_path, 3, 78.1, max_epoch=400)
    experiment = tmp_path / "btmri/shots_16/BioMedVR/vit_b16"
    result = parse_test_res.parse_directory(experiment)
    assert result["summary"] == {}
    assert "seeds 1, 3 (config" in result["conflict"] and "seed 2 (config" in result["conflict"]
    assert "OPTIM.MAX_EPOCH 400 (seed 1) vs 2 (seed 2)" in result["conflict"]
    assert parse_test_res.main([str(experiment)]) == 1
    assert "not averaged" in capsys.readouterr().out
    runs = results.collect_runs(tmp_path)
    assert {run.status for run in runs} == {"not averaged"} and not any(run.finished for run in runs)
    assert results.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "58.3" not in out and "OPTIM.MAX_EPOCH 400 (seed 1) vs 2 (seed 2)" in out


def test_seeds_of_one_setting_are_averaged(tmp_path: Path) -> None:
    for seed, accuracy in ((1, 70.0), (2, 80.0)):
        finished_seed(tmp_path, seed, accuracy, max_epoch=5)
    result = parse_test_res.parse_directory(tmp_path / "btmri/shots_16/BioMedVR/vit_b16")
    assert result["conflict"] is None and result["summary"]["accuracy"]["mean"] == 75.0
    cells = results.group_cells(results.collect_runs(tmp_path))
    assert [cell.mean for cell in cells.values()] == [75.0]


def test_a_truncated_metrics_json_fails_in_both_tools(tmp_path: Path) -> None:
    folder = finished_seed(tmp_path, 1, 70.0, max_epoch=5)
    (folder / "metrics.json").write_text('{"accuracy": 7')
    (folder / "log.txt").write_text("* accuracy: 70.0%\n")
    result = parse_test_res.parse_directory(folder.parent)
    assert result["runs"] == [] and result["summary"] == {}
    assert result["failed"][0][0] == str(folder) and "unreadable metrics.json" in result["failed"][0][1]
    [run] = results.collect_runs(tmp_path)
    assert run.status == "failed" and "unreadable metrics.json" in run.reason


def test_a_diverged_result_is_flagged_not_printed_as_nan(tmp_path: Path, capsys) -> None:
    folder = finished_seed(tmp_path, 1, 70.0, max_epoch=5)
    (folder / "metrics.json").write_text('{"accuracy": 50.0, "ece": NaN, "split": "test"}')
    [run] = results.collect_runs(tmp_path)
    assert run.status == "failed" and "non-finite results (ece nan)" in run.reason
    assert results.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.replace("non-finite results (ece nan)", "") and "diverged" in out
    assert "non-finite" in parse_test_res.parse_directory(folder.parent)["failed"][0][1]


def test_only_test_split_results_are_tabulated_unless_asked(tmp_path: Path, capsys) -> None:
    finished_seed(tmp_path, 1, 91.0, max_epoch=5, split="val")
    [run] = results.collect_runs(tmp_path)
    assert not run.finished and "a val-split result" in run.reason
    [run] = results.collect_runs(tmp_path, split="val")
    assert run.finished and run.metrics["accuracy"] == 91.0
    assert parse_test_res.parse_directory(tmp_path / "btmri/shots_16/BioMedVR/vit_b16")["summary"] == {}
    assert parse_test_res.main([str(tmp_path / "btmri/shots_16/BioMedVR/vit_b16"), "--split", "val"]) == 0
    assert "* accuracy: 91.00%" in capsys.readouterr().out


def test_a_run_on_all_training_images_is_not_a_few_shot_result(tmp_path: Path) -> None:
    finished_seed(tmp_path, 1, 91.0, max_epoch=5, shots="all")
    [run] = results.collect_runs(tmp_path)
    assert not run.finished and "all training images" in run.reason


def test_overwrite_deletes_only_what_runs_write(tmp_path: Path) -> None:
    run = finished_seed(tmp_path, 1, 70.0, max_epoch=5)
    (run / "log.txt-2026-01-01-00-00-00").write_text("log")
    (run / "prompt_learner").mkdir()
    (run / "prompt_learner" / "checkpoint").write_text("model.pth.tar-5\n")
    (run / ".run.lock").write_text("")
    (run / "notes.txt").write_text("my notes")
    with pytest.raises(RunFolderError, match=r"also holds files that no run writes \(notes\.txt\)"):
        remove_run(str(run))
    assert sorted(path.name for path in run.iterdir()) == [
        ".run.lock", "config.yaml", "log.txt-2026-01-01-00-00-00", "metrics.json", "notes.txt",
        "prompt_learner",
    ]  # fmt: skip
    (run / "notes.txt").unlink()
    remove_run(str(run))
    assert not run.exists()


def test_each_table_defaults_to_the_shots_of_its_own_runs(tmp_path: Path, capsys) -> None:
    from tools import figures

    for seed in (1, 2):
        few = tmp_path / "busi" / "shots_4" / "BioMedVR" / "vit_b16" / f"seed{seed}"
        few.mkdir(parents=True)
        (few / "metrics.json").write_text(json.dumps({"accuracy": 60.0 + seed}))
        for side, accuracy in (("train_base", 80.0), ("test_new", 40.0)):
            folder = (
                tmp_path / "base2new" / side / "busi" / "shots_16" / "BioMedVR" / "vit_b16" / f"seed{seed}"
            )
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps({"accuracy": accuracy + seed}))
    assert results.main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Table 1: accuracy (%) with vit_b16, 4 shots" in text and "| BioMedVR | **61.5 ± 0.5** |" in text
    assert "Base-to-novel accuracy (%) with vit_b16, 16 shots" in text and "**81.5 ± 0.5**" in text
    assert "No finished" not in text
    assert results.main([str(tmp_path), "--shots", "8"]) == 0
    text = capsys.readouterr().out
    assert "No finished few-shot runs of this table; few-shot runs exist for: vit_b16 (shots 4)." in text
    assert "base-to-novel runs exist for: vit_b16 (shots 16)." in text
    assert figures.main([str(tmp_path), "--out", str(tmp_path / "figures")]) == 0
    assert "figures of backbone vit_b16 at 4 shots" in capsys.readouterr().err
