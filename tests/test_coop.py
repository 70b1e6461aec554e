"""CoOp on open_clip: the prompt path against encode_text, what trains (without Dassl), and a train /
eval-only round trip through Dassl."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from yacs.config import CfgNode

from datasets.catalog import CATALOG
from tests.conftest import REPO, TINY_BACKBONE, requires_dassl, run_train_py
from tools.synthetic_data import make_dataset
from trainers.config import extend_cfg
from trainers.schedule import build_scheduler
from trainers.text_prompts import CoOpCLIP, PromptLearner, check_prompt_cfg

CLASSES = list(CATALOG["btmri"].classnames)
N_CTX = 4


@pytest.fixture
def cfg() -> CfgNode:
    from dassl.config import get_cfg_default

    config = get_cfg_default()
    extend_cfg(config)
    return config


def project_keys() -> CfgNode:
    """This project's keys alone, on the nodes Dassl would provide (no Dassl needed)."""
    config = CfgNode({"DATASET": {}, "DATALOADER": {}, "MODEL": {"BACKBONE": {}}, "TEST": {}, "TRAINER": {}})
    extend_cfg(config)
    return config


def text_width(backbone) -> int:
    return backbone.model.token_embedding.weight.shape[1]


def test_initial_prompts_equal_encode_text(tiny_backbone):
    learner = PromptLearner(tiny_backbone, CLASSES, N_CTX, "a photo of a")
    features = learner()
    assert features.shape == (len(CLASSES), tiny_backbone.model.text_projection.shape[1])
    expected = tiny_backbone.encode_text([f"a photo of a {name}." for name in CLASSES])
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("ctx_init", "csc"), [("a photo of a", False), ("a photo of a", True), ("", True)])
def test_only_the_context_trains(tiny_backbone, ctx_init, csc):
    model = CoOpCLIP(PromptLearner(tiny_backbone, CLASSES, N_CTX, ctx_init, csc), tiny_backbone)
    params = dict(model.named_parameters())
    assert list(params) == ["prompt_learner.context.ctx"]
    shape = (len(CLASSES), N_CTX, text_width(tiny_backbone)) if csc else (N_CTX, text_width(tiny_backbone))
    assert params["prompt_learner.context.ctx"].shape == shape
    assert model.prompt_learner.context.state_dict().keys() == {"ctx"}
    if not ctx_init:
        assert 0.01 < params["prompt_learner.context.ctx"].std().item() < 0.03


def test_gradients_reach_the_context_only(tiny_backbone):
    torch.manual_seed(0)
    model = CoOpCLIP(PromptLearner(tiny_backbone, CLASSES, N_CTX, "", csc=False), tiny_backbone)
    scores = model(torch.rand(3, 3, 224, 224))
    assert scores.fused.shape == (3, len(CLASSES)) and scores.negative is None and scores.gate is None
    torch.nn.functional.cross_entropy(scores.fused, torch.tensor([0, 1, 2])).backward()
    assert model.prompt_learner.context.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_backbone.model.parameters())


def test_rejects_other_class_token_positions():
    coop = project_keys().TRAINER.COOP
    check_prompt_cfg(coop, "TRAINER.COOP")
    coop.CLASS_TOKEN_POSITION = "middle"
    with pytest.raises(ValueError, match="CLASS_TOKEN_POSITION"):
        check_prompt_cfg(coop, "TRAINER.COOP")


@requires_dassl
def test_constant_warmup_then_cosine(cfg):
    cfg.merge_from_file(str(REPO / "configs" / "trainers" / "CoOp" / "few_shot.yaml"))
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.OPTIM.LR)
    scheduler = build_scheduler(optimizer, cfg.OPTIM)
    lrs = []
    for _ in range(cfg.OPTIM.MAX_EPOCH):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    cosine = [0.002 * (1 + math.cos(math.pi * step / 100)) / 2 for step in (0, 1, 98)]
    assert lrs[:3] + lrs[-1:] == pytest.approx([1e-5, *cosine], rel=1e-12)


def run_train(root: Path, output: Path, *extra: str) -> None:
    args = [
        "--root", str(root), "--seed", "1", "--trainer", "CoOp",
        "--dataset-config-file", "configs/datasets/btmri.yaml",
        "--config-file", "configs/trainers/CoOp/few_shot.yaml",
        "--output-dir", str(output), *extra,
        "MODEL.BACKBONE.NAME", TINY_BACKBONE, "OPTIM.MAX_EPOCH", "1",
        "DATASET.NUM_SHOTS", "4", "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    run_train_py(*args)


@pytest.mark.slow
@requires_dassl
def test_train_then_eval_only_reproduces_accuracy(tmp_path, tiny_backbone):
    make_dataset(str(tmp_path / "data"), "BTMRI")
    out = tmp_path / "out"
    run_train(tmp_path / "data", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainer"] == "CoOp"
    assert metrics["trainable_parameters"] == N_CTX * text_width(tiny_backbone)
    checkpoint = torch.load(out / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    assert list(checkpoint["state_dict"]) == ["ctx"]
    assert checkpoint["state_dict"]["ctx"].shape == (N_CTX, text_width(tiny_backbone))

    evaluated = tmp_path / "eval"
    load = ("--eval-only", "--model-dir", str(out), "--load-epoch", "1")
    run_train(tmp_path / "data", evaluated, *load, "TRAINER.COMMON.SAVE_EMBEDDINGS", "True")
    again = json.loads((evaluated / "metrics.json").read_text())
    assert again["accuracy"] == metrics["accuracy"]
    assert again["macro_f1"] == metrics["macro_f1"]
    assert (evaluated / "embeddings.npz").is_file()
