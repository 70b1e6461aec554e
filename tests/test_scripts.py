"""The method scripts' command lines, run with a stand-in for train.py (PYTHON points at a wrapper)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tools.synthetic_data import make_dataset

WRAPPER = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [ "$1" = train.py ]; then
  while [ $# -gt 0 ]; do
    case $1 in --output-dir) out=$2; shift ;; --seed) seed=$2; shift ;; esac
    shift
  done
  mkdir -p "$out"
  echo "{\\"seed\\": $seed, \\"accuracy\\": 50.0}" > "$out/metrics.json"
  exit 0
fi
if [ "$1" = scripts/check_env.py ] && [ -n "${NO_DASSL:-}" ] && [[ " $* " == *" dassl"* ]]; then
  echo "missing: Dassl (scripts/setup.sh)"
  exit 1
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.fixture
def run(tmp_path):
    """Run a script with the wrapper as PYTHON and a synthetic BTMRI; returns (result, train.py calls)."""
    wrapper = tmp_path / "python"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    make_dataset(str(tmp_path / "data"), "btmri", counts=(2, 1, 1))
    calls = tmp_path / "calls.txt"

    def run_script(script: str, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        environment = os.environ | {
            "PYTHON": str(wrapper),
            "REAL_PYTHON": sys.executable,
            "CALLS": str(calls),
            "DATA": str(tmp_path / "data"),
            "OUTPUT": str(tmp_path / "output"),
            **env,
        }
        result = subprocess.run(
            ["bash", f"scripts/{script}", *args], cwd=REPO, env=environment, capture_output=True, text=True
        )
        lines = calls.read_text().splitlines() if calls.exists() else []
        return result, [line for line in lines if line.startswith("train.py")]

    return run_script


def test_an_override_where_the_backbone_goes_is_an_override(run, tmp_path):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", "OPTIM.MAX_EPOCH", "1", SEEDS="1")
    assert result.returncode == 0, result.stderr
    (call,) = calls
    assert "MODEL.BACKBONE.NAME ViT-B/16 DATASET.NUM_SHOTS 4 OPTIM.MAX_EPOCH 1" in call
    assert (tmp_path / "output/btmri/shots_4/BioMedVR/vit_b16/seed1/metrics.json").is_file()


def test_a_folder_spelling_of_the_dataset_uses_the_config_name(run, tmp_path):
    result, calls = run("ar/few_shot.sh", "BTMRI", "2", SEEDS="1")
    assert result.returncode == 0, result.stderr
    assert "configs/datasets/btmri.yaml" in calls[0]
    assert (tmp_path / "output/btmri/shots_2/AR/vit_b16/seed1").is_dir()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage(run, flag):
    result, calls = run("biomedvr/few_shot.sh", flag)
    assert result.returncode == 0
    assert (
        "usage: bash scripts/biomedvr/few_shot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]" in result.stdout
    )
    assert "btmri busi chmnist" in result.stdout
    assert calls == []


@pytest.mark.parametrize(
    ("script", "suggested"),
    [
        ("biomedvr/few_shot.sh", "biomedvr_zs"),
        ("attrvr/few_shot.sh", "attrvr_zs"),
        ("coop/few_shot.sh", "zeroshot"),
    ],
)
def test_zero_shots_in_a_few_shot_script_names_the_zero_shot_script(run, script, suggested):
    result, calls = run(script, "btmri", "0")
    assert result.returncode == 1
    assert f"use scripts/{suggested}/zero_shot.sh" in result.stderr
    assert calls == []


def test_an_unknown_dataset_lists_the_valid_ones_and_the_closest(run):
    result, calls = run("vp/few_shot.sh", "bmtri", "4")
    assert result.returncode == 2
    assert "did you mean 'btmri'" in result.stderr and "RETINA (retina)" in result.stderr
    assert calls == []


def test_without_dassl_one_line_says_how_to_install_it(run):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", NO_DASSL="1")
    assert result.returncode == 1
    assert "[setup]" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "DASSL_GIT=" in line and "pip install -e" in line
    assert calls == []


def test_zero_shot_evaluates_one_seed_and_records_it_for_all(run, tmp_path):
    result, calls = run("zeroshot/zero_shot.sh", "btmri", SEEDS="1 2 3")
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1 and "--seed 1" in calls[0]
    folder = tmp_path / "output/btmri/shots_0/ZeroshotCLIP/vit_b16"
    for seed in (2, 3):
        payload = json.loads((folder / f"seed{seed}" / "metrics.json").read_text())
        assert payload == {"seed": seed, "accuracy": 50.0, "evaluated_as_seed": 1}


def test_odd_overrides_are_refused_before_anything_runs(run):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", "ViT-B/16", "OPTIM.MAX_EPOCH")
    assert result.returncode == 1
    assert "KEY VALUE pairs" in result.stderr
    assert calls == []
