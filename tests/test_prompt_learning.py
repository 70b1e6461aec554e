"""The prompt-learning trainers: model paths on both text towers (no Dassl), then train.py end to end.

Model tests run on the tiny CLIP and on a tiny BiomedCLIP-shaped backbone (HF-style text tower,
``tests/hf_text_tower.py``). The end-to-end tests train each method for one epoch on the base classes
through train.py and Dassl (under BiomedCoOp's trainer names), evaluate, re-evaluate with
``--eval-only`` and evaluate on the new classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from datasets.catalog import CATALOG
from tests.conftest import TINY_BACKBONE, requires_dassl, run_train_py
from tests.hf_text_tower import tiny_biomedclip
from trainers.aliases import resolve_trainer_alias
from trainers.text_prompts import CoOpCLIP, PromptLearner

CLASSES = list(CATALOG["btmri"].classnames)
N_CTX, WIDTH, EMBED = 4, 32, 32  # the tiny CLIP's text width and embedding size
META_NET = EMBED * (EMBED // 16) + EMBED // 16 + (EMBED // 16) * WIDTH + WIDTH  # Linear-ReLU-Linear


@pytest.fixture(scope="module")
def hf_backbone(tiny_backbone):
    return tiny_biomedclip(tiny_backbone)


@pytest.fixture(params=["clip", "hf"])
def backbone(request, tiny_backbone, hf_backbone):
    return tiny_backbone if request.param == "clip" else hf_backbone


def test_hf_prompts_equal_encode_text(hf_backbone):
    """The inputs_embeds path reproduces HFTextEncoder.forward on the same prompts."""
    learner = PromptLearner(hf_backbone, CLASSES, N_CTX, "a photo of a")
    expected = hf_backbone.encode_text([f"a photo of a {name}." for name in CLASSES])
    torch.testing.assert_close(learner(), expected, atol=1e-5, rtol=0)


def test_cocoop_trains_context_and_meta_net(backbone):
    torch.manual_seed(0)
    learner = PromptLearner(backbone, CLASSES, N_CTX, "a photo of a", conditional=True)
    model = CoOpCLIP(learner, backbone)
    width = learner.context.ctx.shape[-1]
    hidden = EMBED // 16
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "prompt_learner.context.ctx": (N_CTX, width),
        "prompt_learner.context.meta_net.linear1.weight": (hidden, EMBED),
        "prompt_learner.context.meta_net.linear1.bias": (hidden,),
        "prompt_learner.context.meta_net.linear2.weight": (width, hidden),
        "prompt_learner.context.meta_net.linear2.bias": (width,),
    }
    scores = model(torch.rand(3, 3, 224, 224))
    assert scores.fused.shape == (3, len(CLASSES)) and scores.text.shape == (3, len(CLASSES), EMBED)
    torch.nn.functional.cross_entropy(scores.fused, torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.context.parameters())
    assert all(p.grad is None for p in backbone.model.parameters())


def test_cocoop_prompts_are_coop_prompts_shifted_per_image(backbone):
    """With the meta-net's output bias b and no weights, every image's prompts carry ctx + b."""
    learner = PromptLearner(backbone, CLASSES, N_CTX, "a photo of a", conditional=True)
    net = learner.context.meta_net
    with torch.no_grad():
        net.linear2.weight.zero_()
        net.linear2.bias.normal_()
        per_image = learner(torch.nn.functional.normalize(torch.randn(2, EMBED), dim=-1))
        learner.context.ctx += net.linear2.bias
        learner.context.meta_net = None
        shifted = learner()
    torch.testing.assert_close(per_image, shifted.expand(2, -1, -1), atol=1e-5, rtol=0)


def test_cocoop_needs_a_shared_context(tiny_backbone):
    with pytest.raises(ValueError, match="CSC False"):
        PromptLearner(tiny_backbone, CLASSES, N_CTX, "a photo of a", csc=True, conditional=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CoOp", ("CoOp", None)),
        ("CoOp_BiomedCLIP", ("CoOp", "BiomedCLIP")),
        ("CoOp_PubMedCLIP", ("CoOp", "PubMedCLIP")),
        ("KgCoOp_PMCCLIP", ("KgCoOp", "PMC-CLIP")),
        ("KgCoOp_CLIP", ("KgCoOp", None)),
        ("AttrVR_ZS", ("AttrVR_ZS", None)),
        ("Nothing_BiomedCLIP", ("Nothing_BiomedCLIP", None)),
    ],
)
def test_biomedcoop_trainer_names(name, expected):
    known = {"CoOp", "KgCoOp", "AttrVR_ZS"}
    assert resolve_trainer_alias(name, known.__contains__) == expected


# ----- end to end through train.py and Dassl ---------------------------------------------------------
TRAINABLE = {"CoCoOp": N_CTX * WIDTH + META_NET, "BiomedCoOp": N_CTX * WIDTH, "KgCoOp": N_CTX * WIDTH}
TRAINABLE["ProGrad"] = N_CTX * WIDTH
LOSS_PARTS = {"CoCoOp": set(), "BiomedCoOp": {"ce", "sccm", "kdsp", "kept_prompts"}}
LOSS_PARTS |= {"KgCoOp": {"ce", "kg_distance"}, "ProGrad": {"kl"}}


def train_py(data_root: Path, output: Path, trainer: str, *extra: str) -> None:
    method = trainer.split("_")[0]
    args = [
        "--root", str(data_root), "--seed", "1", "--trainer", trainer,
        "--dataset-config-file", "configs/datasets/btmri.yaml",
        "--config-file", f"configs/trainers/{method}/base_to_novel.yaml",
        "--output-dir", str(output), *extra,
        "MODEL.BACKBONE.NAME", TINY_BACKBONE, "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "TRAINER.BIOMEDCOOP.PROMPTS", "curated",  # offline: our attributes instead of BiomedCoOp's table
    ]  # fmt: skip
    run_train_py(*args)


@requires_dassl
@pytest.mark.parametrize("method", sorted(TRAINABLE))
def test_trains_evaluates_and_runs_base_to_novel(data_root, tmp_path, method):
    base = tmp_path / "base"
    train_py(data_root, base, f"{method}_CLIP", "DATASET.SUBSAMPLE_CLASSES", "base")
    metrics = json.loads((base / "metrics.json").read_text())
    assert metrics["trainer"] == method and metrics["classnames"] == CLASSES[:2]
    assert metrics["trainable_parameters"] == TRAINABLE[method]
    history = json.loads((base / "history.jsonl").read_text().splitlines()[-1])
    assert LOSS_PARTS[method] | {"loss", "acc"} <= set(history)

    load = ("--eval-only", "--model-dir", str(base), "--load-epoch", "1")
    train_py(data_root, tmp_path / "again", method, *load, "DATASET.SUBSAMPLE_CLASSES", "base")
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert (again["accuracy"], again["macro_f1"], again["epoch"]) == (
        metrics["accuracy"],
        metrics["macro_f1"],
        1,
    )

    train_py(data_root, tmp_path / "new", method, *load, "DATASET.SUBSAMPLE_CLASSES", "new")
    new = json.loads((tmp_path / "new" / "metrics.json").read_text())
    assert new["classnames"] == CLASSES[2:] and new["num_samples"] == 8


# BiomedCoOp-style trainer files (key sets written here, in the layout its configs use).
BIOMEDCOOP_STYLE = {
    "CoCoOp": '  COCOOP:\n    N_CTX: 4\n    CTX_INIT: "a photo of a"\n    PREC: "fp32"\n    CSC: False\n',
    "BiomedCoOp": '  BIOMEDCOOP:\n    CTX_INIT: "a photo of a"\n    SCCM_LAMBDA: 0.75\n'
    "    KDSP_LAMBDA: 0.25\n    TAU: 1.25\n    N_PROMPTS: 50\n",
    "KgCoOp": '  KGCOOP:\n    N_CTX: 4\n    CTX_INIT: "a photo of a"\n    W: 8.0\n',
    "ProGrad": '  PROGRAD:\n    N_CTX: 4\n    CTX_INIT: "a photo of a"\n    NAME: "prograd"\n    T: 2.0\n',
    "CoOp": '  COOP:\n    CTX_INIT: "a photo of a"\n    N_CTX: 4\n    PREC: "amp"\n',
}
BIOMEDCOOP_COMMON = """INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "normalize"]
OPTIM:
  NAME: "sgd"
  LR: 0.0025
  MAX_EPOCH: 50
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5
TRAIN:
  PRINT_FREQ: 20
