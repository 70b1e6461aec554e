"""Dassl trainers for the feature-based baselines of BiomedCoOp's benchmark: thin glue over the heads.

| trainer      | head on the frozen, L2-normalized image feature       | fitted by                          |
|--------------|-------------------------------------------------------|------------------------------------|
| CLIP_Adapter | residual bottleneck adapter, then class-name text     | SGD through Dassl's epochs         |
| TipAdapter   | zero-shot text + key-value cache of training features | nothing; alpha, beta chosen on val |
| TipAdapter_F | the same cache with trainable keys                    | AdamW epochs, then the search      |
| LinearProbe  | logistic regression                                   | scikit-learn, C chosen on val      |
| LPPlusPlus   | linear classifier + class-wise weighted text logits   | LP++'s full-batch steps            |

Training images are augmented as BiomedCoOp's main.py does for these baselines: random resized crop
of area 0.5-1 and horizontal flip. Tip-Adapter's cache keys are the features of AUGMENT_EPOCH such
augmented views (BiomedCoOp's augment_epoch 1). Heads that are fitted rather than trained per batch
(TipAdapter, LinearProbe, LPPlusPlus) read the training and validation features once (training images
centre-cropped, without augmentation, for LinearProbe and LPPlusPlus), fit, save one checkpoint
(``model.pth.tar-1``, and ``fit.json`` with the chosen hyper-parameters) and test.
Hyper-parameters are only ever chosen on the few-shot validation split.
"""

from __future__ import annotations

import os

import torch
from dassl.data.data_manager import build_data_loader
from dassl.engine import TRAINER_REGISTRY
from torch import nn
from yacs.config import CfgNode

from datasets.atomic import write_json
from trainers.adapters import AdapterHead
from trainers.cache_model import CacheHead, SearchResult, search_alpha_beta, search_values
from trainers.checkpoints import BEST, MODULE_NAME
from trainers.fast_data import Augmentation, FastEvalLoader, decode_all, decode_eval_image, pil_transforms
from trainers.features import FeatureClassifier, encode_loader
from trainers.frozen_clip import FrozenCLIPTrainer
from trainers.linear_probe import LinearHead, LPPlusPlusHead, fit_linear_probe, fit_lp_plus_plus
from trainers.loaders import RGBDatasetWrapper, train_augmentation
from trainers.run_files import FIT_FILE


