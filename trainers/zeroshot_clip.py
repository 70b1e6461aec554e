"""Zero-shot CLIP on the feature-based path: frozen features against class-name text, nothing trains."""

from __future__ import annotations

import torch
from dassl.engine import TRAINER_REGISTRY
from torch import nn

from trainers.feature_baselines import FeatureTrainer


class TextHead(nn.Module):
    """L2-normalized features [B, D] -> tau f T^T against fixed class embeddings T [C, D]."""

    def __init__(self, text: torch.Tensor, tau: float) -> None:
        super().__init__()
        self.register_buffer("text", text, persistent=False)
        self.tau = tau

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.tau * features @ self.text.t()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(FeatureTrainer):
    """CLIP with class-name prompts (TRAINER.COMMON.TEMPLATES, averaged when several)."""

    cfg_node = "ZEROSHOTCLIP"
    trains = False

    def build_head(self) -> nn.Module:
        return TextHead(self.class_text(), self.backbone.logit_scale)

    def train(self) -> None:
        self.test()
