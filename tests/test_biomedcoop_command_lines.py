"""BiomedCoOp's command lines (DATA DATASET [SHOTS] MODEL) plan the same train.py calls as ours."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import run_bash
from trainers.methods import METHODS

# BiomedCoOp's model names (its scripts' last argument) and the backbones they are here.
MODELS = {"CLIP": "ViT-B/16", "BiomedCLIP": "BiomedCLIP", "PubMedCLIP": "PubMedCLIP", "PMCCLIP": "PMC-CLIP"}
# BiomedCoOp's script folders with a few_shot.sh and with a base2new.sh.
FEW_SHOT = ["coop", "cocoop", "kgcoop", "prograd", "biomedcoop", "clip_adapter", "linear_probe"]
FEW_SHOT += ["linear_probe2", "tip_adapter"]
BASE2NEW = ["coop", "cocoop", "kgcoop", "prograd", "biomedcoop"]
# BiomedCoOp's script paths that differ from ours -> ours (the method table's).
OUR_SCRIPTS = {path: f"{row.script}/{script}" for row in METHODS for path, script in row.biomedcoop_scripts}


def plan(script: str, *args: str, **env: str) -> str:
    """The train.py calls a script would make (SWEEP_PLAN=1), one per line."""
    result = run_bash([f"scripts/{script}", *args], env={"SWEEP_PLAN": "1", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\0", " ")


def assert_same_plan(script: str, biomedcoop_args: list[str], our_args: list[str], **env: str) -> None:
    theirs = plan(script, "data", *biomedcoop_args, DATA="elsewhere", **env)
    ours = plan(OUR_SCRIPTS.get(script, script), *our_args, DATA="data", **env)
    assert theirs == ours
    assert theirs.count("train.py --root data ") == 3  # one call per seed (1, 2, 3)


@pytest.mark.parametrize(
    ("folder", "model"), list(zip(FEW_SHOT, itertools.cycle(MODELS), strict=False)), ids="-".join
)
def test_few_shot(folder, model):
    assert_same_plan(f"{folder}/few_shot.sh", ["btmri", "16", model], ["btmri", "16", MODELS[model]])


@pytest.mark.parametrize(
    ("folder", "model"), list(zip(BASE2NEW, itertools.cycle(reversed(MODELS)), strict=False)), ids="-".join
)
def test_base_to_novel(folder, model):
    theirs = plan(f"{folder}/base2new.sh", "data", "btmri", model, DATA="elsewhere")
    assert theirs == plan(f"{folder}/base2new.sh", "btmri", MODELS[model], DATA="data")
    assert f"MODEL.BACKBONE.NAME {MODELS[model]} " in theirs and "--root elsewhere" not in theirs


def test_biomedcoops_paths_that_differ_are_these():
    assert OUR_SCRIPTS == {
        "linear_probe2/few_shot.sh": "lp_plus_plus/few_shot.sh",
        "zeroshot/zeroshot.sh": "zeroshot/zero_shot.sh",
    }


@pytest.mark.parametrize("model", MODELS)
def test_zero_shot(model):
    theirs = plan("zeroshot/zeroshot.sh", "data", "btmri", model, DATA="elsewhere")
    assert theirs == plan("zeroshot/zero_shot.sh", "btmri", MODELS[model], DATA="data")
    assert "--root data --output-dir output/btmri/shots_0/ZeroshotCLIP/" in theirs


def test_eval_fewshot_evaluates_biomedclip_runs(tmp_path):
    for seed in (1, 2, 3):
        (tmp_path / f"btmri/shots_16/BiomedCoOp/biomedclip/seed{seed}").mkdir(parents=True)
    env = {"OUTPUT": str(tmp_path)}
    theirs = plan("biomedcoop/eval_fewshot.sh", "data", "btmri", "16", DATA="elsewhere", **env)
    assert theirs == plan("biomedcoop/eval_fewshot.sh", "btmri", "16", "BiomedCLIP", DATA="data", **env)
    assert theirs.count("--eval-only") == 3


def test_our_order_with_overrides_is_never_taken_for_biomedcoops():
    """DATASET SHOTS KEY VALUE and DATASET KEY VALUE keep their meaning, even with a model name as VALUE."""
    ours = plan("coop/few_shot.sh", "btmri", "4", "MODEL.BACKBONE.NAME", "BiomedCLIP", DATA="data")
    assert "--root data" in ours and "MODEL.BACKBONE.NAME ViT-B/16 DATASET.NUM_SHOTS 4 " in ours
    ours = plan("zeroshot/zero_shot.sh", "btmri", "MODEL.BACKBONE.NAME", "CLIP", DATA="data")
    assert "--root data" in ours and ours.count("MODEL.BACKBONE.NAME CLIP") == 1
