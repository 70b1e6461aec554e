"""train.py before any run starts: backbone names and weights checked first, workers fitted to the CPUs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, requires_dassl
from tools.synthetic_data import make_dataset

pytestmark = requires_dassl

ARGS = [
    "--trainer",
    "BioMedVR",
    "--dataset-config-file",
    "configs/datasets/btmri.yaml",
    "--config-file",
    "configs/trainers/BioMedVR/few_shot.yaml",
    "DATASET.NUM_SHOTS",
    "2",
]


@pytest.fixture
def data_root(tmp_path) -> str:
    make_dataset(str(tmp_path / "data"), "btmri", counts=(2, 1, 1))
    return str(tmp_path / "data")


def run_train(data_root: str, out, backbone: str, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "--root", data_root, "--output-dir", str(out), *ARGS]
    command += ["MODEL.BACKBONE.NAME", backbone]
    environment = os.environ | env
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=environment)


def test_an_unknown_backbone_ends_the_run_before_the_folder_and_the_data(data_root, tmp_path, capsys):
    import train

    out = tmp_path / "out" / "seed1"
    args = ["--root", data_root, "--output-dir", str(out), *ARGS, "MODEL.BACKBONE.NAME", "ViT-B/61"]
    with pytest.raises(SystemExit, match=r"^error: MODEL\.BACKBONE\.NAME: unknown backbone 'ViT-B/61'"):
        train.main(train.parse_args(args))
    assert "** Config **" not in capsys.readouterr().out
    assert not out.exists()
    assert not (tmp_path / "data" / "BTMRI" / "split_fewshot").exists()


def test_clip_weights_that_cannot_be_downloaded_fail_in_one_message(data_root, tmp_path):
    out = tmp_path / "out" / "seed1"
    result = run_train(data_root, out, "ViT-B/16", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: cannot get the weights of backbone ViT-B/16")
    assert "MODEL.BACKBONE.PRETRAINED" in line and "README: Backbones and offline clusters" in line
    assert not out.exists()
    assert not (tmp_path / "data" / "BTMRI" / "split_fewshot").exists()


def test_workers_are_fitted_to_the_cpus_and_left_out_of_the_config_hash(monkeypatch, capsys):
    import train
    from trainers import config
    from trainers.run_files import config_hash

    monkeypatch.setattr(config, "available_cpus", lambda: 2)
    cfg = train.setup_cfg(train.parse_args([*ARGS, "DATALOADER.NUM_WORKERS", "8"]))
    assert cfg.DATALOADER.NUM_WORKERS == 2
    assert "DATALOADER.NUM_WORKERS 8 lowered to 2" in capsys.readouterr().out
    monkeypatch.setattr(config, "available_cpus", lambda: 16)
    assert (
        train.setup_cfg(train.parse_args([*ARGS, "DATALOADER.NUM_WORKERS", "8"])).DATALOADER.NUM_WORKERS == 8
    )
    assert config_hash(cfg) == config_hash(train.setup_cfg(train.parse_args(ARGS)))
