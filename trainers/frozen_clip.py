"""Dassl glue shared by every trainer on a frozen CLIP: data, backbone, training step, test, checkpoints.

Subclasses say what trains (``build_classifier``) and which loss (``compute_loss``); the visual
reprogramming family lives in ``trainers/vr.py``, the prompt-learning family in
``trainers/prompt_learning.py``. Keys every trainer reads are in ``TRAINER.COMMON``; each family
reads its precision from its own node (``TRAINER.<NODE>.PREC``), as CoOp-style configs spell it.
"""

from __future__ import annotations

import glob
import os
from collections import Counter

import numpy as np
import torch
from dassl.data import DataManager
from dassl.data.data_manager import DatasetWrapper
from dassl.engine import TrainerX
from dassl.optim import build_optimizer
from dassl.utils import set_random_seed
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm
from yacs.config import CfgNode

from datasets.atomic import atomic_write, write_json
from datasets.images import load_rgb
from trainers.backbones import load_backbone
from trainers.checkpoints import (
    MODULE_NAME,
    POINTER,
    CheckpointError,
    epoch_file,
    read_checkpoint,
    read_pointer,
    resolve_checkpoint,
    saved_epochs,
    write_checkpoint,
)
from trainers.fast_data import (
    FastEvalLoader,
    FastTrainLoader,
    decode_all,
    decode_train_image,
    epoch_generator,
    open_image_array,
    pil_transforms,
)
from trainers.methods import BY_NAME, ZERO_SHOT
from trainers.metrics import accuracy, classification_report
from trainers.mope import Scores
from trainers.run_files import ALL_IMAGES, append_history, config_hash, read_history, truncate_history
from trainers.schedule import build_scheduler

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "amp": torch.float16}
LR_STEPS = ("epoch", "batch")


class TrainingDiverged(RuntimeError):
    """The loss or the trained parameters became non-finite: the run stops before recording anything."""


class RGBDatasetWrapper(DatasetWrapper):
    """Dassl's dataset wrapper, reading 16-bit and grayscale images correctly and naming bad files."""

    def __getitem__(self, idx: int) -> dict:
        item = self.data_source[idx]
        return {
            "img": self.transform(load_rgb(item.impath)),
            "label": item.label,
            "domain": item.domain,
            "impath": item.impath,
            "index": idx,
        }


