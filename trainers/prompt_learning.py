"""Dassl trainers of the prompt-learning family: learned text prompts on the frozen text tower.

| trainer    | what trains                 | loss                                                  |
|------------|-----------------------------|-------------------------------------------------------|
| CoOp       | context                     | CE                                                    |
| CoCoOp     | context + meta-net          | CE (per-image prompts)                                |
| KgCoOp     | context                     | CE + W (1 - mean cos(learned, hand-crafted))          |
| ProGrad    | context                     | CE, gradient projected against the zero-shot KL's     |
| BiomedCoOp | context                     | CE + SCCM + KDSP over the pruned LLM prompt ensemble  |

Each method reads its own node, TRAINER.<NAME>, with BiomedCoOp's key names. The model pieces (text
towers, prompt learner) are Dassl-free, in ``trainers/text_prompts.py``; the losses in
``trainers/prompt_losses.py``.
"""

from __future__ import annotations

from functools import cached_property

import torch
from dassl.engine import TRAINER_REGISTRY
from torch import nn
from torch.nn import functional as F
from yacs.config import CfgNode

from attributes.prompt_table import load_prompt_ensembles
from trainers.encoding import Scores
from trainers.frozen_clip import FrozenCLIPTrainer
from trainers.loaders import PROMPT_TRANSFORMS
from trainers.prompt_losses import (
    distillation_kl,
    keep_prompts,
    knowledge_distillation,
    knowledge_guided_distance,
    project_gradient,
    prompt_scores,
    semantic_consistency,
)
from trainers.text_prompts import CoOpCLIP, PromptLearner, check_prompt_cfg

# TRAINER.PROGRAD.TEACHER: the KL's target; TRAINER.BIOMEDCOOP.PRUNING: the z-score of the pruning
# (trainers/config.py).
PROGRAD_TEACHERS = ("zero_shot", "student")
PRUNING_RULES = ("code", "paper")


class PromptLearningTrainer(FrozenCLIPTrainer):
    """Full-size images through the frozen image tower; the prompt context (and CoCoOp's meta-net) trains."""

    conditional = False  # CoCoOp's image-conditioned context

    @property
    def node(self) -> CfgNode:
        """The method's own config node, TRAINER.<cfg_node>."""
        return self.cfg.TRAINER[self.cfg_node]

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        check_prompt_cfg(cfg.TRAINER[self.cfg_node], f"TRAINER.{self.cfg_node}")
        transforms = list(cfg.INPUT.TRANSFORMS)
        unknown = [name for name in transforms if name not in PROMPT_TRANSFORMS]
        if unknown or ("random_flip" in transforms and "random_resized_crop" not in transforms):
            raise ValueError(
                f"INPUT.TRANSFORMS {transforms}: prompt learners support {list(PROMPT_TRANSFORMS)} (a flip "
                "only with the crop), or [] for TRAINER.COMMON.AUGMENT's crop and flip; the model "
                "normalizes every image with the backbone's mean and std"
            )

    def build_classifier(self) -> tuple[nn.Module, nn.Module]:
        node = self.node
        learner = PromptLearner(
            self.backbone, self.classnames, node.N_CTX, node.CTX_INIT, node.CSC, self.conditional
        )
        return CoOpCLIP(learner, self.backbone, self.autocast_dtype), learner.context

    @cached_property
    def zero_shot_text(self) -> torch.Tensor:
        """Hand-crafted class embeddings [C, D] from TRAINER.COMMON.TEMPLATES (averaged when several)."""
        return self.class_text()

    def zero_shot_logits(self, scores: Scores, text: torch.Tensor) -> torch.Tensor:
        """The frozen model's logits tau z . t against fixed class embeddings ``text`` [C, D]."""
        return self.model.tau * scores.embedding @ text.t()

    drop_last_batch = True  # as CoOp's code trains, through Dassl's loader


@TRAINER_REGISTRY.register()
class CoOp(PromptLearningTrainer):
    """CoOp (Zhou et al., IJCV 2022): learned prompt context, cross-entropy on the class logits."""

    cfg_node = "COOP"


@TRAINER_REGISTRY.register()
class CoCoOp(PromptLearningTrainer):
    """CoCoOp (Zhou et al., CVPR 2022): the context plus a per-image shift from the meta-net."""

    cfg_node = "COCOOP"
    conditional = True


