"""CLIP-Adapter, Tip-Adapter(-F), LinearProbe, LP++ through train.py and Dassl; what their searches read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, TINY_BACKBONE, requires_dassl, train_args

pytestmark = [requires_dassl, pytest.mark.slow]

CLASSNAMES = ("benign tumor", "malignant tumor", "normal scan")
SHOTS, VAL_PER_CLASS, TEST_PER_CLASS = 2, 2, 4
WIDTH, CLASSES, TRAIN_IMAGES = 32, len(CLASSNAMES), SHOTS * len(CLASSNAMES)  # the tiny model's width

# trainer -> (trainable parameters, keys of the saved state)
TRAINERS = {
    "CLIP_Adapter": (2 * WIDTH * WIDTH // 4, {"adapter.down.weight", "adapter.up.weight"}),
    "TipAdapter": (0, {"keys", "values", "alpha", "beta"}),
    "TipAdapter_F": (TRAIN_IMAGES * WIDTH, {"keys", "values", "alpha", "beta"}),
    "LinearProbe": (CLASSES * WIDTH + CLASSES, {"linear.weight", "linear.bias"}),
    "LPPlusPlus": (CLASSES * WIDTH + 2 * CLASSES, {"linear.weight", "linear.bias", "alpha"}),
}
# Small searches and runs, so that the whole file stays fast.
QUICK = (
    "TRAINER.TIP_ADAPTER.SEARCH_STEP", "[20, 20]", "TRAINER.LP.NUM_STEP", "2",
    "TRAINER.LP.C_GRID", "[100.0, 1.0, 0.01]",
)  # fmt: skip


def arguments(data_root: str, out: Path, trainer: str, *flags: str, opts: tuple = ()) -> list[str]:
    opts = ("DATASET.NUM_SHOTS", str(SHOTS), "OPTIM.MAX_EPOCH", "2", *QUICK, *opts)
    return train_args(data_root, out, trainer, *opts, dataset="busi", flags=flags)


DRIVER = """
import json, os, sys
import train
for args in json.loads(sys.argv[1]):
    sys.stdout = os.fdopen(os.dup(1), "w")  # Dassl's logger wraps, and at the end closes, sys.stdout
    train.main(train.parse_args(args))