class FeatureTrainer(FrozenCLIPTrainer):
    """Frozen encoder -> L2-normalized feature -> ``build_head()``; features of a split read once."""

    class_agnostic = False  # the trained state fits any classes (scored through their text)

    def build_head(self) -> nn.Module:
        raise NotImplementedError

    def _check_checkpoint(
        self, checkpoint: dict, path: str, module: nn.Module, resuming: bool = False
    ) -> None:
        trained_on = checkpoint.get("classnames")
        if not self.class_agnostic and trained_on is not None and list(trained_on) != self.classnames:
            raise ValueError(
                f"checkpoint {path} holds {type(self).__name__} weights for its training classes "
                f"({', '.join(trained_on)}), which cannot score other classes "
                f"({', '.join(self.classnames)}). Of the feature-based baselines only CLIP_Adapter scores "
                "new classes (base-to-novel)."
            )
        super()._check_checkpoint(checkpoint, path, module, resuming)

    def build_model(self) -> None:
        self._features: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        super().build_model()

    def build_classifier(self) -> tuple[nn.Module, nn.Module]:
        head = self.build_head()
        return FeatureClassifier(self.backbone, head, self.autocast_dtype), head

    def train_items(self) -> list:
        return list(self.dm.dataset.train_x)

    def plain_train_loader(self, augmentation: Augmentation | None = None):
        """The training images in order, centre-cropped like test images, or augmented (``augmentation``)."""
        cfg, items, size = self.cfg, self.train_items(), self.data_image_size()
        interpolation = cfg.INPUT.INTERPOLATION
        if augmentation is not None:
            crop, flip, scale = augmentation
            return build_data_loader(
                cfg,
                data_source=items,
                batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
                tfm=pil_transforms(size, True, crop, interpolation, flip, scale),
                is_train=False,
                dataset_wrapper=RGBDatasetWrapper,
            )
        if cfg.TRAINER.COMMON.FAST_DATA:
            workers = max(1, cfg.DATALOADER.NUM_WORKERS)
            paths = [item.impath for item in items]
            images = decode_all(paths, decode_eval_image, size, interpolation, workers, "Decoding train")
            labels = [item.label for item in items]
            return FastEvalLoader(torch.stack(images), labels, cfg.DATALOADER.TEST.BATCH_SIZE, pin=False)
        return build_data_loader(
            cfg,
            data_source=items,
            batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
            tfm=pil_transforms(size, train=False, interpolation=interpolation),
            is_train=False,
            dataset_wrapper=RGBDatasetWrapper,
        )

    def features(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Features [N, D] and labels [N] of "train" (plain) or "val", computed once per run."""
        cache = self._features
        if split not in cache:
            if split == "train":
                loader = self.plain_train_loader()
            elif self.val_loader is None:
                raise ValueError(
                    f"{type(self).__name__} chooses its hyper-parameters on the validation split, and "
                    f"{self.cfg.DATASET.NAME} has no validation images in this run"
                )
            else:
                loader = self.val_loader
            self.model.eval()
            encode, desc = self.model.encode, f"Features {split}"
            cache[split] = encode_loader(encode, loader, self.parse_batch_test, desc)
        return cache[split]


class FittedFeatureTrainer(FeatureTrainer):
    """A head fitted on the features in one go: fit, save ``model.pth.tar-1``, test."""

    trains = False  # no Dassl epochs; the head is registered for checkpoints without an optimizer

    def fit(self) -> dict:
        """Fit the head on the training (and validation) features; returns what was chosen."""
        raise NotImplementedError

    def build_model(self) -> None:
        super().build_model()
        self.register_model(MODULE_NAME, self.trainable, None, None)

    def train(self) -> None:
        chosen = self.fit()
        print(f"Fitted {type(self).__name__}: {chosen}")
        write_json(os.path.join(self.output_dir, FIT_FILE), {"trainer": type(self).__name__, **chosen})
        self.save_model(0, self.output_dir)
        self.loaded_epoch = 1  # what is tested is what model.pth.tar-1 holds
        self.test()


def class_labels(items: list) -> torch.Tensor:
    return torch.tensor([item.label for item in items], dtype=torch.long)


def check_tip_cfg(tip: CfgNode) -> None:
    """Reject search grids that Tip-Adapter's search cannot use."""
    for key in ("SEARCH_SCALE", "SEARCH_STEP"):
        if len(tip[key]) != 2:
            raise ValueError(f"TRAINER.TIP_ADAPTER.{key} must be [beta, alpha], got {list(tip[key])}")
    for index, name in enumerate(("beta", "alpha")):
        try:
            search_values(tip.SEARCH_SCALE[index], tip.SEARCH_STEP[index])
        except ValueError as error:
            raise ValueError(f"TRAINER.TIP_ADAPTER.SEARCH_SCALE/SEARCH_STEP of {name}: {error}") from None


class TipCache:
    """Tip-Adapter's cache: keys from augmented views of the training images (cache_keys), values their
    one-hot labels.

    Mixed into a feature trainer (fitted for TipAdapter, trained for TipAdapter_F), ahead of it.
    """

    cfg_node = "TIP_ADAPTER"
    trainable_keys = False

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        check_tip_cfg(cfg.TRAINER.TIP_ADAPTER)
        if cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH < 0:
            raise ValueError(
                f"TRAINER.TIP_ADAPTER.AUGMENT_EPOCH must be 0 (centre crops) or more augmented views, got "
                f"{cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH}"
            )

    def build_head(self) -> nn.Module:
        tip, labels = self.cfg.TRAINER.TIP_ADAPTER, class_labels(self.train_items())
        text = self.class_text()
        placeholder_keys = torch.zeros(len(labels), text.shape[-1])  # filled by fill_cache or a checkpoint
        return CacheHead(
            placeholder_keys,
            labels,
            self.num_classes,
            text,
            self.backbone.logit_scale,
            tip.INIT_ALPHA,
            tip.INIT_BETA,
            trainable_keys=self.trainable_keys,
        )

    def cache_keys(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys [N, D] (L2-normalized) and labels [N]: the mean feature of AUGMENT_EPOCH augmented
        views of each training image, or its centre-cropped feature when AUGMENT_EPOCH is 0."""
        views = self.cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH
        if views == 0:
            return self.features("train")
        self.model.eval()
        encoded = [
            encode_loader(
                self.model.encode,
                self.plain_train_loader(train_augmentation(self.cfg)),
                self.parse_batch_test,
                f"Cache keys, view {view + 1}/{views}",
            )
            for view in range(views)
        ]
        keys = torch.stack([features for features, _ in encoded]).mean(dim=0)
        return torch.nn.functional.normalize(keys, dim=-1), encoded[0][1]

    def fill_cache(self) -> None:
        features, labels = self.cache_keys()
        head = self.trainable
        if not torch.equal(labels.cpu(), head.values.argmax(dim=-1).cpu()):
            raise RuntimeError("the training loader returned the images in another order than the dataset")
        with torch.no_grad():
            head.keys.copy_(features)

    def search(self) -> SearchResult | None:
        """alpha, beta from the validation features only (TRAINER.TIP_ADAPTER.SEARCH_HP), set on the head."""
        tip, head = self.cfg.TRAINER.TIP_ADAPTER, self.trainable
        if not tip.SEARCH_HP:
            return None
        val_features, val_labels = self.features("val")
        result = search_alpha_beta(
            val_features,
            val_labels,
            head.keys.detach(),
            head.values,
            head.text,
            head.tau,
            search_values(tip.SEARCH_SCALE[0], tip.SEARCH_STEP[0]),
            search_values(tip.SEARCH_SCALE[1], tip.SEARCH_STEP[1]),
        )
        head.set_alpha_beta(result.alpha, result.beta)
        print(f"Searched on val: beta {result.beta:.4f}, alpha {result.alpha:.4f} ({result.accuracy:.1f}%)")
        return result


def search_summary(result: SearchResult | None, head: CacheHead) -> dict:
    return {
        "alpha": float(head.alpha),
        "beta": float(head.beta),
        "searched_on": "val" if result is not None else None,
        "val_accuracy": None if result is None else result.accuracy,
    }


@TRAINER_REGISTRY.register()
class TipAdapter(TipCache, FittedFeatureTrainer):
    """Training-free Tip-Adapter (Zhang et al. 2022): cache of the training features, alpha/beta on val."""

    def fit(self) -> dict:
        self.fill_cache()
        return search_summary(self.search(), self.trainable)


@TRAINER_REGISTRY.register()
class TipAdapter_F(TipCache, FeatureTrainer):
    """Tip-Adapter-F: the cache keys train (AdamW, cross-entropy); alpha and beta are searched after."""

    trainable_keys = True
    _fitting = False  # a training run (not --eval-only): the final test first searches alpha, beta
    _searched = False

    def before_train(self) -> None:
        self.fill_cache()  # before a resume, which replaces the keys with the trained ones
        super().before_train()
        self._fitting = True

    def test(self, split: str | None = None) -> float:
        """The final test of a training run first searches alpha, beta on val and re-saves the checkpoint."""
        if split is None and self._fitting and not self._searched:
            result = self.search()
            self._searched = True
            epoch = self.tested_epoch() - 1
            best = BEST if self.cfg.TEST.FINAL_MODEL == "best_val" else ""
            self.save_model(epoch, self.output_dir, model_name=best)
            summary = {
                "trainer": type(self).__name__,
                "epoch": epoch + 1,
                **search_summary(result, self.trainable),
            }
            write_json(os.path.join(self.output_dir, FIT_FILE), summary)
        return super().test(split)


@TRAINER_REGISTRY.register()
class CLIP_Adapter(FeatureTrainer):
    """CLIP-Adapter (Gao et al. 2023): a residual bottleneck adapter on the image feature, SGD."""

    cfg_node = "CLIP_ADAPTER"
    class_agnostic = True

    def build_head(self) -> nn.Module:
        adapter = self.cfg.TRAINER.CLIP_ADAPTER
        return AdapterHead(
            self.class_text(), self.backbone.logit_scale, adapter.ALPHA, adapter.REDUCTION, adapter.NORMALIZE
        )


@TRAINER_REGISTRY.register()
class LinearProbe(FittedFeatureTrainer):
    """Logistic regression on the frozen features, C searched on the validation split (CLIP, CoOp)."""

    cfg_node = "LP"

    def build_head(self) -> nn.Module:
        return LinearHead(self.class_text().shape[-1], self.num_classes)  # the text tells the width

    def fit(self) -> dict:
        lp = self.cfg.TRAINER.LP
        train, val = self.features("train"), self.features("val")
        weights, c = fit_linear_probe(train, val, self.num_classes, list(lp.C_GRID), lp.NUM_STEP, lp.MAX_ITER)
        self.trainable.load_weights(weights)
        return {"C": c, "searched_on": "val"}


@TRAINER_REGISTRY.register()
class LPPlusPlus(FittedFeatureTrainer):
    """LP++ (Huang et al. 2024): linear probe plus class-wise weighted text logits, full-batch steps."""

    cfg_node = "LPPP"

    def build_head(self) -> nn.Module:
        return LPPlusPlusHead(self.class_text())

    def fit(self) -> dict:
        lppp = self.cfg.TRAINER.LPPP
        val = self.features("val") if self.val_loader is not None else None
        result = fit_lp_plus_plus(
            self.trainable,
            self.features("train"),
            val,
            self.cfg.OPTIM.MAX_EPOCH,
            lppp.ALPHA_EVERY,
            lppp.ACCUMULATE_ALPHA_GRAD,
            lppp.ZERO_BIAS,
        )
        selected_on = "val" if val is not None else None
        return {"epoch": result.epoch, "val_accuracy": result.val_accuracy, "selected_on": selected_on}
