# ruff: noqa: E501  (the reference table keeps one row per line)
"""The prompt-learning baselines train as BiomedCoOp's files say, for every method x dataset x protocol.

The reference is the table below, transcribed from BiomedCoOp's repository (each row names the file
its values come from; keys a file leaves out are its Dassl's ``dassl/config/defaults.py`` or its
``train.py``'s ``extend_cfg``; N_CTX 4 and 16 base-to-novel shots are its scripts'). It is compared with
the effective config of the train.py call that our scripts plan (``SWEEP_PLAN=1``) on BiomedCLIP.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import requires_dassl
from tools.sweep_grid import plan

pytestmark = requires_dassl

DATASETS = (
    "btmri", "busi", "chmnist", "covid", "ctkidney", "dermamnist", "kneexray", "kvasir", "lungcolon",
    "octmnist", "retina",
)  # fmt: skip
SCRIPTS = {
    "CoOp": "coop",
    "CoCoOp": "cocoop",
    "KgCoOp": "kgcoop",
    "ProGrad": "prograd",
    "BiomedCoOp": "biomedcoop",
}
NODES = {
    "CoOp": "COOP",
    "CoCoOp": "COCOOP",
    "KgCoOp": "KGCOOP",
    "ProGrad": "PROGRAD",
    "BiomedCoOp": "BIOMEDCOOP",
}

# Every file: SGD (momentum 0.9, weight decay 5e-4: Dassl's defaults), cosine, one constant warm-up
# epoch at 1e-5, TRANSFORMS [random_resized_crop, normalize] (no flip), PREC fp32 (extend_cfg).
# (method, protocol) of one file for all datasets -> (file, batch, lr, epochs, method values)
ONE_FILE = {
    ("CoOp", "few_shot"): ("configs/trainers/CoOp/vit_b16.yaml", 32, 0.002, 100, {}),
    ("CoOp", "base2new"): ("configs/trainers/CoOp/vit_b16_base2new.yaml", 32, 0.002, 50, {}),
    ("CoCoOp", "few_shot"): ("configs/trainers/CoCoOp/vit_b16.yaml", 1, 0.001, 10, {}),
    ("CoCoOp", "base2new"): ("configs/trainers/CoCoOp/vit_b16_base2new.yaml", 1, 0.001, 10, {}),
    ("KgCoOp", "base2new"): ("configs/trainers/KgCoOp/vit_b16_base2new.yaml", 128, 0.002, 50, {"W": 8.0}),
    ("ProGrad", "base2new"): (
        "configs/trainers/ProGrad/vit_b16_base2new.yaml", 128, 0.0015, 50, {"T": 1.0, "LAMBDA": 1.0},
    ),
}  # fmt: skip
# (method, protocol, dataset, file, batch, lr, epochs, method values): one file per dataset.
PER_DATASET = [
    ("KgCoOp", "few_shot", "btmri", "configs/trainers/KgCoOp/few_shot/btmri.yaml", 128, 0.002, 100, {"W": 2.0}),
    ("KgCoOp", "few_shot", "busi", "configs/trainers/KgCoOp/few_shot/busi.yaml", 128, 0.002, 100, {"W": 10.0}),
    ("KgCoOp", "few_shot", "chmnist", "configs/trainers/KgCoOp/few_shot/chmnist.yaml", 128, 0.002, 100, {"W": 1.0}),
    ("KgCoOp", "few_shot", "covid", "configs/trainers/KgCoOp/few_shot/covid.yaml", 128, 0.002, 100, {"W": 1.0}),
    ("KgCoOp", "few_shot", "ctkidney", "configs/trainers/KgCoOp/few_shot/ctkidney.yaml", 128, 0.002, 100, {"W": 8.0}),
    ("KgCoOp", "few_shot", "dermamnist", "configs/trainers/KgCoOp/few_shot/dermamnist.yaml", 128, 0.002, 100, {"W": 8.0}),
    ("KgCoOp", "few_shot", "kneexray", "configs/trainers/KgCoOp/few_shot/kneexray.yaml", 128, 0.002, 100, {"W": 4.0}),
    ("KgCoOp", "few_shot", "kvasir", "configs/trainers/KgCoOp/few_shot/kvasir.yaml", 128, 0.002, 100, {"W": 6.0}),
    ("KgCoOp", "few_shot", "lungcolon", "configs/trainers/KgCoOp/few_shot/lungcolon.yaml", 128, 0.002, 100, {"W": 8.0}),
    ("KgCoOp", "few_shot", "octmnist", "configs/trainers/KgCoOp/few_shot/octmnist.yaml", 128, 0.002, 100, {"W": 1.0}),
    ("KgCoOp", "few_shot", "retina", "configs/trainers/KgCoOp/few_shot/retina.yaml", 128, 0.002, 100, {"W": 1.0}),
    ("ProGrad", "few_shot", "btmri", "configs/trainers/ProGrad/few_shot/btmri.yaml", 128, 0.002, 100, {"T": 2.0}),
    ("ProGrad", "few_shot", "busi", "configs/trainers/ProGrad/few_shot/busi.yaml", 128, 0.002, 100, {"T": 0.25}),
    ("ProGrad", "few_shot", "chmnist", "configs/trainers/ProGrad/few_shot/chmnist.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "covid", "configs/trainers/ProGrad/few_shot/covid.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "ctkidney", "configs/trainers/ProGrad/few_shot/ctkidney.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "dermamnist", "configs/trainers/ProGrad/few_shot/dermamnist.yaml", 128, 0.002, 100, {"T": 4.0}),
    ("ProGrad", "few_shot", "kneexray", "configs/trainers/ProGrad/few_shot/kneexray.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "kvasir", "configs/trainers/ProGrad/few_shot/kvasir.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "lungcolon", "configs/trainers/ProGrad/few_shot/lungcolon.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "octmnist", "configs/trainers/ProGrad/few_shot/octmnist.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("ProGrad", "few_shot", "retina", "configs/trainers/ProGrad/few_shot/retina.yaml", 128, 0.002, 100, {"T": 1.0}),
    ("BiomedCoOp", "few_shot", "btmri", "configs/trainers/BiomedCoOp/few_shot/btmri.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.5, "KDSP_LAMBDA": 0.25, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "busi", "configs/trainers/BiomedCoOp/few_shot/busi.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.75, "KDSP_LAMBDA": 0.75, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "chmnist", "configs/trainers/BiomedCoOp/few_shot/chmnist.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.25, "KDSP_LAMBDA": 0.25, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "covid", "configs/trainers/BiomedCoOp/few_shot/covid.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.5, "KDSP_LAMBDA": 2.0, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "ctkidney", "configs/trainers/BiomedCoOp/few_shot/ctkidney.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 1.0, "KDSP_LAMBDA": 0.5, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "dermamnist", "configs/trainers/BiomedCoOp/few_shot/dermamnist.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 5.0, "KDSP_LAMBDA": 20.0, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "kneexray", "configs/trainers/BiomedCoOp/few_shot/kneexray.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 5.0, "KDSP_LAMBDA": 20.0, "TAU": 1.75}),
    ("BiomedCoOp", "few_shot", "kvasir", "configs/trainers/BiomedCoOp/few_shot/kvasir.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.75, "KDSP_LAMBDA": 0.75, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "lungcolon", "configs/trainers/BiomedCoOp/few_shot/lungcolon.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.5, "KDSP_LAMBDA": 0.5, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "octmnist", "configs/trainers/BiomedCoOp/few_shot/octmnist.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 1.0, "KDSP_LAMBDA": 0.75, "TAU": 1.5}),
    ("BiomedCoOp", "few_shot", "retina", "configs/trainers/BiomedCoOp/few_shot/retina.yaml", 4, 0.0025, 100, {"SCCM_LAMBDA": 0.25, "KDSP_LAMBDA": 0.25, "TAU": 1.5}),
    ("BiomedCoOp", "base2new", "btmri", "configs/trainers/BiomedCoOp/base_to_novel/btmri.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 0.5, "KDSP_LAMBDA": 0.5, "TAU": 1.25}),
    # BiomedCoOp ships no base_to_novel/busi.yaml: its train.py's extend_cfg defaults
    ("BiomedCoOp", "base2new", "busi", "train.py (extend_cfg)", 4, 0.0025, 50, {"SCCM_LAMBDA": 1.0, "KDSP_LAMBDA": 1.0, "TAU": 1.5}),
    ("BiomedCoOp", "base2new", "chmnist", "configs/trainers/BiomedCoOp/base_to_novel/chmnist.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 10.0, "KDSP_LAMBDA": 1.0, "TAU": 1.5}),
    ("BiomedCoOp", "base2new", "covid", "configs/trainers/BiomedCoOp/base_to_novel/covid.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 20.0, "KDSP_LAMBDA": 1.0, "TAU": 1.25}),
    ("BiomedCoOp", "base2new", "ctkidney", "configs/trainers/BiomedCoOp/base_to_novel/ctkidney.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 10.0, "KDSP_LAMBDA": 0.25, "TAU": 1.25}),
    ("BiomedCoOp", "base2new", "dermamnist", "configs/trainers/BiomedCoOp/base_to_novel/dermamnist.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 2.0, "KDSP_LAMBDA": 0.5, "TAU": 1.5}),
    ("BiomedCoOp", "base2new", "kneexray", "configs/trainers/BiomedCoOp/base_to_novel/kneexray.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 0.25, "KDSP_LAMBDA": 3.0, "TAU": 1.25}),
    ("BiomedCoOp", "base2new", "kvasir", "configs/trainers/BiomedCoOp/base_to_novel/kvasir.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 1.0, "KDSP_LAMBDA": 1.0, "TAU": 1.25}),
    ("BiomedCoOp", "base2new", "lungcolon", "configs/trainers/BiomedCoOp/base_to_novel/lungcolon.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 0.25, "KDSP_LAMBDA": 0.75, "TAU": 1.25}),
    ("BiomedCoOp", "base2new", "octmnist", "configs/trainers/BiomedCoOp/base_to_novel/octmnist.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 0.75, "KDSP_LAMBDA": 0.5, "TAU": 1.5}),
    ("BiomedCoOp", "base2new", "retina", "configs/trainers/BiomedCoOp/base_to_novel/retina.yaml", 4, 0.0025, 50, {"SCCM_LAMBDA": 5.0, "KDSP_LAMBDA": 1.0, "TAU": 2.0}),
]  # fmt: skip
ROWS = PER_DATASET + [
    (method, protocol, dataset, *values)
    for (method, protocol), values in ONE_FILE.items()
    for dataset in DATASETS
]


def planned_training_call(method: str, protocol: str, dataset: str) -> tuple[str, ...]:
    """The train.py arguments of seed 1's training run, as scripts/<method>/<protocol>.sh plans it."""
    script = f"scripts/{SCRIPTS[method]}/{'base2new' if protocol == 'base2new' else 'few_shot'}.sh"
    args = [dataset, "BiomedCLIP"] if protocol == "base2new" else [dataset, "16", "BiomedCLIP"]
    calls, _ = plan([script, *args], {"SEEDS": "1", "SHOTS": "16"})
    (training,) = [call for call in calls if "--eval-only" not in call]
    return training


