"""train.py end to end with Dassl: a tiny random open_clip model on a generated dataset in the real layout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import REPO, TINY_BACKBONE, hold_lock, requires_dassl, run_bash
from tools.synthetic_data import make_dataset
from trainers.encoding import Scores
from trainers.metrics import classification_report

pytestmark = [requires_dassl, pytest.mark.slow]

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
    assert {"loss_ce", "loss_cs", "acc", "gate", "seconds"} <= set(history[0])
    assert all(record["seconds"] > 0 for record in history)  # the epoch's training time (Table 2)
    files = sorted(p.name for p in (trained / "prompt_learner").iterdir())
    assert files == ["checkpoint", "model.pth.tar-2"]  # the epoch-1 checkpoint was replaced
    size = (trained / "prompt_learner" / "model.pth.tar-2").stat().st_size
    # delta+, delta-, w and SGD's momentum of each (2 x 1.2 MB); never the CLIP weights
    assert size < 2.6e6
    state = checkpoint(trained, 2)
    assert set(state["state_dict"]) == {"prompt.delta", "gate_logits"}
    assert state["epoch"] == 2 and state["classnames"][0] == "glioma tumor"
    assert state["scheduler"]["last_epoch"] == 2  # the cosine schedule was stepped every epoch
    assert (state["trainer"], state["max_epoch"], state["input_size"]) == ("BioMedVR", 2, 192)


def test_the_epoch_line_shows_the_epochs_own_learning_rate(trained):
    lines = [line for line in (trained / "log.txt").read_text().splitlines() if line.startswith("epoch [")]
    assert [line.split(" lr ")[1].split()[0] for line in lines] == ["4.0000e+01", "2.0000e+01"]


def test_metrics_record_the_images_used_per_class(trained):
    shots = metrics(trained)["shots_per_class"]
    assert shots == {"glioma tumor": 4, "meningioma tumor": 4, "pituitary tumor": 4, "normal brain": 4}


@torch.no_grad()
def scores_outside_the_trainer(
    model_dir: Path, classnames: list[str], data_root: str
) -> tuple[Scores, torch.Tensor]:
    """Scores of the test split under the epoch-2 checkpoint of ``model_dir``, and the labels.

    The model is assembled from its parts with the config defaults (curated attributes, NUM_ATTR 20,
    TOPK 3, INPUT_SIZE 192); the test images are read from the split file with the reference transform.
    """
    from trainers.attribute_bank import load_attribute_bank
    from trainers.backbones import load_backbone
    from trainers.fast_data import pil_transforms
    from trainers.mope import MixtureOfPromptExperts, PromptExperts
    from trainers.reprogram import PaddingPrompt

    backbone = load_backbone(TINY_BACKBONE)
    banks = {
        kind: load_attribute_bank("curated", "BTMRI", kind, classnames, backbone.encode_text, 20)
        for kind in ("des", "dist", "confuse")
    }
    experts = PromptExperts(
        PaddingPrompt(2, backbone.image_size, 192, backbone.mean, backbone.std), gated=True
    )
    experts.load_state_dict(checkpoint(model_dir, 2)["state_dict"])
    model = MixtureOfPromptExperts(
        experts, backbone, [banks["des"], banks["dist"]], banks["confuse"], 3
    ).eval()
    dataset = Path(data_root) / "BTMRI"
    test = json.loads((dataset / "split_BTMRI.json").read_text())["test"]
    assert [classnames[label] for _, label, _ in test] == [name for _, _, name in test]
    transform = pil_transforms(192, train=False)
    images = torch.stack(
        [transform(Image.open(dataset / "BTMRI" / path).convert("RGB")) for path, _, _ in test]
    )
    return model(images), torch.tensor([label for _, label, _ in test])


def test_metrics_json_scores_the_fused_logits(trained, data_root, tmp_path):
    """metrics.json holds the metrics of g+ s+ + g- s- on the test images (Eq. 12), not of s+ or s- alone.

    Training drives g+ to nearly 1 on the tiny model, where fused and s+ agree, so the trained
    checkpoint is also evaluated with its gate set to w = (0, 0), where the three predictions differ.
    """
    equal_gate = tmp_path / "equal_gate"
    state = checkpoint(trained, 2)
    state["state_dict"]["gate_logits"] = torch.zeros(2)
    (equal_gate / "prompt_learner").mkdir(parents=True)
    torch.save(state, equal_gate / "prompt_learner" / "model.pth.tar-2")
    evaluated = tmp_path / "evaluated"
    train(data_root, evaluated, flags=("--eval-only", "--model-dir", str(equal_gate), "--load-epoch", "2"))
    for run, model_dir in ((evaluated, equal_gate), (trained, trained)):
        report = metrics(run)
        scores, labels = scores_outside_the_trainer(model_dir, report["classnames"], data_root)
        correct = (scores.fused.argmax(dim=-1) == labels).sum().item()
        assert report["num_samples"] == labels.numel()
        assert report["accuracy"] == pytest.approx(100 * correct / labels.numel())
        expected = classification_report(scores.fused, labels)
        assert report["macro_f1"] == pytest.approx(expected["macro_f1"])
        assert report["ece"] == pytest.approx(expected["ece"], abs=1e-4)
        if run is evaluated:  # the check has power here: neither expert alone gives the fused metrics
            for expert in (scores.positive, scores.negative):
                alone = classification_report(expert, labels)
                assert any(abs(alone[key] - report[key]) > 1e-3 for key in ("accuracy", "macro_f1", "ece"))


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


@torch.no_grad()
def fused_test_logits(trainer) -> torch.Tensor:
    """The fused logits of the trainer's test loader, batch by batch as its test() reads them."""
    trainer.model.eval()
    return torch.cat(
        [trainer.model(trainer.parse_batch_test(batch)[0]).fused for batch in trainer.test_loader]
    )


