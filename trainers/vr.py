"""Dassl trainers for BioMedVR and the visual-reprogramming baselines: thin glue over the pieces.

Every trainer here is one model, ``MixtureOfPromptExperts``, configured differently:

| trainer      | prompt              | positive scores      | negative scores | fusion        |
|--------------|---------------------|----------------------|-----------------|---------------|
| BioMedVR     | 2 padding experts   | des + dist attributes| confuse         | softmax gate  |
| AttrVR       | 1 padding expert    | des + dist attributes| -               | -             |
| AR           | 1 padding expert    | class-name prompts   | -               | -             |
| VP           | border pattern      | class-name prompts   | -               | -             |
| BioMedVR_ZS  | none                | des + dist attributes| confuse         | s+ - lambda s-|
| AttrVR_ZS    | none                | des + dist attributes| -               | -             |

Zero-shot CLIP, which has no attributes, is a feature-based trainer (trainers/zeroshot_clip.py).
"""

from __future__ import annotations

import torch
from dassl.engine import TRAINER_REGISTRY
from torch import nn
from yacs.config import CfgNode

from attributes.fetch import ensure_fetched
from attributes.files import has_attribute_file
from datasets.catalog import prompt_templates
from datasets.layout import fewshot_pools
from datasets.splits import Item
from trainers.attribute_bank import (
    ATTRIBUTE_SAMPLINGS,
    AttributeBank,
    build_bank,
    choose_attributes,
    prompt_bank,
)
from trainers.encoding import InputPrompt, NoPrompt, Scores
from trainers.frozen_clip import FrozenCLIPTrainer
from trainers.losses import CS_FORMS, biomedvr_loss
from trainers.mope import MixtureOfPromptExperts, PromptExperts, gate_weights
from trainers.reprogram import BorderPrompt, PaddingPrompt
from trainers.run_files import write_chosen_attributes

MISSING_CONFUSE = ("error", "zero")