@pytest.fixture(scope="module")
def planned() -> dict[tuple[str, str, str], tuple[str, ...]]:
    keys = sorted({row[:3] for row in ROWS})
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(keys, pool.map(lambda key: planned_training_call(*key), keys), strict=True))


def test_the_table_covers_every_method_dataset_and_protocol():
    cells = {row[:3] for row in ROWS}
    assert len(cells) == len(ROWS) == len(SCRIPTS) * len(DATASETS) * 2


@pytest.mark.parametrize("row", ROWS, ids=lambda row: "-".join(row[:3]))
def test_planned_config_equals_biomedcoops(row, planned):
    import train
    from trainers.fast_data import CROP_SCALE, Augmentation
    from trainers.loaders import train_augmentation

    method, protocol, dataset, source, batch, lr, epochs, values = row
    cfg = train.setup_cfg(train.parse_args(list(planned[method, protocol, dataset])))
    where = f"{method} {protocol} {dataset} (BiomedCoOp's {source})"
    optim, node = cfg.OPTIM, cfg.TRAINER[NODES[method]]
    effective = {
        "trainer": cfg.TRAINER.NAME,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "shots": cfg.DATASET.NUM_SHOTS,
        "batch": cfg.DATALOADER.TRAIN_X.BATCH_SIZE,
        "one-shot batch": cfg.TRAINER.COMMON.ONE_SHOT_BATCH_SIZE,
        "optimizer": (optim.NAME, optim.LR, optim.MOMENTUM, optim.WEIGHT_DECAY, optim.MAX_EPOCH),
        "schedule": (optim.LR_SCHEDULER, cfg.TRAINER.COMMON.LR_STEP),
        "warm-up": (optim.WARMUP_EPOCH, optim.WARMUP_TYPE, optim.WARMUP_CONS_LR),
        "model": (
            cfg.TEST.FINAL_MODEL,
            node.PREC,
            node.N_CTX,
            node.CTX_INIT,
            node.CSC,
            node.CLASS_TOKEN_POSITION,
        ),
        "augmentation": train_augmentation(cfg),
        **{key: node[key] for key in values},
    }
    expected = {
        "trainer": method,
        "backbone": "BiomedCLIP",
        "shots": 16,
        "batch": batch,
        "one-shot batch": 0,
        "optimizer": ("sgd", lr, 0.9, 5e-4, epochs),
        "schedule": ("cosine", "epoch"),
        "warm-up": (1, "constant", 1e-5),
        "model": ("last_step", "fp32", 4, "a photo of a", False, "end"),
        "augmentation": Augmentation(crop=True, flip=False, scale=CROP_SCALE),
        **values,
    }
    assert effective == expected, where
    if protocol == "base2new":
        assert cfg.DATASET.SUBSAMPLE_CLASSES == "base", where
    if method == "ProGrad":
        assert (node.NAME, node.TEACHER) == ("prograd", "zero_shot"), where
    if method == "BiomedCoOp":
        assert (node.N_PROMPTS, node.PROMPTS, node.PRUNING) == (50, "biomedcoop", "code"), where
