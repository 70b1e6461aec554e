"""CLIP-Adapter (Gao et al., IJCV 2023): a residual bottleneck MLP on the frozen image feature.

A(f) = ReLU(ReLU(f W1) W2) with W1 [D, D/r], W2 [D/r, D] (no biases); the adapted feature
f* = alpha A(f) + (1 - alpha) f is scored against the frozen class-name text embeddings,
logits = tau f* T^T, as BiomedCoOp's code does, or L2-normalized first (CLIP-Adapter's own code).
Only W1 and W2 train (2 D^2 / r parameters).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BottleneckAdapter(nn.Module):
    """Eq. 1 of CLIP-Adapter: A(f) = ReLU(ReLU(f W1) W2), reduction ``r`` in the hidden width."""

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        if reduction < 1 or dim // reduction < 1:
            raise ValueError(
                f"TRAINER.CLIP_ADAPTER.REDUCTION must be from 1 to the feature width {dim}, got {reduction}"
            )
        self.down = nn.Linear(dim, dim // reduction, bias=False)
        self.up = nn.Linear(dim // reduction, dim, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.relu(self.up(F.relu(self.down(features))))


def residual_blend(
    features: torch.Tensor, adapted: torch.Tensor, alpha: float, normalize: bool = False
) -> torch.Tensor:
    """Eq. 2 of CLIP-Adapter: f* = alpha A(f) + (1 - alpha) f (L2-normalized with ``normalize``)."""
    blended = alpha * adapted + (1 - alpha) * features
    return F.normalize(blended, dim=-1) if normalize else blended


class AdapterHead(nn.Module):
    """L2-normalized features [B, D] -> tau * blend(f, A(f)) @ text^T, [B, C]; the adapter trains."""

    def __init__(
        self, text: torch.Tensor, tau: float, alpha: float, reduction: int, normalize: bool = False
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"TRAINER.CLIP_ADAPTER.ALPHA must be in [0, 1], got {alpha}")
        self.adapter = BottleneckAdapter(text.shape[-1], reduction)
        self.register_buffer("text", text, persistent=False)
        self.tau, self.alpha, self.normalize = tau, alpha, normalize

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        blended = residual_blend(features, self.adapter(features), self.alpha, self.normalize)
        return self.tau * blended @ self.text.t()