@TRAINER_REGISTRY.register()
class KgCoOp(PromptLearningTrainer):
    """KgCoOp (Yao et al., CVPR 2023): CE + W (1 - mean cos) to the hand-crafted class embeddings."""

    cfg_node = "KGCOOP"

    def compute_loss(self, scores: Scores, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        ce = F.cross_entropy(scores.fused, labels)
        distance = knowledge_guided_distance(scores.text, self.zero_shot_text)
        loss = ce + self.node.W * distance
        return loss, {"loss": loss.item(), "ce": ce.item(), "kg_distance": distance.item()}


@TRAINER_REGISTRY.register()
class ProGrad(PromptLearningTrainer):
    """ProGrad (Zhu et al., ICCV 2023): CE gradients stripped of what conflicts with the zero-shot KL's."""

    cfg_node = "PROGRAD"
    _kl: torch.Tensor  # the KL of the current step, set by compute_loss, used by backward

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        node = cfg.TRAINER.PROGRAD
        if node.NAME not in ("", "prograd") or node.GM or node.ALPHA != 0:
            raise ValueError(
                "TRAINER.PROGRAD: only ProGrad itself is implemented (NAME '' or 'prograd', GM False, "
                f"ALPHA 0); got NAME {node.NAME!r}, GM {node.GM}, ALPHA {node.ALPHA}"
            )
        if node.T <= 0:
            raise ValueError(f"TRAINER.PROGRAD.T must be positive, got {node.T}")
        if node.TEACHER not in PROGRAD_TEACHERS:
            raise ValueError(
                f"TRAINER.PROGRAD.TEACHER must be one of {PROGRAD_TEACHERS}, got {node.TEACHER!r}"
            )

    def teacher_logits(self, scores: Scores) -> torch.Tensor:
        """The KL's target: the zero-shot logits, or the student's own (detached) under TEACHER student."""
        if self.node.TEACHER == "student":
            return scores.fused.detach()
        return self.zero_shot_logits(scores, self.zero_shot_text)

    def compute_loss(self, scores: Scores, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        ce = F.cross_entropy(scores.fused, labels)
        zero_shot = self.teacher_logits(scores)
        self._kl = distillation_kl(scores.fused, zero_shot, self.node.T)
        return ce, {"loss": ce.item(), "kl": self._kl.item()}

    def backward(self, loss: torch.Tensor) -> None:
        """G_ce, projected against G_kl for every trainable tensor where the two conflict."""
        params = [p for p in self.trainable.parameters() if p.requires_grad]
        general = torch.autograd.grad(self.scaled(self._kl), params, retain_graph=True, allow_unused=True)
        super().backward(loss)
        for param, gradient in zip(params, general, strict=True):
            if param.grad is not None and gradient is not None:
                param.grad = project_gradient(param.grad, gradient, self.node.LAMBDA)


@TRAINER_REGISTRY.register()
class BiomedCoOp(PromptLearningTrainer):
    """BiomedCoOp (Koleilat et al., CVPR 2025): CoOp + SCCM to the mean ensemble embedding + KDSP
    distillation from the zero-shot model over the ensemble prompts that survive outlier pruning."""

    cfg_node = "BIOMEDCOOP"

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        if cfg.TRAINER.BIOMEDCOOP.N_PROMPTS < 1:
            raise ValueError(
                f"TRAINER.BIOMEDCOOP.N_PROMPTS must be at least 1, got {cfg.TRAINER.BIOMEDCOOP.N_PROMPTS}"
            )
        pruning = cfg.TRAINER.BIOMEDCOOP.PRUNING
        if pruning not in PRUNING_RULES:
            raise ValueError(f"TRAINER.BIOMEDCOOP.PRUNING must be one of {PRUNING_RULES}, got {pruning!r}")

    @cached_property
    def ensemble(self) -> torch.Tensor:
        """The first N_PROMPTS sentences of every class, embedded once: [C, P, D], L2-normalized."""
        node = self.node
        sentences = load_prompt_ensembles(node.PROMPTS, self.cfg.DATASET.NAME, self.classnames)
        count = min(node.N_PROMPTS, *(len(sentences[name]) for name in self.classnames))
        if count < node.N_PROMPTS:
            print(
                f"Note: TRAINER.BIOMEDCOOP.N_PROMPTS {node.N_PROMPTS}: the ensemble ({node.PROMPTS}) "
                f"has {count} sentences for its smallest class; using {count} per class"
            )
        flat = [sentence for name in self.classnames for sentence in sentences[name][:count]]
        return self.backbone.encode_text(flat).view(len(self.classnames), count, -1)

    def compute_loss(self, scores: Scores, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        node, ensemble = self.node, self.ensemble
        ce = F.cross_entropy(scores.fused, labels)
        with torch.no_grad():
            keep = keep_prompts(
                prompt_scores(scores.embedding, ensemble, self.model.tau), node.TAU, node.PRUNING == "code"
            )
            teacher = F.normalize(ensemble[:, keep].mean(dim=1), dim=-1)
        sccm = semantic_consistency(scores.text, F.normalize(ensemble.mean(dim=1), dim=-1))
        kdsp = knowledge_distillation(scores.fused, self.zero_shot_logits(scores, teacher))
        loss = ce + node.SCCM_LAMBDA * sccm + node.KDSP_LAMBDA * kdsp
        parts = {"ce": ce.item(), "sccm": sccm.item(), "kdsp": kdsp.item(), "kept_prompts": float(keep.sum())}
        return loss, {"loss": loss.item(), **parts}