class FrozenCLIPTrainer(TrainerX):
    """A frozen open_clip backbone and a small trainable module; images in [0, 1], normalized by the model."""

    # ----- what subclasses choose -------------------------------------------------------------
    cfg_node = ""  # the TRAINER.<node> that holds the family's PREC
    trains = True  # False: zero-shot, nothing is registered with Dassl
    drop_last_batch = False  # True: drop an incomplete last training batch, as Dassl's loader does
    loaded_epoch: int | None = None  # the epoch of a checkpoint restored by load_model

    def build_classifier(self) -> tuple[nn.Module, nn.Module]:
        """The model (images -> Scores) and the module that holds everything it trains."""
        raise NotImplementedError

    def compute_loss(self, scores: Scores, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        loss = nn.functional.cross_entropy(scores.fused, labels)
        return loss, {"loss": loss.item()}

    def gate_values(self) -> dict[str, float] | None:
        """The learned gate, for trainers that have one (history.jsonl, metrics.json)."""
        return None

    # ----- config checks ------------------------------------------------------------------------
    def check_cfg(self, cfg: CfgNode) -> None:
        prec = cfg.TRAINER[self.cfg_node].PREC
        if prec not in PRECISIONS:
            raise ValueError(f"TRAINER.{self.cfg_node}.PREC must be one of {tuple(PRECISIONS)}, got {prec!r}")
        if cfg.TRAINER.COMMON.LR_STEP not in LR_STEPS:
            raise ValueError(
                f"TRAINER.COMMON.LR_STEP must be one of {LR_STEPS}, got {cfg.TRAINER.COMMON.LR_STEP!r}"
            )
        if self.learns(cfg) and cfg.DATASET.NUM_SHOTS < 1:
            print(
                f"DATASET.NUM_SHOTS {cfg.DATASET.NUM_SHOTS}: training on every training image (Dassl's "
                f"meaning), not a few-shot run; metrics.json records shots {ALL_IMAGES!r} and the images "
                "used per class, and tools.results keeps it out of the few-shot tables"
            )
        if self.trains and cfg.OPTIM.MAX_EPOCH < 1:
            raise ValueError(
                f"OPTIM.MAX_EPOCH must be at least 1 for {type(self).__name__}, got {cfg.OPTIM.MAX_EPOCH}: "
                "0 epochs would evaluate and record an untrained model. To evaluate without training, "
                "use a zero-shot trainer, or --eval-only with --model-dir."
            )

    # ----- data -----------------------------------------------------------------------------------
    @classmethod
    def image_size(cls, cfg: CfgNode) -> int:
        """The side of the images this trainer decodes (known from the config alone, for sweeps)."""
        return cfg.INPUT.SIZE[0]

    def data_image_size(self) -> int:
        return self.image_size(self.cfg)

    @property
    def train_batch_size(self) -> int:
        """DATALOADER.TRAIN_X.BATCH_SIZE, or TRAINER.COMMON.ONE_SHOT_BATCH_SIZE for a 1-shot run."""
        one_shot = self.cfg.TRAINER.COMMON.ONE_SHOT_BATCH_SIZE
        if one_shot > 0 and self.cfg.DATASET.NUM_SHOTS == 1:
            return one_shot
        return self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE

    def build_data_loader(self) -> None:
        cfg, size = self.cfg, self.data_image_size()
        augment, interpolation = cfg.TRAINER.COMMON.AUGMENT, cfg.INPUT.INTERPOLATION
        dm = DataManager(
            cfg,
            custom_tfm_train=pil_transforms(size, train=True, augment=augment, interpolation=interpolation),
            custom_tfm_test=pil_transforms(size, train=False, interpolation=interpolation),
            dataset_wrapper=RGBDatasetWrapper,
        )
        self.dm = dm
        self.train_loader_x, self.train_loader_u = dm.train_loader_x, None
        self.val_loader, self.test_loader = dm.val_loader, dm.test_loader
        self.num_classes, self.num_source_domains = dm.num_classes, dm.num_source_domains
        self.lab2cname = dm.lab2cname
        if cfg.TRAINER.COMMON.FAST_DATA:
            self._use_fast_loaders(size, augment, interpolation)
        elif self.trains:
            self.train_loader_x = self._rebatched(dm.train_loader_x)

    def _rebatched(self, loader: DataLoader) -> DataLoader:
        """Dassl's training loader with this trainer's batch size and last-batch rule."""
        return DataLoader(
            loader.dataset,
            batch_size=self.train_batch_size,
            sampler=loader.sampler,
            num_workers=loader.num_workers,
            drop_last=self.drop_last_batch and len(loader.dataset) >= self.train_batch_size,
            pin_memory=loader.pin_memory,
        )

    def _image_cache_dir(self) -> str:
        layout = getattr(self.dm.dataset, "layout", None)
        shared = layout.shared_image_cache_dir if layout is not None else None
        return shared or os.path.join(self.cfg.OUTPUT_DIR, "image_cache")

    def _use_fast_loaders(self, size: int, augment: bool, interpolation: str) -> None:
        cfg, dataset = self.cfg, self.dm.dataset
        workers = max(1, cfg.DATALOADER.NUM_WORKERS)
        if self.trains:
            train = dataset.train_x
            images = decode_all(
                [d.impath for d in train], decode_train_image, size, interpolation, workers, "Decoding train"
            )
            self.train_loader_x = FastTrainLoader(
                [image.to(self.device) for image in images],
                [d.label for d in train],
                self.train_batch_size,
                size,
                seed=cfg.SEED,
                augment=augment,
                interpolation=interpolation,
                drop_last=self.drop_last_batch,
            )
        split_file = getattr(getattr(dataset, "layout", None), "split_path", "")
        pin = self.device.type == "cuda"

        def eval_loader(name: str, items: list) -> FastEvalLoader:
            paths, labels = [d.impath for d in items], [d.label for d in items]
            array = open_image_array(
                self._image_cache_dir(), name, paths, labels, size, interpolation, split_file, workers
            )
            return FastEvalLoader(array, labels, cfg.DATALOADER.TEST.BATCH_SIZE, pin)

        self.test_loader = eval_loader("test", dataset.test)
        needs_val = cfg.TEST.FINAL_MODEL == "best_val" or cfg.TEST.SPLIT == "val"
        if dataset.val and needs_val:
            self.val_loader = eval_loader("val", dataset.val)

    def _to_device(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        images = batch["img"].to(self.device, non_blocking=True)
        if images.dtype == torch.uint8:
            images = images.float().div_(255)
        return images, batch["label"].to(self.device, non_blocking=True)

    def parse_batch_train(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_device(batch)

    def parse_batch_test(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_device(batch)

    # ----- model ----------------------------------------------------------------------------------
    @property
    def classnames(self) -> list[str]:
        return [self.lab2cname[label] for label in range(self.num_classes)]

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return PRECISIONS[self.cfg.TRAINER[self.cfg_node].PREC]

    def check_image_size(self) -> None:
        """Images reach the encoder at INPUT.SIZE, which must be the backbone's size."""
        if self.data_image_size() != self.backbone.image_size:
            raise ValueError(
                f"INPUT.SIZE {tuple(self.cfg.INPUT.SIZE)} must equal the image size of "
                f"{self.cfg.MODEL.BACKBONE.NAME} ({self.backbone.image_size})"
            )

    def build_model(self) -> None:
        cfg = self.cfg
        self.backbone = load_backbone(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED, self.device)
        self.check_image_size()
        print(f"Building {type(self).__name__} on {cfg.MODEL.BACKBONE.NAME} (frozen)")
        self.model, self.trainable = self.build_classifier()
        self.model.to(self.device)
        self._check_trainable()
        self.lr_per_batch = cfg.TRAINER.COMMON.LR_STEP == "batch"
        if self.trains:
            self.optim = build_optimizer(self.trainable, cfg.OPTIM)
            steps = len(self.train_loader_x) if self.lr_per_batch else 1
            self.sched = build_scheduler(self.optim, cfg.OPTIM, steps)
            self.register_model(MODULE_NAME, self.trainable, self.optim, self.sched)
        use_scaler = (
            self.autocast_dtype is torch.float16
            and self.device.type == "cuda"
            and cfg.TRAINER.COMMON.GRAD_SCALER
        )
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self._history: list[dict] = []

    def _check_trainable(self) -> None:
        """Only ``self.trainable`` may train (for BioMedVR: delta+, delta-, w); the backbone is frozen."""
        trainable = {name: p for name, p in self.trainable.named_parameters() if p.requires_grad}
        owned = {id(p) for p in trainable.values()}
        leaks = [name for name, p in self.model.named_parameters() if p.requires_grad and id(p) not in owned]
        leaks += [name for name, p in self.backbone.model.named_parameters() if p.requires_grad]
        if leaks:
            raise RuntimeError(f"parameters outside the trainable state require gradients: {leaks[:5]}")
        if self.trains and not trainable:
            raise RuntimeError(f"{type(self).__name__} has no trainable parameters")
        count = sum(p.numel() for p in trainable.values())
        shapes = ", ".join(f"{name} {tuple(p.shape)}" for name, p in trainable.items())
        print(f"Trainable parameters: {count:,} ({shapes or 'none'}); the backbone is frozen")
        self.num_trainable = count

    # ----- training -------------------------------------------------------------------------------
    def before_epoch(self) -> None:
        """Each epoch draws from a stream of its own, so a resumed run replays the same batches."""
        set_random_seed(int(epoch_generator(self.cfg.SEED, self.epoch).initial_seed()) % (2**31))
        if isinstance(self.train_loader_x, FastTrainLoader):
            self.train_loader_x.set_epoch(self.epoch)
        self._history.clear()
        self._epoch_lr = self.get_current_lr() if self.trains else 0.0

    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        scores = self.model(images)
        loss, parts = self.compute_loss(scores, labels)
        self.model_zero_grad()
        if not torch.isfinite(loss):
            self.diverged(f"the loss is {loss.item()} at batch {self.batch_idx + 1}")
        self.backward(loss)
        if self.scaler is None:
            self.model_update()
        else:
            self.scaler.step(self.optim)
            self.scaler.update()
        parts["acc"] = accuracy(scores.fused.detach(), labels)
        self._history.append(parts)
        if self.lr_per_batch:
            self.update_lr()
        return parts

    def diverged(self, what: str) -> None:
        """Stop the run, naming the epoch and the likely key (nothing of this epoch is recorded)."""
        raise TrainingDiverged(
            f"training diverged in epoch {self.epoch + 1} of {self.max_epoch}: {what}. The learning rate "
            f"OPTIM.LR {self.cfg.OPTIM.LR} is the likely cause: lower it and train again in a new "
            "--output-dir (no metrics.json was written)."
        )

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss as it is back-propagated: multiplied by the grad scaler's factor under fp16."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of the training loss on the trainable state (ProGrad reshapes them here)."""
        self.scaled(loss).backward()

    def after_epoch(self) -> None:
        """Step the schedule after the epoch's last progress line (which thus shows the epoch's own
        learning rate), then Dassl's evaluation and checkpoint, then the history line. With
        TRAINER.COMMON.LR_STEP batch the schedule was stepped after every batch instead."""
        if self.trains and not all(torch.isfinite(p).all() for p in self.trainable.parameters()):
            self.diverged("the trained parameters are no longer finite")
        if self.trains and not self.lr_per_batch:
            self.update_lr()
        super().after_epoch()
        record = {"epoch": self.epoch + 1, "lr": self._epoch_lr}
        for key in self._history[0] if self._history else []:
            record[key] = float(np.mean([parts[key] for parts in self._history]))
        record["gate"] = self.gate_values()
        if self.cfg.TEST.EVAL_EVERY_EPOCH:
            report = self.evaluate("test")[0]
            record["test_accuracy"] = report["accuracy"]
            print(f"epoch {self.epoch + 1}: test accuracy {report['accuracy']:.1f}% (TEST.EVAL_EVERY_EPOCH)")
        append_history(self.history_path, record)

    @property
    def history_path(self) -> str:
        return os.path.join(self.output_dir, "history.jsonl")

    # ----- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, split: str, embeddings: bool = False
    ) -> tuple[dict, torch.Tensor, torch.Tensor | None]:
        """The classification report of ``split``, its labels and (if asked) its L2-normalized embeddings."""
        self.model.eval()
        loader = self.val_loader if split == "val" else self.test_loader
        logits, labels, embedded = [], [], []
        for batch in tqdm(loader, desc=f"Evaluate {split}", leave=False):
            images, y = self.parse_batch_test(batch)
            scores = self.model(images)
            logits.append(scores.fused.float().cpu())
            labels.append(y.cpu())
            if embeddings:
                embedded.append(scores.embedding.cpu())
        labels = torch.cat(labels)
        return (
            classification_report(torch.cat(logits), labels),
            labels,
            torch.cat(embedded) if embeddings else None,
        )

    def test(self, split: str | None = None) -> float:
        """Evaluate; the final evaluation (``split`` None: TEST.SPLIT) also writes metrics.json.

        As in Dassl, any split but an available "val" means the test set.
        """
        final = split is None
        split = "val" if (split or self.cfg.TEST.SPLIT) == "val" and self.val_loader is not None else "test"
        print(f"Evaluate on the *{split}* set")
        save_embeddings = final and self.cfg.TRAINER.COMMON.SAVE_EMBEDDINGS
        report, labels, embeddings = self.evaluate(split, save_embeddings)
        self._print_report(report)
        for key in ("accuracy", "error", "macro_f1", "ece"):
            self.write_scalar(f"{split}/{key}", report[key], self.epoch)
        if final:
            self._write_metrics(report, split)
            if save_embeddings:
                np.savez_compressed(
                    os.path.join(self.output_dir, "embeddings.npz"),
                    embeddings=embeddings.numpy(),
                    labels=labels.numpy(),
                    classnames=np.array(self.classnames),
                )
        return report["accuracy"]

    def best_test_epoch(self) -> dict:
        """With TEST.EVAL_EVERY_EPOCH: the epoch of the best test accuracy (history.jsonl) and that accuracy.

        Optimistic: selected on the test set, as the published numbers were. Never the reported accuracy.
        """
        if not self.cfg.TEST.EVAL_EVERY_EPOCH or not os.path.isfile(self.history_path):
            return {}
        tested = [r for r in read_history(self.history_path) if "test_accuracy" in r]
        if not tested:
            return {}
        best = max(tested, key=lambda record: record["test_accuracy"])
        print(
            f"* best_test_accuracy: {best['test_accuracy']:.1f}% at epoch {best['epoch']} "
            "(optimistic: selected on the test set, as the published numbers were)"
        )
        return {"best_test_epoch": best["epoch"], "best_test_accuracy": best["test_accuracy"]}

    @staticmethod
    def _print_report(report: dict) -> None:
        """Dassl's result lines, which CoOp-style parsers read from log.txt, plus ECE."""
        correct = round(report["accuracy"] * report["num_samples"] / 100)
        print("=> result")
        print(f"* total: {report['num_samples']:,}")
        print(f"* correct: {correct:,}")
        print(f"* accuracy: {report['accuracy']:.1f}%")
        print(f"* error: {report['error']:.1f}%")
        print(f"* macro_f1: {report['macro_f1']:.1f}%")
        print(f"* ece: {report['ece']:.2f}%")

    def tested_epoch(self) -> int:
        """The epoch of the evaluated parameters: a loaded checkpoint's, else the last trained one."""
        if self.loaded_epoch is not None:
            return self.loaded_epoch
        return self.epoch + 1 if self.trains else 0

    def learns(self, cfg: CfgNode) -> bool:
        """Whether the run learns from training images (every method of the table but the zero-shot ones)."""
        row = BY_NAME.get(cfg.TRAINER.NAME)
        return self.trains if row is None else ZERO_SHOT not in row.protocols

    def shots_per_class(self) -> dict[str, int] | None:
        """Training images used per class (fewer than NUM_SHOTS where a class is small); None if zero-shot."""
        if not self.learns(self.cfg):
            return None
        counts = Counter(datum.label for datum in self.dm.dataset.train_x)
        return {self.lab2cname[label]: counts[label] for label in range(self.num_classes)}

    def _write_metrics(self, report: dict, split: str) -> None:
        cfg = self.cfg
        payload = {
            "trainer": cfg.TRAINER.NAME,
            "dataset": cfg.DATASET.NAME,
            "backbone": cfg.MODEL.BACKBONE.NAME,
            "shots": cfg.DATASET.NUM_SHOTS
            if cfg.DATASET.NUM_SHOTS > 0 or not self.learns(cfg)
            else ALL_IMAGES,
            "seed": cfg.SEED,
            "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
            "classnames": self.classnames,
            "shots_per_class": self.shots_per_class(),
            "epoch": self.tested_epoch(),
            "split": split,
            **report,
            "gate": self.gate_values(),
            **self.best_test_epoch(),
            "trainable_parameters": self.num_trainable,
            "config_hash": config_hash(cfg),
        }
        write_json(os.path.join(self.output_dir, "metrics.json"), payload)

    # ----- checkpoints ----------------------------------------------------------------------------
    def save_model(self, epoch: int, directory: str, is_best: bool = False, val_result=None, model_name=""):
        """Only the trainable state (about 1.2 MB for BioMedVR), plus what it was trained on and with.

        Periodic checkpoints replace the previous one; ``model-best.pth.tar`` does not move the
        ``checkpoint`` pointer that ``--resume`` follows. Every file is written atomically.
        """
        for name in self.get_model_names():
            folder = os.path.join(directory, name)
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": None if self._optims[name] is None else self._optims[name].state_dict(),
                "scheduler": None if self._scheds[name] is None else self._scheds[name].state_dict(),
                "val_result": None if val_result is None else float(val_result),
                "classnames": self.classnames,
                "trainer": type(self).__name__,
                "best_result": float(self.best_result),
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "max_epoch": self.cfg.OPTIM.MAX_EPOCH,
                "input_size": self.data_image_size(),
            }
            filename = model_name or epoch_file(epoch + 1)
            write_checkpoint(os.path.join(folder, filename), state)
            if model_name:
                continue
            with atomic_write(os.path.join(folder, POINTER)) as pointer:
                pointer.write(filename + "\n")
            for older in saved_epochs(folder):
                if older < epoch + 1:
                    os.remove(os.path.join(folder, epoch_file(older)))

    def resume_model_if_exist(self, directory: str) -> int:
        """Dassl's resume from the ``checkpoint`` pointer, after checking the checkpoint fits this run."""
        pointers = [os.path.join(directory, name, POINTER) for name in self.get_model_names()]
        if not all(os.path.isfile(pointer) for pointer in pointers):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in self.get_model_names():
            path = read_pointer(os.path.join(directory, name))
            checkpoint = read_checkpoint(path, self.device)
            self._check_checkpoint(checkpoint, path, self._models[name], resuming=True)
            self._models[name].load_state_dict(checkpoint["state_dict"])
            self._optims[name].load_state_dict(checkpoint["optimizer"])
            self._scheds[name].load_state_dict(checkpoint["scheduler"])
            start_epoch = int(checkpoint["epoch"])
            self.best_result = checkpoint.get("best_result", self.best_result)
            if self.scaler is not None and checkpoint.get("scaler"):
                self.scaler.load_state_dict(checkpoint["scaler"])
            print(f"Resumed {name} from {path} (epoch {start_epoch})")
        truncate_history(self.history_path, start_epoch)
        return start_epoch

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Restore trainable state for ``--eval-only`` or ``best_val``, with errors that say what is wrong."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            folder = os.path.join(directory, name)
            path = resolve_checkpoint(folder, epoch)
            if path is None or not os.path.isfile(path):
                found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "model*")))
                raise FileNotFoundError(
                    f"No model at {path or folder}. Checkpoints in that folder: {found or 'none'}; pass one "
                    "of their epochs with --load-epoch (or train first)."
                )
            checkpoint = read_checkpoint(path, self.device)
            self._check_checkpoint(checkpoint, path, self._models[name])
            self._models[name].load_state_dict(checkpoint["state_dict"])
            self.loaded_epoch = int(checkpoint["epoch"])
            val = checkpoint.get("val_result")
            print(f"Load {path} to {name} (epoch={checkpoint['epoch']}, val_result={val})")

    def _check_checkpoint(
        self, checkpoint: dict, path: str, module: nn.Module, resuming: bool = False
    ) -> None:
        """The checkpoint's trainer, classes, parameter shapes and (to resume) schedule fit this run."""
        trainer = checkpoint.get("trainer")
        if trainer is not None and trainer != type(self).__name__:
            raise CheckpointError(
                f"checkpoint {path} was trained by {trainer}, but this run is {type(self).__name__}. "
                f"Use --trainer {trainer}, or another --model-dir / --output-dir."
            )
        trained_on = checkpoint.get("classnames")
        evaluating = self.classnames
        subsample = self.cfg.DATASET.SUBSAMPLE_CLASSES
        if trained_on is not None and (resuming or subsample != "new") and list(trained_on) != evaluating:
            raise CheckpointError(
                f"checkpoint {path} was trained on {len(trained_on)} classes ({', '.join(trained_on)}), "
                f"but {self.cfg.DATASET.NAME} with DATASET.SUBSAMPLE_CLASSES {subsample} has "
                f"{len(evaluating)} classes ({', '.join(evaluating)}). Evaluate on the classes it was "
                "trained on, or use DATASET.SUBSAMPLE_CLASSES new for base-to-novel."
            )
        max_epoch = checkpoint.get("max_epoch")
        if resuming and max_epoch is not None and max_epoch != self.cfg.OPTIM.MAX_EPOCH:
            raise CheckpointError(
                f"checkpoint {path} (epoch {checkpoint['epoch']}) was trained with OPTIM.MAX_EPOCH "
                f"{max_epoch}, and its learning-rate schedule ends there; this run asks for "
                f"{self.cfg.OPTIM.MAX_EPOCH}, which would make the learning rate jump. Train "
                f"{self.cfg.OPTIM.MAX_EPOCH} epochs in another --output-dir, or keep OPTIM.MAX_EPOCH "
                f"{max_epoch}."
            )
        expected = module.state_dict()
        for key, value in checkpoint["state_dict"].items():
            if key not in expected or expected[key].shape != value.shape:
                wanted = tuple(expected[key].shape) if key in expected else "absent"
                raise CheckpointError(
                    f"checkpoint {path} does not fit this model: {key} has shape {tuple(value.shape)} "
                    f"there and {wanted} here (different trainer, backbone, INPUT_SIZE or classes?)"
                )