"""


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory) -> Path:
    """Every trainer trained (fitted) and then evaluated with --eval-only, all in one train.py process."""
    root = tmp_path_factory.mktemp("runs")
    jobs = []
    for name in TRAINERS:
        out = root / name / "out"
        jobs.append(arguments(data_root, out, name))
        jobs.append(arguments(data_root, root / name / "eval", name, "--eval-only", "--model-dir", str(out)))
    base, novel = root / "base2new" / "base", root / "base2new" / "new"
    config = ("--config-file", "configs/trainers/CLIP_Adapter/base_to_novel.yaml")
    jobs.append(
        arguments(data_root, base, "CLIP_Adapter", *config, opts=("DATASET.SUBSAMPLE_CLASSES", "base"))
    )
    flags = (*config, "--eval-only", "--model-dir", str(base))
    jobs.append(
        arguments(data_root, novel, "CLIP_Adapter", *flags, opts=("DATASET.SUBSAMPLE_CLASSES", "new"))
    )
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(jobs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_fits_evaluates_and_eval_only_reproduces(runs, name):
    trainable, state_keys = TRAINERS[name]
    out, evaluated = runs / name / "out", runs / name / "eval"
    report = json.loads((out / "metrics.json").read_text())
    assert report["trainer"] == name and report["num_samples"] == CLASSES * TEST_PER_CLASS
    assert report["trainable_parameters"] == trainable
    pointer = (out / "prompt_learner" / "checkpoint").read_text().strip()
    saved = torch.load(out / "prompt_learner" / pointer, weights_only=True)
    assert set(saved["state_dict"]) == state_keys
    again = json.loads((evaluated / "metrics.json").read_text())
    assert (again["accuracy"], again["macro_f1"]) == (report["accuracy"], report["macro_f1"])
    if name.startswith("TipAdapter"):
        fit = json.loads((out / "fit.json").read_text())
        assert fit["searched_on"] == "val"
        best = (
            torch.load(out / "prompt_learner" / "model-best.pth.tar", weights_only=True)
            if (name == "TipAdapter_F")
            else saved
        )
        assert float(best["state_dict"]["alpha"]) == pytest.approx(fit["alpha"])
        assert float(best["state_dict"]["beta"]) == pytest.approx(fit["beta"])


def test_clip_adapter_scores_new_classes_with_the_base_trained_adapter(runs):
    base = json.loads((runs / "base2new" / "base" / "metrics.json").read_text())
    novel = json.loads((runs / "base2new" / "new" / "metrics.json").read_text())
    assert base["classnames"] == list(CLASSNAMES[:2]) and base["subsample_classes"] == "base"
    assert novel["classnames"] == list(CLASSNAMES[2:]) and novel["subsample_classes"] == "new"
    assert novel["epoch"] == 2 and novel["num_samples"] == TEST_PER_CLASS  # the trained adapter, loaded


@pytest.mark.parametrize("name", ["TipAdapter", "LinearProbe"])
def test_class_specific_weights_refuse_new_classes(runs, data_root, tmp_path, name):
    trainer = build(data_root, tmp_path, name, opts=("DATASET.SUBSAMPLE_CLASSES", "new"))
    with pytest.raises(ValueError, match="only CLIP_Adapter scores new classes"):
        trainer.load_model(str(runs / name / "out"))


def build(data_root: str, out: Path, trainer: str, opts: tuple = ()):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    set_random_seed(1)
    args = train_module.parse_args(arguments(data_root, out, trainer, opts=opts))
    return build_trainer(train_module.setup_cfg(args))


class RecordingLoader:
    """A loader that notes, in a shared log, when it is iterated."""

    def __init__(self, loader, name: str, log: list[str]) -> None:
        self.loader, self.name, self.log = loader, name, log

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        self.log.append(self.name)
        return iter(self.loader)


@pytest.mark.parametrize("name", ["TipAdapter", "TipAdapter_F", "LinearProbe", "LPPlusPlus"])
def test_hyper_parameters_are_chosen_on_validation_features_only(data_root, tmp_path, monkeypatch, name):
    import trainers.feature_baselines as glue

    trainer = build(data_root, tmp_path, name)
    log: list[str] = []
    trainer.test_loader = RecordingLoader(trainer.test_loader, "test", log)
    trainer.val_loader = RecordingLoader(trainer.val_loader, "val", log)
    seen = []
    for function in ("search_alpha_beta", "fit_linear_probe", "fit_lp_plus_plus"):
        original = getattr(glue, function)

        def recording(*args, _original=original, **kwargs):
            seen.append((list(log), [a for a in args if isinstance(a, tuple | torch.Tensor)]))
            return _original(*args, **kwargs)

        monkeypatch.setattr(glue, function, recording)
    trainer.train()
    assert seen, "no search ran"
    val_features, val_labels = trainer.features("val")
    assert len(val_labels) == CLASSES * VAL_PER_CLASS
    for loaders_read, tensors in seen:
        assert "test" not in loaders_read  # the search ran before the test images were read
        flat = [t for a in tensors for t in (a if isinstance(a, tuple) else (a,))]
        assert not any(t.shape[0] == CLASSES * TEST_PER_CLASS for t in flat)
        assert any(t is val_features for t in flat) and any(t is val_labels for t in flat)
    assert log[-1] == "test" and log.count("test") == 1


def test_a_run_without_validation_images_says_so(data_root, tmp_path):
    trainer = build(data_root, tmp_path, "TipAdapter")
    trainer.val_loader = None
    with pytest.raises(ValueError, match="validation"):
        trainer.train()


@pytest.mark.parametrize("name", ["CLIP_Adapter", "TipAdapter", "LPPlusPlus"])
def test_text_through_a_biomedclip_hf_text_tower(data_root, tmp_path, monkeypatch, name):
    """BiomedCLIP's text tower is an HFTextEncoder; the class-name text goes through it."""
    import trainers.frozen_clip
    from tests.hf_text_tower import tiny_biomedclip
    from trainers.backbones import load_backbone

    def biomedclip_shaped(*args, **kwargs):
        return tiny_biomedclip(load_backbone(*args, **kwargs))

    monkeypatch.setattr(trainers.frozen_clip, "load_backbone", biomedclip_shaped)
    trainer = build(data_root, tmp_path / "out", name)
    model = trainer.backbone.model
    assert type(model.text).__name__ == "HFTextEncoder"
    prompts = [f"a photo of a {c}." for c in trainer.classnames]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.text(trainer.backbone.tokenizer(prompts)), dim=-1)
    torch.testing.assert_close(trainer.model.head.text, expected)
    trainer.train()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["trainer"] == name