MODEL:
  BACKBONE:
    NAME: "ViT-B/16"
TRAINER:
"""


@requires_dassl
@pytest.mark.parametrize("method", sorted(BIOMEDCOOP_STYLE))
def test_biomedcoop_style_trainer_files_load_unchanged(tmp_path, method):
    from dassl.engine import TRAINER_REGISTRY

    import train as train_module
    from trainers.fast_data import Augmentation
    from trainers.loaders import train_augmentation

    path = tmp_path / f"{method}.yaml"
    path.write_text(BIOMEDCOOP_COMMON + BIOMEDCOOP_STYLE[method])
    args = train_module.parse_args(["--trainer", f"{method}_BiomedCLIP", "--config-file", str(path)])
    cfg = train_module.setup_cfg(args)
    assert method == cfg.TRAINER.NAME
    assert cfg.MODEL.BACKBONE.NAME == "BiomedCLIP"
    assert cfg.OPTIM.LR == 0.0025 and cfg.TRAINER[method.upper()].CTX_INIT == "a photo of a"
    trainer_class = TRAINER_REGISTRY.get(method)
    trainer_class.check_cfg(object.__new__(trainer_class), cfg)
    assert train_augmentation(cfg) == Augmentation(crop=True, flip=False)  # the file's transforms
    precision = "amp" if method == "CoOp" else "fp32"  # fp32: BiomedCoOp's default where a file has none
    assert precision == cfg.TRAINER[method.upper()].PREC


HF_WIDTH = 48  # the text width of tests/hf_text_tower.py
HF_TRAINABLE = {"CoOp": N_CTX * HF_WIDTH, "KgCoOp": N_CTX * HF_WIDTH, "ProGrad": N_CTX * HF_WIDTH}
HF_TRAINABLE |= {"BiomedCoOp": N_CTX * HF_WIDTH}
HF_TRAINABLE["CoCoOp"] = N_CTX * HF_WIDTH + EMBED * 2 + 2 + 2 * HF_WIDTH + HF_WIDTH


@requires_dassl
@pytest.mark.parametrize("method", sorted(HF_TRAINABLE))
def test_trains_with_the_biomedclip_style_text_tower(data_root, tmp_path, monkeypatch, method):
    """Each method trains and tests in Dassl with the HF-style (BiomedCLIP) text tower, in process."""
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module
    import trainers.frozen_clip
    from trainers.backbones import load_backbone

    def biomedclip_style(*args, **kwargs):
        return tiny_biomedclip(load_backbone(TINY_BACKBONE))

    monkeypatch.setattr(trainers.frozen_clip, "load_backbone", biomedclip_style)
    config = f"configs/trainers/{method}/few_shot.yaml"
    args = train_module.parse_args(
        [
            "--root", str(data_root), "--seed", "1", "--output-dir", str(tmp_path), "--trainer", method,
            "--dataset-config-file", "configs/datasets/btmri.yaml", "--config-file", config,
            "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2", "DATALOADER.NUM_WORKERS", "0",
            "TRAINER.BIOMEDCOOP.PROMPTS", "curated",
        ]
    )  # fmt: skip
    set_random_seed(1)
    trainer = build_trainer(train_module.setup_cfg(args))
    assert trainer.num_trainable == HF_TRAINABLE[method]
    before = {key: value.clone() for key, value in trainer.trainable.state_dict().items()}
    trainer.train()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["trainer"] == method and metrics["num_samples"] == 16
    after = trainer.trainable.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before)
