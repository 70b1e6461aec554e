"""train.py never overwrites a finished run, never resumes with other settings, says what NUM_SHOTS 0
trains on, and stops a diverged run before it records anything."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY_BACKBONE, requires_dassl
from tools.synthetic_data import make_dataset

pytestmark = [requires_dassl, pytest.mark.slow]

ARGS = [
    "--trainer", "BioMedVR", "--seed", "1",
    "--dataset-config-file", "configs/datasets/btmri.yaml",
    "--config-file", "configs/trainers/BioMedVR/few_shot.yaml",
]  # fmt: skip
OVERRIDES = ["MODEL.BACKBONE.NAME", TINY_BACKBONE, "DATALOADER.NUM_WORKERS", "0", "OPTIM.MAX_EPOCH", "1"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("data")
    make_dataset(str(root), "BTMRI", counts=(3, 2, 4))
    return str(root)


def train_py(data_root: str, out: Path, *extra: str, flags: tuple = ()) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "--root", data_root, "--output-dir", str(out), *ARGS, *flags]
    return subprocess.run(
        [*command, *OVERRIDES, *extra], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()][-1]


@pytest.fixture(scope="module")
def finished(data_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "seed1"
    result = train_py(data_root, out, "DATASET.NUM_SHOTS", "2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def test_eval_only_into_a_training_runs_folder_is_refused(finished, data_root, tmp_path):
    run = tmp_path / "seed1"
    shutil.copytree(finished, run)
    before = {name: (run / name).read_bytes() for name in ("metrics.json", "config.yaml")}
    flags = ("--eval-only", "--model-dir", str(run))
    result = train_py(data_root, run, "DATASET.NUM_SHOTS", "2", "TEST.SPLIT", "val", flags=flags)
    assert result.returncode == 1
    assert last_line(result) == (
        f"error: --output-dir {run} holds a training run; --eval-only would replace its metrics.json and "
        "config.yaml with this evaluation's. Give --eval-only another --output-dir (the model stays in "
        "--model-dir)."
    )
    assert {name: (run / name).read_bytes() for name in before} == before


def test_resuming_with_other_settings_is_refused_naming_the_keys(finished, data_root, tmp_path):
    run = tmp_path / "seed1"
    shutil.copytree(finished, run)
    before = (run / "config.yaml").read_bytes()
    result = train_py(data_root, run, "DATASET.NUM_SHOTS", "2", "TRAINER.BIOMEDVR.CS_WEIGHT", "0.9")
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith(f"error: {run} holds a run trained with other settings")
    assert "(TRAINER.BIOMEDVR.CS_WEIGHT 0.3 there, 0.9 now)" in line
    assert (run / "config.yaml").read_bytes() == before


def test_num_shots_0_says_it_trains_on_every_image_and_records_them(data_root, tmp_path):
    result = train_py(data_root, tmp_path / "all", "DATASET.NUM_SHOTS", "0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "DATASET.NUM_SHOTS 0: training on every training image" in result.stdout
    metrics = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert metrics["shots"] == "all"
    assert set(metrics["shots_per_class"].values()) == {3}


NAN_LOSS = """
import sys
import train
from dassl.engine import TRAINER_REGISTRY
trainer = TRAINER_REGISTRY.get("BioMedVR")
compute_loss = trainer.compute_loss
def nan_loss(self, scores, labels):
    loss, parts = compute_loss(self, scores, labels)
    return loss * float("nan"), parts
trainer.compute_loss = nan_loss
raise SystemExit(train.cli(sys.argv[1:]))
"""


def test_a_diverging_run_stops_naming_the_epoch_and_the_learning_rate(data_root, tmp_path):
    out = tmp_path / "diverged"
    command = [sys.executable, "-c", NAN_LOSS, "--root", data_root, "--output-dir", str(out), *ARGS]
    result = subprocess.run(
        [*command, *OVERRIDES, "DATASET.NUM_SHOTS", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("error: training diverged in epoch 1 of 1: the loss is nan at batch 1")
    assert "OPTIM.LR" in line and "Traceback" not in result.stderr
    assert not (out / "metrics.json").exists()
    history = out / "history.jsonl"
    lines = history.read_text().splitlines() if history.exists() else []
    assert all(json.loads(text) is not None for text in lines)
