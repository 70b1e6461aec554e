"""The base of every trainer on a frozen CLIP: Dassl's hooks for the backbone, training step and test.

Subclasses say what trains (``build_classifier``) and which loss (``compute_loss``). The three families
stand on it: visual reprogramming (``trainers/vr.py``), prompt learning (``trainers/prompt_learning.py``)
and the feature-based baselines (``trainers/feature_baselines.py``, ``trainers/zeroshot_clip.py``).
The loaders come from ``trainers/loaders.py``, the checkpoint hooks from ``trainers/checkpoints.py``,
the run's files from ``trainers/run_files.py``; what the families share in the model, from
``trainers/encoding.py``. Keys every trainer reads are in ``TRAINER.COMMON``; each family reads its
precision from its own node (``TRAINER.<NODE>.PREC``), as CoOp-style configs spell it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from dassl.engine import TrainerX
from dassl.optim import build_optimizer
from dassl.utils import set_random_seed
from torch import nn
from tqdm import tqdm
from yacs.config import CfgNode

from datasets.catalog import prompt_templates
from trainers.backbones import load_backbone
from trainers.checkpoints import MODULE_NAME, CheckpointHooks
from trainers.encoding import PRECISIONS, Scores, class_text_embeddings
from trainers.fast_data import FastTrainLoader, epoch_generator
from trainers.loaders import TrainBatches, build_loaders
from trainers.metrics import accuracy, classification_report, print_report
from trainers.run_files import ALL_IMAGES, RunRecords, append_history, write_embeddings
from trainers.schedule import build_scheduler

LR_STEPS = ("epoch", "batch", "dassl_batch")


class TrainingDiverged(RuntimeError):
    """The loss or the trained parameters became non-finite: the run stops before recording anything."""

    @classmethod
    def at(cls, epoch: int, max_epoch: int, lr: float, what: str) -> TrainingDiverged:
        """The error of epoch ``epoch`` (from 1), naming the likely key."""
        return cls(
            f"training diverged in epoch {epoch} of {max_epoch}: {what}. The learning rate OPTIM.LR {lr} "
            "is the likely cause: lower it and train again in a new --output-dir (no metrics.json was "
            "written)."
        )


class FrozenCLIPTrainer(CheckpointHooks, RunRecords, TrainerX):
    """A frozen open_clip backbone and a small trainable module; images in [0, 1], normalized by the model."""

    # ----- what subclasses choose -------------------------------------------------------------
    cfg_node = ""  # the TRAINER.<node> that holds the family's PREC
    trains = True  # False: no Dassl epochs and no optimizer (zero-shot, or a head fitted in one go)
    drop_last_batch = False  # True: drop an incomplete last training batch, as Dassl's loader does

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
        batches = TrainBatches(self.train_batch_size, self.drop_last_batch) if self.trains else None
        loaders = build_loaders(self.cfg, self.data_image_size(), self.device, batches)
        self.dm = dm = loaders.dm
        self.train_loader_x, self.train_loader_u = loaders.train, None
        self.val_loader, self.test_loader = loaders.val, loaders.test
        self.num_classes, self.num_source_domains = dm.num_classes, dm.num_source_domains
        self.lab2cname = dm.lab2cname

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

    def class_text(self) -> torch.Tensor:
        """L2-normalized class-name prompt embeddings [C, D] (TRAINER.COMMON.TEMPLATES, else the
        dataset's template; averaged when several)."""
        templates = prompt_templates(self.cfg.DATASET.NAME, self.cfg.TRAINER.COMMON.TEMPLATES)
        return class_text_embeddings(templates, self.classnames, self.backbone.encode_text)

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
        self.lr_per_batch = cfg.TRAINER.COMMON.LR_STEP in ("batch", "dassl_batch")
        if self.trains:
            self.optim = build_optimizer(self.trainable, cfg.OPTIM)
            steps = len(self.train_loader_x) if cfg.TRAINER.COMMON.LR_STEP == "batch" else 1
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
        self._epoch_start = time.perf_counter()

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
        raise TrainingDiverged.at(self.epoch + 1, self.max_epoch, self.cfg.OPTIM.LR, what)

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
        seconds = time.perf_counter() - self._epoch_start  # training only, before evaluation and saving
        super().after_epoch()
        record = {"epoch": self.epoch + 1, "lr": self._epoch_lr, "seconds": round(seconds, 4)}
        for key in self._history[0] if self._history else []:
            record[key] = float(np.mean([parts[key] for parts in self._history]))
        record["gate"] = self.gate_values()
        if self.cfg.TEST.EVAL_EVERY_EPOCH:
            report = self.evaluate("test")[0]
            record["test_accuracy"] = report["accuracy"]
            print(f"epoch {self.epoch + 1}: test accuracy {report['accuracy']:.1f}% (TEST.EVAL_EVERY_EPOCH)")
        append_history(self.history_path, record)

    # ----- evaluation -----------------------------------------------------------------------------
    def evaluate(
        self, split: str, embeddings: bool = False
    ) -> tuple[dict, torch.Tensor, torch.Tensor | None]:
        """The classification report of ``split``, its labels and (if asked) its L2-normalized embeddings."""
        loader = self.val_loader if split == "val" else self.test_loader
        return evaluate_loader(self.model, loader, self.parse_batch_test, split, embeddings)

    def test(self, split: str | None = None) -> float:
        """Evaluate; the final evaluation (``split`` None: TEST.SPLIT) also writes metrics.json.

        As in Dassl, any split but an available "val" means the test set.
        """
        final = split is None
        split = "val" if (split or self.cfg.TEST.SPLIT) == "val" and self.val_loader is not None else "test"
        print(f"Evaluate on the *{split}* set")
        save_embeddings = final and self.cfg.TRAINER.COMMON.SAVE_EMBEDDINGS
        report, labels, embeddings = self.evaluate(split, save_embeddings)
        print_report(report)
        for key in ("accuracy", "error", "macro_f1", "ece"):
            self.write_scalar(f"{split}/{key}", report[key], self.epoch)
        if final:
            self._write_metrics(report, split)
            if save_embeddings:
                write_embeddings(self.output_dir, embeddings.numpy(), labels.numpy(), self.classnames)
        return report["accuracy"]


@torch.no_grad()
def evaluate_loader(
    model: nn.Module, loader: Iterable, parse_batch: Callable, split: str, embeddings: bool
) -> tuple[dict, torch.Tensor, torch.Tensor | None]:
    """Score every batch of ``loader`` in eval mode: the report, the labels and (if asked) the embeddings."""
    model.eval()
    logits, labels, embedded = [], [], []
    for batch in tqdm(loader, desc=f"Evaluate {split}", leave=False):
        images, y = parse_batch(batch)
        scores = model(images)
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
