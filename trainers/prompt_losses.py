"""The regularisers of the prompt-learning baselines, as pure functions on small tensors.

KgCoOp (Yao et al., CVPR 2023), ProGrad (Zhu et al., ICCV 2023) and BiomedCoOp (Koleilat et al.,
CVPR 2025). Text embeddings are L2-normalized [C, D]; logits are [B, C].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def knowledge_guided_distance(text: torch.Tensor, zero_shot_text: torch.Tensor) -> torch.Tensor:
    """KgCoOp's L_kg as its code computes it: 1 - mean_c cos(w_c, w_c^clip).

    For unit vectors this is half the paper's mean squared distance, (1/C) sum_c ||w_c - w_c^clip||^2.
    """
    return 1.0 - F.cosine_similarity(text, zero_shot_text, dim=-1).mean()


def distillation_kl(logits: torch.Tensor, zero_shot_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """ProGrad's L_kl: T^2 * mean_b KL(softmax(zs_b / T) || softmax(logits_b / T))."""
    teacher = F.log_softmax(zero_shot_logits / temperature, dim=-1)
    student = F.log_softmax(logits / temperature, dim=-1)
    kl = F.kl_div(student, teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def project_gradient(gradient: torch.Tensor, general: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """ProGrad's update: G_ce - lambda (G_ce . G_kl / ||G_kl||^2) G_kl if G_ce . G_kl < 0, else G_ce."""
    dot = torch.dot(gradient.flatten(), general.flatten())
    norm_sq = general.square().sum()
    if dot >= 0 or norm_sq == 0:
        return gradient
    return gradient - weight * (dot / norm_sq) * general


def semantic_consistency(text: torch.Tensor, ensemble_mean: torch.Tensor) -> torch.Tensor:
    """BiomedCoOp's L_SCCM: mean squared error between the learned and the mean ensemble embeddings.

    Both are unit vectors, so this is 2 (1 - mean_c cos) / D.
    """
    return F.mse_loss(text, ensemble_mean)


def prompt_scores(images: torch.Tensor, ensemble: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """BiomedCoOp's score of each ensemble prompt p: mean_b max_c tau z_b . t_{c,p}.

    ``images`` [B, D] and ``ensemble`` [C, P, D] are L2-normalized; returns [P].
    """
    logits = logit_scale * torch.einsum("bd,cpd->pbc", images, ensemble)
    return logits.max(dim=-1).values.mean(dim=-1)


def keep_prompts(scores: torch.Tensor, tau: float, signed: bool = True) -> torch.Tensor:
    """BiomedCoOp's outlier pruning: which prompts [P] to keep (bool).

    With s~ = median(s) and d~ = median(|s - s~|), z = (s - s~) / d~ (``signed``, as BiomedCoOp's code
    computes it) or z = |s - s~| / d~ (as its paper writes it); prompt p is kept when
    |z_p - mean(z)| / std(z) <= tau. Without spread (d~ = 0, std(z) = 0 or a single prompt) or when
    nothing would be kept, every prompt is kept (the published code divides by zero there).
    """
    scores = scores.double()
    median = scores.median()
    spread = (scores - median).abs().median()
    keep_all = torch.ones_like(scores, dtype=torch.bool)
    if scores.numel() < 2 or spread == 0:
        return keep_all
    z = (scores - median) / spread
    if not signed:
        z = z.abs()
    deviation = z.std()
    if deviation == 0:
        return keep_all
    keep = ((z - z.mean()) / deviation).abs() <= tau
    return keep if keep.any() else keep_all


def knowledge_distillation(logits: torch.Tensor, zero_shot_logits: torch.Tensor) -> torch.Tensor:
    """BiomedCoOp's L_KDSP as its code computes it: sum_b KL(p_zs,b || p_b) / (B * C)."""
    teacher = F.log_softmax(zero_shot_logits, dim=-1)
    student = F.log_softmax(logits, dim=-1)
    return F.kl_div(student, teacher, reduction="sum", log_target=True) / logits.numel()