class VisualPromptTrainer(FrozenCLIPTrainer):
    """Input-space prompts scored against attribute or class-name banks (settings in TRAINER.BIOMEDVR)."""

    cfg_node = "BIOMEDVR"
    uses_frame = True  # image at INPUT_SIZE inside a frame, else at the backbone's size
    gated = False  # a learned softmax gate fuses the positive and negative scores
    negative_weight: float | None = None  # s+ - lambda * s- without a gate (zero-shot BioMedVR)

    def build_prompt(self) -> InputPrompt:
        raise NotImplementedError

    def build_banks(self, classnames: list[str]) -> tuple[list[AttributeBank], AttributeBank | None]:
        """The positive attribute banks (averaged) and the negative one (or None)."""
        raise NotImplementedError

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        vr = cfg.TRAINER.BIOMEDVR
        if vr.TOPK < 1:
            raise ValueError(f"TRAINER.BIOMEDVR.TOPK must be at least 1, got {vr.TOPK}")
        if vr.NUM_ATTR < 1:
            raise ValueError(f"TRAINER.BIOMEDVR.NUM_ATTR must be at least 1, got {vr.NUM_ATTR}")
        if vr.MISSING_CONFUSE not in MISSING_CONFUSE:
            raise ValueError(
                f"TRAINER.BIOMEDVR.MISSING_CONFUSE must be one of {MISSING_CONFUSE}, "
                f"got {vr.MISSING_CONFUSE!r}"
            )
        if vr.CS_FORM not in CS_FORMS:
            raise ValueError(f"TRAINER.BIOMEDVR.CS_FORM must be one of {CS_FORMS}, got {vr.CS_FORM!r}")
        if vr.ATTRIBUTE_SAMPLING not in ATTRIBUTE_SAMPLINGS:
            raise ValueError(
                f"TRAINER.BIOMEDVR.ATTRIBUTE_SAMPLING must be one of {ATTRIBUTE_SAMPLINGS}, "
                f"got {vr.ATTRIBUTE_SAMPLING!r}"
            )
        if "normalize" in cfg.INPUT.TRANSFORMS:
            raise ValueError(
                "INPUT.TRANSFORMS must not contain 'normalize' for visual reprogramming: the pattern is "
                "painted on [0, 1] pixels and normalized with the backbone's mean/std afterwards"
            )

    @classmethod
    def image_size(cls, cfg: CfgNode) -> int:
        """INPUT_SIZE inside a frame, else INPUT.SIZE."""
        return cfg.TRAINER.BIOMEDVR.INPUT_SIZE if cls.uses_frame else super().image_size(cfg)

    def check_image_size(self) -> None:
        """A framed image is smaller than the backbone's input (checked by the padding prompt)."""
        if not self.uses_frame:
            super().check_image_size()

    def attribute_banks(self, kinds: list[str], classnames: list[str]) -> dict[str, AttributeBank]:
        """Each kind's chosen sentences, embedded; the sentences are written to the run folder."""
        vr, cfg = self.cfg.TRAINER.BIOMEDVR, self.cfg
        chosen = choose_attributes(
            vr.ATTRIBUTE_SET,
            cfg.DATASET.NAME,
            kinds,
            classnames,
            vr.NUM_ATTR,
            vr.ATTRIBUTE_SAMPLING,
            cfg.SEED,
            self.reference_picks(),
        )
        write_chosen_attributes(self.output_dir, cfg, chosen, classnames)
        return {kind: build_bank(texts, self.backbone.encode_text) for kind, texts in chosen.items()}

    def reference_picks(self) -> list[tuple[list[Item], int]]:
        """The few-shot draws the published run made before its sentence draw (when it drew them)."""
        vr, dataset = self.cfg.TRAINER.BIOMEDVR, self.cfg.DATASET
        drawn = vr.ATTRIBUTE_SAMPLING == "reference" and vr.REFERENCE_PICKS_DRAWN and dataset.NUM_SHOTS >= 1
        return fewshot_pools(dataset.ROOT, dataset.NAME, dataset.NUM_SHOTS) if drawn else []

    def template_bank(self, classnames: list[str]) -> AttributeBank:
        templates = prompt_templates(self.cfg.DATASET.NAME, self.cfg.TRAINER.COMMON.TEMPLATES)
        return prompt_bank(templates, classnames, self.backbone.encode_text)

    def attribute_kinds(self, use_negative: bool) -> list[str]:
        """des and dist, and confuse when used; none (s- = 0) when the set has no confusion-aware file of
        the dataset and MISSING_CONFUSE is "zero", as the published code runs."""
        vr, dataset = self.cfg.TRAINER.BIOMEDVR, self.cfg.DATASET.NAME
        if not use_negative:
            return ["des", "dist"]
        if vr.MISSING_CONFUSE == "zero":
            ensure_fetched(vr.ATTRIBUTE_SET, dataset, ["confuse"])
            if not has_attribute_file(vr.ATTRIBUTE_SET, dataset, "confuse"):
                print(
                    f"No confusion-aware attributes for {dataset} in the set {vr.ATTRIBUTE_SET!r}: running "
                    "without the negative pathway (s- = 0), as the published code does "
                    "(TRAINER.BIOMEDVR.MISSING_CONFUSE)"
                )
                return ["des", "dist"]
        return ["des", "dist", "confuse"]

    def padding_prompt(self, num_experts: int) -> PaddingPrompt:
        backbone = self.backbone
        return PaddingPrompt(
            num_experts,
            backbone.image_size,
            self.cfg.TRAINER.BIOMEDVR.INPUT_SIZE,
            backbone.mean,
            backbone.std,
        )

    def build_classifier(self) -> tuple[nn.Module, nn.Module]:
        experts = PromptExperts(self.build_prompt(), gated=self.gated)
        print("Embedding attributes once with the frozen text encoder")
        positive, negative = self.build_banks(self.classnames)
        model = MixtureOfPromptExperts(
            experts,
            self.backbone,
            [bank.to(self.device) for bank in positive],
            negative.to(self.device) if negative is not None else None,
            top_k=self.cfg.TRAINER.BIOMEDVR.TOPK,
            negative_weight=self.negative_weight,
            autocast_dtype=self.autocast_dtype,
        )
        return model, experts

    def gate_values(self) -> dict[str, float] | None:
        gate_logits = getattr(self.trainable, "gate_logits", None)
        if gate_logits is None:
            return None
        gate = gate_weights(gate_logits.detach().float()).tolist()
        return {"positive": gate[0], "negative": gate[1]}


