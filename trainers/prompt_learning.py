"""Dassl trainers of the prompt-learning family: learned text prompts on the frozen text tower.

The model pieces (text towers, prompt learners) are Dassl-free, in ``trainers/text_prompts.py``.
"""

from __future__ import annotations

from dassl.engine import TRAINER_REGISTRY
from torch import nn
from yacs.config import CfgNode

from trainers.frozen_clip import FrozenCLIPTrainer
from trainers.text_prompts import CoOpCLIP, PromptLearner, check_coop_cfg


class PromptLearningTrainer(FrozenCLIPTrainer):
    """Full-size images through the frozen image tower; what trains sits on the text side."""

    drop_last_batch = True  # as CoOp's code trains, through Dassl's loader


@TRAINER_REGISTRY.register()
class CoOp(PromptLearningTrainer):
    """CoOp (Zhou et al., IJCV 2022): learned prompt context, cross-entropy on the class logits."""

    cfg_node = "COOP"

    def check_cfg(self, cfg: CfgNode) -> None:
        super().check_cfg(cfg)
        check_coop_cfg(cfg.TRAINER.COOP)

    def build_classifier(self) -> tuple[nn.Module, nn.Module]:
        coop = self.cfg.TRAINER.COOP
        learner = PromptLearner(self.backbone, self.classnames, coop.N_CTX, coop.CTX_INIT, coop.CSC)
        return CoOpCLIP(learner, self.backbone, self.autocast_dtype), learner.context
