"""The paper's training protocol by default, the published code's with the reference_code preset, and resume.

Each test drives the real trainer through Dassl on a generated DermaMNIST-like set of 7 classes x 16
shots = 112 training images, the size at which the paper's batch (512) and the published code's (64)
part ways.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from attributes.files import DATASETS
from tests.conftest import build_trainer_from, crash_after_first_epoch, requires_dassl, train_args

pytestmark = [requires_dassl, pytest.mark.slow]

CLASSES = DATASETS["dermamnist"].classnames


def build(data_root: str, out: Path, config: str = "few_shot", *overrides: str):
    opts = ("DATASET.NUM_SHOTS", "16", "OPTIM.MAX_EPOCH", "2", "TRAINER.BIOMEDVR.NUM_ATTR", "3")
    opts += ("TRAIN.CHECKPOINT_FREQ", "1", *overrides)
    if config == "reference_code":  # the protocol does not depend on the preset's downloaded files
        opts += ("TRAINER.BIOMEDVR.ATTRIBUTE_SET", "curated")
    return build_trainer_from(
        train_args(data_root, out, "BioMedVR", *opts, dataset="dermamnist", config=config)
    )


def record_steps(trainer) -> list[tuple[int, float]]:
    """(batch size, learning rate) of every optimizer step the trainer takes."""
    steps: list[tuple[int, float]] = []
    step = trainer.model_update

    def counted(names=None):
        steps.append((trainer._last_batch, trainer.optim.param_groups[0]["lr"]))
        step(names)

    parse = trainer.parse_batch_train

    def parsed(batch):
        images, labels = parse(batch)
        trainer._last_batch = len(labels)
        return images, labels

    trainer.model_update, trainer.parse_batch_train = counted, parsed
    return steps


@pytest.mark.parametrize("fast", ["True", "False"])
def test_the_paper_takes_one_step_over_all_112_images_per_epoch(data_root, tmp_path, fast):
    trainer = build(data_root, tmp_path, "few_shot", "TRAINER.COMMON.FAST_DATA", fast)
    steps = record_steps(trainer)
    trainer.train()
    assert [size for size, _ in steps] == [112, 112]  # batch 512: the whole set, two epochs
    assert [lr for _, lr in steps] == pytest.approx([40.0, 20.0])  # cosine per epoch over 2 epochs


@pytest.mark.parametrize("fast", ["True", "False"])
def test_the_reference_preset_takes_64_then_48_and_steps_the_cosine_per_batch(data_root, tmp_path, fast):
    trainer = build(data_root, tmp_path, "reference_code", "TRAINER.COMMON.FAST_DATA", fast)
    steps = record_steps(trainer)
    trainer.train()
    assert [size for size, _ in steps] == [64, 48, 64, 48]  # the last batch is kept
    # The published code: CosineAnnealingLR(T_max = epochs x batches) stepped after every batch.
    published = [40 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    assert [lr for _, lr in steps] == pytest.approx(published)
    assert published == pytest.approx([40.0, 34.142136, 20.0, 5.857864])


def test_one_shot_batch_size_applies_to_one_shot_runs_only(data_root, tmp_path):
    one = build(data_root, tmp_path / "one", "reference_code", "DATASET.NUM_SHOTS", "1")
    assert one.train_batch_size == 16 and len(one.train_loader_x) == 1  # 7 images, one batch of <= 16
    assert build(data_root, tmp_path / "sixteen", "reference_code").train_batch_size == 64


def test_best_test_epoch_is_recorded_and_the_reported_accuracy_stays_honest(data_root, tmp_path, capsys):
    honest = build(data_root, tmp_path / "honest")
    honest.train()
    optimistic = build(data_root, tmp_path / "optimistic", "few_shot", "TEST.EVAL_EVERY_EPOCH", "True")
    optimistic.train()
    plain = json.loads((tmp_path / "honest" / "metrics.json").read_text())
    report = json.loads((tmp_path / "optimistic" / "metrics.json").read_text())
    assert report["accuracy"] == plain["accuracy"] and "best_test_accuracy" not in plain
    history = [
        json.loads(line) for line in (tmp_path / "optimistic" / "history.jsonl").read_text().splitlines()
    ]
    tested = {record["epoch"]: record["test_accuracy"] for record in history}
    assert tested[2] == report["accuracy"]  # the last epoch's evaluation is the final model's
    best_epoch = max(tested, key=tested.get)
    assert (report["best_test_epoch"], report["best_test_accuracy"]) == (best_epoch, tested[best_epoch])
    assert "optimistic: selected on the test set" in capsys.readouterr().out


def test_best_val_survives_a_resume(data_root, tmp_path):
    first = crash_after_first_epoch(build(data_root, tmp_path, "few_shot", "TEST.FINAL_MODEL", "best_val"))
    best = first.best_result
    assert best > -math.inf
    resumed = build(data_root, tmp_path, "few_shot", "TEST.FINAL_MODEL", "best_val")
    assert resumed.resume_model_if_exist(str(tmp_path)) == 1
    assert resumed.best_result == best  # Dassl would start again from -inf and overwrite model-best


def test_the_grad_scaler_state_is_checkpointed_and_restored(data_root, tmp_path):
    class Scaler:
        def __init__(self, scale: float) -> None:
            self.scale = scale

        def state_dict(self) -> dict:
            return {"scale": self.scale}

        def load_state_dict(self, state: dict) -> None:
            self.scale = state["scale"]

    first = build(data_root, tmp_path)
    first.scaler = Scaler(2048.0)
    first.save_model(0, str(tmp_path))
    resumed = build(data_root, tmp_path)
    resumed.scaler = Scaler(65536.0)
    resumed.resume_model_if_exist(str(tmp_path))
    assert resumed.scaler.scale == 2048.0


def test_history_is_cut_back_to_the_resumed_epoch(data_root, tmp_path):
    crash_after_first_epoch(build(data_root, tmp_path))
    history = tmp_path / "history.jsonl"
    with history.open("a") as file:  # as if epoch 2 had been logged before a crash, without its checkpoint
        file.write(json.dumps({"epoch": 2, "lr": 20.0, "loss": 9.9}) + "\n")
    build(data_root, tmp_path).train()
    records = [json.loads(line) for line in history.read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    assert "loss_ce" in records[1] and "loss" not in records[1]  # the real epoch 2, not the stale line
