"""Every trainer trains (where it trains) and evaluates in the same framework; zero-shot BioMedVR by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import build_trainer_from, requires_dassl, train_args

pytestmark = [requires_dassl, pytest.mark.slow]

TRAINED = {"BioMedVR": 301_058, "AttrVR": 150_528, "AR": 150_528, "VP": 3 * 224 * 224, "CoOp": 4 * 32}
ZERO_SHOT = ("ZeroshotCLIP", "AttrVR_ZS", "BioMedVR_ZS")


def build(data_root: str, out: Path, trainer: str, *overrides: str):
    config = "zero_shot" if trainer in ZERO_SHOT else "few_shot"
    opts = ("DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2", *overrides)
    return build_trainer_from(train_args(data_root, out, trainer, *opts, dataset="busi", config=config))


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_trainer_trains_two_epochs_and_evaluates(data_root, tmp_path, name):
    trainer = build(data_root, tmp_path, name)
    assert trainer.num_trainable == TRAINED[name]
    before = {k: v.clone() for k, v in trainer.trainable.state_dict().items()}
    trainer.train()
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["trainer"] == name and report["num_samples"] == 12 and report["epoch"] == 2
    after = trainer.trainable.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    saved = torch.load(tmp_path / "prompt_learner" / "model.pth.tar-2", weights_only=True)["state_dict"]
    assert sum(v.numel() for v in saved.values()) == TRAINED[name]


@pytest.mark.parametrize("name", ZERO_SHOT)
def test_zero_shot_trainers_have_nothing_to_train_and_evaluate(data_root, tmp_path, name):
    trainer = build(data_root, tmp_path, name)
    assert trainer.num_trainable == 0 and trainer.get_model_names() == []
    trainer.load_model("")
    trainer.test()
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["trainer"] == name and report["num_samples"] == 12 and report["gate"] is None


def topk_mean(similarities: list[float], k: int) -> float:
    best = sorted(similarities, reverse=True)[: min(k, len(similarities))]
    return sum(best) / len(best)


def test_biomedvr_zs_logits_by_hand(data_root, tmp_path):
    trainer = build(data_root, tmp_path, "BioMedVR_ZS", "TRAINER.BIOMEDVR.ZS_LAMBDA", "0.25")
    from attributes.files import load_attributes

    backbone, classnames = trainer.backbone, trainer.classnames
    images = torch.rand(2, 3, 224, 224)
    logits = trainer.model(images).fused
    mean = torch.tensor(backbone.mean).view(3, 1, 1)
    std = torch.tensor(backbone.std).view(3, 1, 1)
    z = torch.nn.functional.normalize(backbone.encode_image((images - mean) / std), dim=-1)
    tau = backbone.model.logit_scale.exp().item()
    groups = {
        kind: load_attributes("curated", "busi", kind, classnames) for kind in ("des", "dist", "confuse")
    }
    for b in range(2):
        for c, name in enumerate(classnames):
            score = {}
            for kind, per_class in groups.items():
                text = backbone.encode_text(per_class[name][:20])
                score[kind] = tau * topk_mean((text @ z[b]).tolist(), 3)
            expected = 0.5 * (score["des"] + score["dist"]) - 0.25 * score["confuse"]
            assert logits[b, c].item() == pytest.approx(expected, rel=1e-5)


def test_a_zero_shot_setting_can_be_chosen_on_the_validation_split(data_root, tmp_path):
    trainer = build(data_root, tmp_path, "BioMedVR_ZS", "TEST.SPLIT", "val")
    trainer.test()
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["split"] == "val" and report["num_samples"] == 6


@pytest.mark.parametrize(
    ("overrides", "trainable", "negative", "gated"),
    [
        # w/o MoPE, as the published ablation: one pattern, no gate, logits = s+ (s- for the CS loss)
        (("TRAINER.BIOMEDVR.USE_MOPE", "False"), 150_528, True, False),
        (("TRAINER.BIOMEDVR.USE_CONFUSION_ATTRIBUTES", "False"), 301_058, False, True),
    ],
)
def test_table4_ablation_switches(data_root, tmp_path, overrides, trainable, negative, gated):
    trainer = build(data_root, tmp_path, "BioMedVR", *overrides)
    assert trainer.num_trainable == trainable
    assert (trainer.model.negative_bank is not None) == negative
    scores = trainer.model(torch.rand(2, 3, 192, 192))
    assert scores.negative.shape == (2, 3) and (scores.gate is not None) == gated
    if not gated:
        assert torch.equal(scores.fused, scores.positive)
        assert torch.count_nonzero(scores.negative) > 0
    if not negative:
        assert torch.count_nonzero(scores.negative) == 0