def test_dassl_loaders_give_the_fast_paths_training_features(data_root, tmp_path):
    fast = build(data_root, tmp_path / "fast", "LinearProbe").features("train")
    plain = build(data_root, tmp_path / "plain", "LinearProbe", opts=("TRAINER.COMMON.FAST_DATA", "False"))
    features, labels = plain.features("train")
    assert torch.equal(labels, fast[1]) and len(labels) == TRAIN_IMAGES
    torch.testing.assert_close(features, fast[0], atol=2e-2, rtol=0)


@pytest.mark.parametrize(
    ("key", "value"), [("SEARCH_STEP", [200]), ("SEARCH_SCALE", [50.0, 0.05]), ("SEARCH_STEP", [0, 10])]
)
def test_tip_adapter_rejects_unusable_search_grids(key, value):
    from yacs.config import CfgNode

    from trainers.feature_baselines import check_tip_cfg

    tip = CfgNode({"SEARCH_SCALE": [50.0, 50.0], "SEARCH_STEP": [200, 200]})
    check_tip_cfg(tip)
    tip[key] = value
    with pytest.raises(ValueError, match=r"TRAINER\.TIP_ADAPTER\.SEARCH_"):
        check_tip_cfg(tip)


@pytest.mark.parametrize(
    ("name", "trainer", "backbone"),
    [
        ("ClipAdapter_BiomedCLIP", "CLIP_Adapter", "BiomedCLIP"),
        ("TIPAdapter_CLIP", "TipAdapter_F", TINY_BACKBONE),
        ("LinearProbe_BiomedCLIP", "LinearProbe", "BiomedCLIP"),
        ("LinearProbe_P2_BiomedCLIP", "LPPlusPlus", "BiomedCLIP"),
        ("LP++", "LPPlusPlus", TINY_BACKBONE),
    ],
)
def test_biomedcoop_method_names_select_our_trainers(data_root, tmp_path, name, trainer, backbone):
    import train as train_module

    args = train_module.parse_args(arguments(data_root, tmp_path, "LPPlusPlus"))
    args.trainer = name
    cfg = train_module.setup_cfg(args)
    chosen = (cfg.TRAINER.NAME, cfg.MODEL.BACKBONE.NAME)
    assert chosen == (trainer, backbone)


@pytest.mark.parametrize("name", ["CLIP_Adapter", "TipAdapter_F"])
def test_a_second_run_in_the_same_folder_resumes_from_its_checkpoint(data_root, tmp_path, name):
    job = arguments(data_root, tmp_path / "out", name)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([job, job])], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Resumed prompt_learner from" in done.stdout and "(epoch 2)" in done.stdout


def test_tip_adapter_cache_keys_are_one_augmented_view_of_each_training_image(data_root, tmp_path):
    plain = build(
        data_root, tmp_path / "plain", "TipAdapter", opts=("TRAINER.TIP_ADAPTER.AUGMENT_EPOCH", "0")
    )
    centre_crops, labels = plain.features("train")
    assert torch.equal(plain.cache_keys()[0], centre_crops)
    keys, key_labels = build(data_root, tmp_path / "augmented", "TipAdapter").cache_keys()
    again, _ = build(data_root, tmp_path / "again", "TipAdapter").cache_keys()
    assert torch.equal(key_labels, labels) and torch.equal(keys, again)  # the run's seed draws the view
    torch.testing.assert_close(keys.norm(dim=-1), torch.ones(TRAIN_IMAGES))
    assert not torch.allclose(keys, centre_crops, atol=1e-3)


def test_biomedcoops_single_few_shot_draw_is_a_switch(data_root, tmp_path):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    def training_images(seed: int, *opts: str) -> list[str]:
        args = arguments(data_root, tmp_path / f"{seed}{len(opts)}", "LinearProbe", opts=opts)
        args[args.index("--seed") + 1] = str(seed)
        set_random_seed(seed)
        trainer = build_trainer(train_module.setup_cfg(train_module.parse_args(args)))
        return sorted(item.impath for item in trainer.dm.dataset.train_x)

    first, second = training_images(1), training_images(2)
    assert first != second  # by default each seed draws its own few-shot set
    assert training_images(2, "DATASET.FEWSHOT_SEED", "1") == first  # BiomedCoOp's: seed 1's draw
