"""Every trainer that trains resumes a crashed run from its last checkpoint and ends where an
uninterrupted run ends (tiny model, 2 epochs, a checkpoint after each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import build_trainer_from, crash_after_first_epoch, requires_dassl, train_args
from trainers.methods import FEW_SHOT, METHODS

pytestmark = requires_dassl

# Trainers whose few-shot run trains over epochs (the fitted and zero-shot ones have nothing to resume).
TRAINING = [row.name for row in METHODS if FEW_SHOT in row.protocols and row.name not in
            ("LinearProbe", "LPPlusPlus", "TipAdapter")]  # fmt: skip
QUICK = (
    "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1",
    "TRAINER.BIOMEDVR.NUM_ATTR", "3", "TRAINER.TIP_ADAPTER.SEARCH_STEP", "[5, 5]",
    "TRAINER.BIOMEDCOOP.PROMPTS", "curated",  # BiomedCoOp's own table is downloaded, and tests are offline
)  # fmt: skip


def build(data_root: str, out: Path, method: str):
    return build_trainer_from(train_args(data_root, out, method, *QUICK))


def test_the_list_holds_every_trainer_that_trains():
    from dassl.engine import TRAINER_REGISTRY

    from trainers.methods import import_trainers

    import_trainers()
    assert [row.name for row in METHODS if TRAINER_REGISTRY.get(row.name).trains] == TRAINING


@pytest.mark.parametrize("method", TRAINING)
def test_a_crashed_run_resumes_after_its_last_checkpoint(data_root, tmp_path, method):
    whole = build(data_root, tmp_path / "whole", method)
    whole.train()
    crash_after_first_epoch(build(data_root, tmp_path / "run", method))
    resumed = build(data_root, tmp_path / "run", method)
    resumed.train()
    assert resumed.start_epoch == 1
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [1, 2]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    expected = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert (metrics["epoch"], metrics["accuracy"]) == (expected["epoch"], expected["accuracy"])
    mine, theirs = resumed.trainable.state_dict(), whole.trainable.state_dict()
    for key, value in theirs.items():
        torch.testing.assert_close(mine[key], value, msg=f"{method}: {key} differs after the resume")
