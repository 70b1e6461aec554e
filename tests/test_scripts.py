"""The method scripts' command lines, run with a stand-in for train.py (PYTHON points at a wrapper)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tools.synthetic_data import make_dataset

pytestmark = pytest.mark.slow  # runs the scripts or a benchmark in subprocesses

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
if [ -n "${NO_DASSL:-}" ] && [ ! -e "$CALLS.dassl" ]; then  # Dassl absent until pip installs it
  if [ "$1" = scripts/check_env.py ] && [[ " $* " == *" dassl"* || " $* " == *" all"* ]]; then
    echo "missing: Dassl (scripts/setup.sh)"
    exit 1
  fi
  if [ "$1" = -c ] && [[ $2 == *dassl* ]]; then exit 1; fi
fi
if [ "$1" = scripts/check_env.py ] && [ "${2:-}" = --installed-at ] && [ -n "${INSTALLED_AT:-}" ]; then
  echo "$INSTALLED_AT"
  exit 0
fi
if [ "$1" = -m ] && [ "$2" = pip ]; then  # never install anything: record what would be installed
  if [[ " $* " == *"Dassl.pytorch"* && -z "${DASSL_FAILS:-}" ]]; then touch "$CALLS.dassl"; fi
  exit 0
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


def test_without_dassl_the_script_runs_setup_and_goes_on(run):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", SEEDS="1", NO_DASSL="1")
    assert result.returncode == 0, result.stderr
    assert "missing (Dassl (scripts/setup.sh)): running scripts/setup.sh" in result.stdout
    assert "[setup] 4/5 installing Dassl" in result.stdout and "Dassl installed from" in result.stdout
    assert len(calls) == 1


def test_a_dassl_that_setup_cannot_install_ends_in_one_line(run):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", NO_DASSL="1", DASSL_FAILS="1")
    assert result.returncode == 1
    assert "[setup] 4/5 installing Dassl" in result.stdout
    line = result.stderr.strip().splitlines()[-1]
    assert (
        line.startswith("[BioMedVR] Dassl is still not installed after scripts/setup.sh")
        and "DASSL_GIT" in line
    )
    assert calls == []


@pytest.mark.parametrize("elsewhere", [False, True])
def test_setup_checks_that_the_editable_install_is_this_checkout(run, tmp_path, elsewhere):
    installed = str(tmp_path / "other-clone") if elsewhere else str(REPO.resolve())
    result = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=REPO, capture_output=True, text=True,
        env=os.environ | {"PYTHON": str(tmp_path / "python"), "REAL_PYTHON": sys.executable,
                          "CALLS": str(tmp_path / "calls.txt"), "INSTALLED_AT": installed},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pip_calls = [line for line in (tmp_path / "calls.txt").read_text().splitlines() if "-e ." in line]
    if elsewhere:
        assert f"the editable install points at {installed}, not this checkout" in result.stdout
        assert len(pip_calls) == 1
    else:
        assert f"5/5 this project is already installed (editable, from {installed})" in result.stdout
        assert pip_calls == []


def test_a_lower_case_override_is_named_not_taken_as_the_backbone(run):
    result, calls = run("biomedvr/few_shot.sh", "btmri", "4", "optim.max_epoch", "1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "[BioMedVR] 'optim.max_epoch' looks like a config key: keys are upper-case (OPTIM.MAX_EPOCH), "
        "after the backbone if any"
    )
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