@TRAINER_REGISTRY.register()
class BioMedVR(VisualPromptTrainer):
    """Two padding experts, attribute scores, confusion-aware negatives, gated fusion, CS loss."""

    @property
    def gated(self) -> bool:
        """Two experts and the gate; without MoPE one pattern, logits = s+ (s- feeds the CS loss only)."""
        return self.cfg.TRAINER.BIOMEDVR.USE_MOPE

    def build_prompt(self) -> InputPrompt:
        return self.padding_prompt(2 if self.gated else 1)

    def build_banks(self, classnames):
        use_negative = self.cfg.TRAINER.BIOMEDVR.USE_CONFUSION_ATTRIBUTES
        banks = self.attribute_banks(self.attribute_kinds(use_negative), classnames)
        return [banks["des"], banks["dist"]], banks.get("confuse")

    def compute_loss(self, scores: Scores, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        vr = self.cfg.TRAINER.BIOMEDVR
        return biomedvr_loss(
            scores.positive, scores.negative, scores.fused, labels, vr.CS_WEIGHT, vr.CS_MARGIN, vr.CS_FORM
        )


@TRAINER_REGISTRY.register()
class AttrVR(VisualPromptTrainer):
    """One padding expert scored against descriptive and discriminative attributes (Cai et al. 2025)."""

    def build_prompt(self) -> InputPrompt:
        return self.padding_prompt(1)

    def build_banks(self, classnames):
        banks = self.attribute_banks(["des", "dist"], classnames)
        return [banks["des"], banks["dist"]], None


@TRAINER_REGISTRY.register()
class AR(VisualPromptTrainer):
    """One padding expert scored against class-name prompts (Chen et al. 2023)."""

    def build_prompt(self) -> InputPrompt:
        return self.padding_prompt(1)

    def build_banks(self, classnames):
        return [self.template_bank(classnames)], None


@TRAINER_REGISTRY.register()
class VP(VisualPromptTrainer):
    """An additive pattern on the border of the normalized full-size image (Bahng et al. 2022)."""

    uses_frame = False

    def build_prompt(self) -> InputPrompt:
        b = self.backbone
        return BorderPrompt(b.image_size, self.cfg.TRAINER.BIOMEDVR.VP_BORDER, b.mean, b.std)

    def build_banks(self, classnames):
        return [self.template_bank(classnames)], None


class ZeroShotTrainer(VisualPromptTrainer):
    """No training and no pattern: the full-size image against attribute embeddings."""

    uses_frame = False
    trains = False

    def build_prompt(self) -> InputPrompt:
        return NoPrompt(self.backbone.mean, self.backbone.std)

    def train(self) -> None:
        self.test()


@TRAINER_REGISTRY.register()
class AttrVR_ZS(ZeroShotTrainer):
    """Zero-shot attribute scores: s+ alone."""

    def build_banks(self, classnames):
        banks = self.attribute_banks(["des", "dist"], classnames)
        return [banks["des"], banks["dist"]], None


@TRAINER_REGISTRY.register()
class BioMedVR_ZS(ZeroShotTrainer):
    """Zero-shot BioMedVR: s+ - lambda * s- with lambda = TRAINER.BIOMEDVR.ZS_LAMBDA."""

    def build_banks(self, classnames):
        banks = self.attribute_banks(self.attribute_kinds(True), classnames)
        return [banks["des"], banks["dist"]], banks.get("confuse")

    @property
    def negative_weight(self) -> float:
        return self.cfg.TRAINER.BIOMEDVR.ZS_LAMBDA
