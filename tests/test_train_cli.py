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


@pytest.mark.slow
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


# ----- a user's mistake ends in one line: "error: <file or key>, <value>, <fix>" ------------------------
def last_error(capsys) -> str:
    """The last line on the screen, checking that no traceback was printed."""
    captured = capsys.readouterr()
    screen = captured.out + captured.err
    assert "Traceback" not in screen
    return [line for line in screen.splitlines() if line.strip()][-1]


BAD_VALUES = [
    (["TRAINER.BIOMEDVR.CS_WEIGHTS", "0.5"],
     "error: command line: unknown key TRAINER.BIOMEDVR.CS_WEIGHTS "
     "(did you mean TRAINER.BIOMEDVR.CS_WEIGHT?)"),
    (["optim.max_epoch", "1"],
     "error: command line: unknown key optim.max_epoch (did you mean OPTIM.MAX_EPOCH?)"),
    (["TRAINER.BIOMEDVR.TOPK", "2.5"],
     "error: command line: TRAINER.BIOMEDVR.TOPK must be an integer (like its default 3), got 2.5. "
     "Fix the value."),
    (["DATALOADER.TRAIN_X.BATCH_SIZE", "0"],
     "error: DATALOADER.TRAIN_X.BATCH_SIZE must be at least 1, got 0"),
    (["OPTIM.LR", "1e400"], "error: OPTIM.LR must be a positive finite number (at most 3.4e+38), got inf"),
    (["OPTIM.LR", "1e300"], "error: OPTIM.LR must be a positive finite number (at most 3.4e+38), got 1e+300"),
    (["TEST.SPLIT", "train"], "error: TEST.SPLIT must be one of val, test, got 'train'"),
    (["--seed", str(2**32)],
     f"error: --seed {2**32} is outside numpy's seed range: give 0 to 4294967295 (-1: no seed)"),
    (["--eval-only"], "error: --eval-only with BioMedVR needs --model-dir, the folder of a trained run"),
    (["--eval-only", "--model-dir", "/no/such/run"],
     "error: --model-dir /no/such/run does not exist: give the folder of a trained run"),
    (["--trainer", "BioMedVr"],
     "error: --trainer / TRAINER.NAME: unknown trainer 'BioMedVr' (did you mean BioMedVR?); "
     "this project's trainers: AR, AttrVR, AttrVR_ZS, BioMedVR, BioMedVR_ZS"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "expected"), BAD_VALUES)
def test_a_bad_value_ends_in_one_error_line_before_any_work(tmp_path, capsys, extra, expected):
    import train

    out = tmp_path / "out"
    assert train.cli([*ARGS, "--output-dir", str(out), *extra]) == 1
    line = last_error(capsys)
    assert line.startswith(expected), line
    assert not out.exists()


def test_an_integer_is_accepted_where_a_number_is_expected():
    import train

    cfg = train.setup_cfg(train.parse_args([*ARGS, "TRAINER.BIOMEDVR.CS_WEIGHT", "0"]))
    assert cfg.TRAINER.BIOMEDVR.CS_WEIGHT == 0.0 and isinstance(cfg.TRAINER.BIOMEDVR.CS_WEIGHT, float)


def test_flags_after_key_value_pairs_are_flags(tmp_path):
    import train

    args = train.parse_args([*ARGS, "OPTIM.MAX_EPOCH", "3", "--seed", "7", "--output-dir", str(tmp_path)])
    assert (args.seed, args.output_dir) == (7, str(tmp_path))
    assert args.opts == ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "3"]
    with pytest.raises(SystemExit):
        train.parse_args([*ARGS, "--sed", "7"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OPTIM:\n  MAX_EPOCH: 2\n  LR: [0.1\n", "line 4: malformed YAML"),
        ("OPTIM:\n  MAX_EPOHC: 2\n", "unknown key OPTIM.MAX_EPOHC (did you mean OPTIM.MAX_EPOCH?)"),
        ("OPTIM:\n  MAX_EPOCH: two\n", "OPTIM.MAX_EPOCH must be an integer (like its default 10), got 'two'"),
    ],
)
def test_config_file_mistakes_name_the_file(tmp_path, capsys, text, expected):
    import train

    path = tmp_path / "method.yaml"
    path.write_text(text)
    args = [*ARGS[:4], "--config-file", str(path), "--output-dir", str(tmp_path / "out")]
    assert train.cli(args) == 1
    line = last_error(capsys)
    assert line.startswith(f"error: {path}") and expected in line, line


def test_debug_shows_the_traceback(tmp_path):
    import train

    with pytest.raises(ValueError, match="unknown key"):
        train.cli([*ARGS, "--output-dir", str(tmp_path), "OPTIM.MAX_EPOHC", "1", "--debug"])
