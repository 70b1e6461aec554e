"""Tip-Adapter (Zhang et al., ECCV 2022): a key-value cache of the few-shot training features.

Keys F [N, D] are the L2-normalized training features, values L [N, C] their one-hot labels. A test
feature f gets cache logits exp(-beta (1 - f F^T)) L (Eq. 5-6), which are added to the zero-shot
logits with weight alpha. Tip-Adapter is training-free; Tip-Adapter-F trains the keys. alpha and
beta are chosen by ``search_alpha_beta`` on the few-shot validation features only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def cache_logits(
    features: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, beta: float
) -> torch.Tensor:
    """Eq. 5-6: exp(-beta (1 - f F^T)) L, [B, C] for features [B, D], keys [N, D], values [N, C]."""
    affinity = features @ keys.t()
    return torch.exp(-beta * (1 - affinity)) @ values


def tip_logits(clip_logits: torch.Tensor, cached: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 6: the zero-shot logits tau f W^T plus alpha times the cache logits."""
    return clip_logits + alpha * cached


def search_values(scale: float, steps: int) -> list[float]:
    """The grid Tip-Adapter searches: ``steps`` values from 0.1 up to (not including) ``scale``."""
    if steps < 1 or scale <= 0.1:
        raise ValueError(f"a search grid needs steps >= 1 and a scale above 0.1, got {steps} and {scale}")
    return [0.1 + i * (scale - 0.1) / steps for i in range(steps)]


@dataclass(frozen=True)
class SearchResult:
    """The chosen (beta, alpha) and its validation accuracy in percent."""

    beta: float
    alpha: float
    accuracy: float


@torch.no_grad()
def search_alpha_beta(
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    text: torch.Tensor,
    tau: float,
    betas: Sequence[float],
    alphas: Sequence[float],
) -> SearchResult:
    """The (beta, alpha) of the grid with the best accuracy on the validation features.

    Ties go to the first in (beta, then alpha) order, as in Tip-Adapter's loops. Nothing but the
    validation features, their labels and the cache enters the search.
    """
    if len(val_labels) == 0:
        raise ValueError("the hyper-parameter search needs validation images; the validation split is empty")
    clip = tau * val_features @ text.t()
    alpha_tensor = torch.as_tensor(list(alphas), dtype=clip.dtype, device=clip.device)
    accuracy = torch.empty(len(betas), len(alphas))
    for row, beta in enumerate(betas):
        cached = cache_logits(val_features, keys, values, beta)
        logits = clip.unsqueeze(0) + alpha_tensor.view(-1, 1, 1) * cached.unsqueeze(0)
        accuracy[row] = (logits.argmax(dim=-1) == val_labels).float().mean(dim=-1).cpu() * 100
    best_beta, best_alpha = np.unravel_index(int(np.argmax(accuracy.numpy())), accuracy.shape)
    return SearchResult(float(betas[best_beta]), float(alphas[best_alpha]), float(accuracy.max()))


class CacheHead(nn.Module):
    """L2-normalized features [B, D] -> tau f T^T + alpha exp(-beta (1 - f F^T)) L.

    ``trainable_keys`` makes the keys a parameter (Tip-Adapter-F); otherwise they are a buffer. The
    keys, the values and the chosen alpha, beta are all in the state dict, so a checkpoint holds
    everything ``--eval-only`` needs.
    """

    def __init__(
        self,
        keys: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        text: torch.Tensor,
        tau: float,
        alpha: float,
        beta: float,
        trainable_keys: bool,
    ) -> None:
        super().__init__()
        keys = F.normalize(keys.float(), dim=-1)
        if trainable_keys:
            self.keys = nn.Parameter(keys)
        else:
            self.register_buffer("keys", keys)
        self.register_buffer("values", F.one_hot(labels.long(), num_classes).float())
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.register_buffer("beta", torch.tensor(float(beta)))
        self.register_buffer("text", text, persistent=False)
        self.tau = tau

    def set_alpha_beta(self, alpha: float, beta: float) -> None:
        self.alpha.fill_(alpha)
        self.beta.fill_(beta)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cached = cache_logits(features, self.keys, self.values, float(self.beta))
        return tip_logits(self.tau * features @ self.text.t(), cached, float(self.alpha))