def test_fast_and_dassl_loaders_give_the_same_test_logits(trained, data_root, tmp_path):
    """One checkpoint evaluated through the uint8 image cache and through Dassl's PIL loaders."""
    logits = {}
    for fast in ("True", "False"):
        trainer = build(data_root, tmp_path / fast, "TRAINER.COMMON.FAST_DATA", fast)
        trainer.load_model(str(trained), epoch=2)
        logits[fast] = fused_test_logits(trainer)
    assert logits["True"].shape == (32, 4)
    scale = logits["False"].abs().max().item()
    torch.testing.assert_close(logits["True"], logits["False"], rtol=1e-5, atol=1e-5 * scale)


def test_base_to_novel(data_root, tmp_path):
    base, new = tmp_path / "train_base", tmp_path / "test_new"
    train(data_root, base, "DATASET.SUBSAMPLE_CLASSES", "base", epochs=1)
    train(data_root, new, "DATASET.SUBSAMPLE_CLASSES", "new", flags=("--eval-only", "--model-dir", str(base)))
    assert metrics(base)["classnames"] == ["glioma tumor", "meningioma tumor"]
    assert metrics(new)["classnames"] == ["pituitary tumor", "normal brain"]
    assert metrics(new)["num_samples"] == 16 and metrics(new)["subsample_classes"] == "new"


def script(name: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    overrides = ("DATALOADER.NUM_WORKERS", "0")
    result = run_bash([f"scripts/biomedvr/{name}.sh", *args, *overrides], env, timeout=300)
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
    from trainers.checkpoints import CheckpointError

    trainer = build(data_root, tmp_path, "DATASET.SUBSAMPLE_CLASSES", "base")
    with pytest.raises(CheckpointError) as error:
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


# ----- checkpoints that do not fit the run, locks, untrained runs ------------------------------------


def fake_checkpoint(built, folder: Path, **changes) -> Path:
    """A checkpoint of a built trainer's own state, pointed to, with some recorded facts changed."""
    state = {
        "state_dict": built.trainable.state_dict(),
        "epoch": 1,
        "optimizer": built.optim.state_dict(),
        "scheduler": built.sched.state_dict(),
        "classnames": built.classnames,
        "trainer": type(built).__name__,
        "max_epoch": built.cfg.OPTIM.MAX_EPOCH,
        **changes,
    }
    path = folder / "prompt_learner" / "model.pth.tar-1"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    (path.parent / "checkpoint").write_text(path.name + "\n")
    return path


@pytest.fixture(scope="module")
def attrvr(data_root, tmp_path_factory):
    return build(data_root, tmp_path_factory.mktemp("attrvr"), "TRAINER.NAME", "AttrVR")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trainer": "AR"}, "was trained by AR, but this run is AttrVR"),
        ({"classnames": ["a", "b", "c", "d"]}, "was trained on 4 classes (a, b, c, d)"),
        ({"max_epoch": 7}, "was trained with OPTIM.MAX_EPOCH 7"),
    ],
)
def test_resume_refuses_a_checkpoint_that_does_not_fit(attrvr, tmp_path, changes, message):
    from trainers.checkpoints import CheckpointError

    path = fake_checkpoint(attrvr, tmp_path, **changes)
    with pytest.raises(CheckpointError, match=re.escape(message)) as error:
        attrvr.resume_model_if_exist(str(tmp_path))
    assert str(path) in str(error.value)


def test_eval_only_refuses_another_trainers_checkpoint_of_the_same_shapes(attrvr, tmp_path):
    from trainers.checkpoints import CheckpointError

    fake_checkpoint(attrvr, tmp_path, trainer="AR")
    with pytest.raises(CheckpointError, match="was trained by AR, but this run is AttrVR"):
        attrvr.load_model(str(tmp_path))


def test_resume_follows_the_pointer_to_a_fitting_checkpoint(attrvr, tmp_path):
    fake_checkpoint(attrvr, tmp_path)
    assert attrvr.resume_model_if_exist(str(tmp_path)) == 1


@pytest.mark.parametrize("damage", ["pointer", "checkpoint"])
def test_a_damaged_checkpoint_or_pointer_is_named_on_resume(attrvr, tmp_path, damage):
    from trainers.checkpoints import CheckpointError

    path = fake_checkpoint(attrvr, tmp_path)
    broken = path.parent / "checkpoint" if damage == "pointer" else path
    broken.write_bytes(b"" if damage == "pointer" else path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=re.escape(str(broken))) as error:
        attrvr.resume_model_if_exist(str(tmp_path))
    assert "weights_only" not in str(error.value)


def test_zero_epochs_are_refused_instead_of_recording_an_untrained_model(data_root, tmp_path):
    with pytest.raises(ValueError, match=r"OPTIM\.MAX_EPOCH must be at least 1 for BioMedVR, got 0"):
        build(data_root, tmp_path, "OPTIM.MAX_EPOCH", "0")
    assert not (tmp_path / "metrics.json").exists()


def test_a_second_run_in_the_same_folder_is_refused(data_root, tmp_path):
    import train as train_module
    from trainers.run_lock import output_lock

    args = ["--root", data_root, "--seed", "1", "--output-dir", str(tmp_path), *BASE_ARGS, *OVERRIDES]
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(SystemExit, match=f"error: another run \\(process {holder.pid} on"):
            train_module.main(train_module.parse_args(args))
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "log.txt").exists()
    with output_lock(str(tmp_path)):
        pass
