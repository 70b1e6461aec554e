"""train.py end to end with Dassl: a tiny random open_clip model on a generated dataset in the real layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, TINY_BACKBONE, requires_dassl
from tools.synthetic_data import make_dataset

pytestmark = requires_dassl

BASE_ARGS = [
    "--trainer",
    "BioMedVR",
    "--dataset-config-file",
    "configs/datasets/btmri.yaml",
    "--config-file",
    "configs/trainers/BioMedVR/few_shot.yaml",
]
OVERRIDES = [
    "MODEL.BACKBONE.NAME",
    TINY_BACKBONE,
    "DATASET.NUM_SHOTS",
    "4",
    "DATALOADER.NUM_WORKERS",
    "0",
    "TRAIN.CHECKPOINT_FREQ",
    "1",
]
CRASH_AFTER_FIRST_EPOCH = """
import os, sys
import train
from trainers.frozen_clip import FrozenCLIPTrainer
after_epoch = FrozenCLIPTrainer.after_epoch
def after_epoch_then_die(self):
    after_epoch(self)
    if self.epoch == 0:
        os._exit(3)
FrozenCLIPTrainer.after_epoch = after_epoch_then_die
train.main(train.parse_args(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("data")
    make_dataset(str(root), "BTMRI", counts=(6, 4, 8))
    return str(root)


def train(
    data_root: str, out: Path, *overrides: str, flags: tuple = (), epochs: int = 2, script: str | None = None
) -> str:
    """Run train.py (or ``script`` standing in for it) with the tiny model; returns its output."""
    args = ["--root", data_root, "--seed", "1", "--output-dir", str(out), *BASE_ARGS, *flags]
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "train.py", *args]
    command += [*OVERRIDES, "OPTIM.MAX_EPOCH", str(epochs), *overrides]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    if script is None and result.returncode != 0:
        raise AssertionError(f"train.py failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def checkpoint(out: Path, epoch: int) -> dict:
    return torch.load(
        out / "prompt_learner" / f"model.pth.tar-{epoch}", map_location="cpu", weights_only=True
    )


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "seed1"
    train(data_root, out)
    return out


def test_training_writes_log_metrics_history_and_a_small_checkpoint(trained):
    log = (trained / "log.txt").read_text()
    assert "Trainable parameters: 301,058" in log
    assert "* accuracy:" in log and "* macro_f1:" in log and "* ece:" in log
    report = metrics(trained)
    assert report["trainer"] == "BioMedVR" and report["dataset"] == "BTMRI" and report["epoch"] == 2
    assert report["num_samples"] == 32 and report["trainable_parameters"] == 301_058
    assert f"* accuracy: {report['accuracy']:.1f}%" in log
    assert report["gate"]["positive"] + report["gate"]["negative"] == pytest.approx(1.0)
    assert len(report["config_hash"]) == 12
    history = [json.loads(line) for line in (trained / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and history[0]["lr"] == 40.0
    assert {"loss_ce", "loss_cs", "acc", "gate"} <= set(history[0])
    files = sorted(p.name for p in (trained / "prompt_learner").iterdir())
    assert files == ["checkpoint", "model.pth.tar-2"]  # the epoch-1 checkpoint was replaced
    size = (trained / "prompt_learner" / "model.pth.tar-2").stat().st_size
    # delta+, delta-, w and SGD's momentum of each (2 x 1.2 MB); never the CLIP weights
    assert size < 2.6e6
    state = checkpoint(trained, 2)
    assert set(state["state_dict"]) == {"prompt.delta", "gate_logits"}
    assert state["epoch"] == 2 and state["classnames"][0] == "glioma tumor"
    assert state["scheduler"]["last_epoch"] == 2  # the cosine schedule was stepped every epoch


def test_eval_only_reproduces_the_accuracy(trained, data_root, tmp_path):
    for load in (["--load-epoch", "2"], []):
        out = tmp_path / ("epoch" if load else "latest")
        train(data_root, out, flags=("--eval-only", "--model-dir", str(trained), *load))
        assert metrics(out)["accuracy"] == metrics(trained)["accuracy"]
        assert metrics(out)["gate"] == metrics(trained)["gate"]
        assert metrics(out)["epoch"] == 2


def test_same_seed_is_bit_identical_and_resume_after_a_crash_reaches_the_same_parameters(data_root, tmp_path):
    first, second, crashed = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    train(data_root, first, epochs=3)
    train(data_root, second, epochs=3)
    output = train(data_root, crashed, epochs=3, script=CRASH_AFTER_FIRST_EPOCH)
    assert not (crashed / "metrics.json").exists(), output[-2000:]
    assert checkpoint(crashed, 1)["epoch"] == 1
    resumed = train(data_root, crashed, epochs=3)
    assert "will resume training" in resumed
    reference = checkpoint(first, 3)["state_dict"]
    for run in (second, crashed):
        state = checkpoint(run, 3)["state_dict"]
        assert all(torch.equal(state[key], reference[key]) for key in reference)
    assert metrics(crashed)["accuracy"] == metrics(first)["accuracy"]


def test_dassl_loaders_path_trains_too(data_root, tmp_path):
    train(data_root, tmp_path / "slow", "TRAINER.COMMON.FAST_DATA", "False", epochs=1)
    assert metrics(tmp_path / "slow")["num_samples"] == 32


def test_base_to_novel(data_root, tmp_path):
    base, new = tmp_path / "train_base", tmp_path / "test_new"
    train(data_root, base, "DATASET.SUBSAMPLE_CLASSES", "base", epochs=1)
    train(data_root, new, "DATASET.SUBSAMPLE_CLASSES", "new", flags=("--eval-only", "--model-dir", str(base)))
    assert metrics(base)["classnames"] == ["glioma tumor", "meningioma tumor"]
    assert metrics(new)["classnames"] == ["pituitary tumor", "normal brain"]
    assert metrics(new)["num_samples"] == 16 and metrics(new)["subsample_classes"] == "new"


def script(name: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    overrides = ("DATALOADER.NUM_WORKERS", "0")
    result = subprocess.run(
        ["bash", f"scripts/biomedvr/{name}.sh", *args, *overrides],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_few_shot_script_runs_every_seed_skips_finished_ones_and_evaluates_again(data_root, tmp_path):
    env = {"DATA": data_root, "OUTPUT": str(tmp_path / "output"), "SEEDS": "1 2"}
    args = ("btmri", "2", TINY_BACKBONE, "OPTIM.MAX_EPOCH", "1")
    result = script("few_shot", env, *args)
    experiment = tmp_path / "output" / "btmri" / "shots_2" / "BioMedVR" / "biomedvr-test-tiny"
    assert (experiment / "seed1" / "metrics.json").is_file() and (
        experiment / "seed2" / "metrics.json"
    ).is_file()
    mean = sum(metrics(experiment / f"seed{s}")["accuracy"] for s in (1, 2)) / 2
    assert f"* accuracy: {mean:.2f}%" in result.stdout
    assert script("few_shot", env, *args).stdout.count("results exist at") == 2
    evaluation = script(
        "eval_fewshot", {**env, "SEEDS": "1", "EVAL_OUTPUT": str(tmp_path / "eval")}, *args[:3]
    )
    evaluated = tmp_path / "eval" / "btmri" / "shots_2" / "BioMedVR" / "biomedvr-test-tiny" / "seed1"
    assert metrics(evaluated)["accuracy"] == metrics(experiment / "seed1")["accuracy"]
    assert "* accuracy" in evaluation.stdout


def test_base2new_script_trains_on_base_and_tests_on_new(data_root, tmp_path):
    env = {"DATA": data_root, "OUTPUT": str(tmp_path / "output"), "SEEDS": "1", "SHOTS": "2"}
    result = script("base2new", env, "btmri", TINY_BACKBONE, "OPTIM.MAX_EPOCH", "1")
    common = Path("btmri", "shots_2", "BioMedVR", "biomedvr-test-tiny", "seed1")
    base = metrics(tmp_path / "output" / "base2new" / "train_base" / common)
    new = metrics(tmp_path / "output" / "base2new" / "test_new" / common)
    assert base["subsample_classes"] == "base" and new["subsample_classes"] == "new"
    harmonic = 2 * base["accuracy"] * new["accuracy"] / (base["accuracy"] + new["accuracy"])
    line = f"(base {base['accuracy']:.2f}%, new {new['accuracy']:.2f}%): {harmonic:.2f}%"
    assert line in result.stdout


# ----- clear errors, checked in-process (no training) -----------------------------------------------


def build(data_root: str, out: Path, *overrides: str):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    args = train_module.parse_args(
        ["--root", data_root, "--seed", "1", "--output-dir", str(out), *BASE_ARGS, *OVERRIDES, *overrides]
    )
    cfg = train_module.setup_cfg(args)
    set_random_seed(1)
    return build_trainer(cfg)


def test_unknown_backbone_is_named(data_root, tmp_path):
    from trainers.backbones import BackboneError

    with pytest.raises(BackboneError, match="unknown backbone 'ViT-X/99'"):
        build(data_root, tmp_path, "MODEL.BACKBONE.NAME", "ViT-X/99")


def test_attribute_file_missing_a_class_names_class_file_and_keys(data_root, tmp_path):
    from attributes.files import AttributeSetError

    attributes = tmp_path / "attrs"
    attributes.mkdir()
    source = REPO / "attributes" / "curated"
    for kind in ("des", "dist", "confuse"):
        data = json.loads((source / f"btmri_{kind}.json").read_text())
        if kind == "dist":
            del data["pituitary tumor"]
        (attributes / f"btmri_{kind}.json").write_text(json.dumps(data))
    with pytest.raises(AttributeSetError) as error:
        build(data_root, tmp_path / "out", "TRAINER.BIOMEDVR.ATTRIBUTE_SET", str(attributes))
    message = str(error.value)
    assert "pituitary tumor" in message and "btmri_dist.json" in message and "glioma tumor" in message


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("TRAINER.BIOMEDVR.TOPK", "0", "TRAINER.BIOMEDVR.TOPK must be at least 1"),
        ("TRAINER.BIOMEDVR.INPUT_SIZE", "224", "TRAINER.BIOMEDVR.INPUT_SIZE must be between 1 and 223"),
        ("TRAINER.BIOMEDVR.CS_FORM", "other", "TRAINER.BIOMEDVR.CS_FORM must be one of"),
    ],
)
def test_bad_settings_are_named(data_root, tmp_path, key, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        build(data_root, tmp_path, key, value)


def test_a_checkpoint_from_other_classes_is_refused_with_both_class_lists(trained, data_root, tmp_path):
    trainer = build(data_root, tmp_path, "DATASET.SUBSAMPLE_CLASSES", "base")
    with pytest.raises(ValueError) as error:
        trainer.load_model(str(trained), epoch=2)
    message = str(error.value)
    assert (
        "trained on 4 classes" in message
        and "has 2 classes" in message
        and "SUBSAMPLE_CLASSES new" in message
    )


def test_a_missing_checkpoint_lists_what_is_there(trained, data_root, tmp_path):
    trainer = build(data_root, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model\.pth\.tar-7.*model\.pth\.tar-2"):
        trainer.load_model(str(trained), epoch=7)


def test_best_val_selects_on_the_validation_split_and_tests_once(data_root, tmp_path):
    output = train(data_root, tmp_path, "TEST.FINAL_MODEL", "best_val", epochs=2)
    assert (tmp_path / "prompt_learner" / "model-best.pth.tar").is_file()
    pointer = (tmp_path / "prompt_learner" / "checkpoint").read_text().strip()
    assert pointer == "model.pth.tar-2"  # --resume follows the latest checkpoint, not the best one
    assert output.count("Evaluate on the *val* set") == 2 and output.count("Evaluate on the *test* set") == 1
    best = torch.load(tmp_path / "prompt_learner" / "model-best.pth.tar", weights_only=True)
    assert metrics(tmp_path)["split"] == "test" and metrics(tmp_path)["epoch"] == best["epoch"]
