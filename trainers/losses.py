"""The BioMedVR objective: cross-entropy plus confusion suppression (Eq. 14-16)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

CS_FORMS = ("paper", "reference")
REFERENCE_PENALTY_CAP = 1e3


def confusion_suppression_loss(
    positive: torch.Tensor,
    negative: torch.Tensor,
    fused: torch.Tensor,
    labels: torch.Tensor,
    margin: float,
    form: str = "paper",
) -> torch.Tensor:
    """Eq. 15: mean_i max(0, max_{c != y_i} s-_{i,c} - s+_{i,y_i} + m).

    ``form="reference"`` reproduces the published code instead: the correct score is the fused
    logit of y, the max runs over all classes including y, and the batch mean is capped at 1e3.
    """
    if form == "paper":
        true_class = F.one_hot(labels, negative.shape[-1]).bool()
        hardest_negative = negative.masked_fill(true_class, float("-inf")).max(dim=-1).values
        correct = positive.gather(1, labels.unsqueeze(1)).squeeze(1)
        return F.relu(hardest_negative - correct + margin).mean()
    if form == "reference":
        correct = fused.gather(1, labels.unsqueeze(1)).squeeze(1)
        penalty = F.relu(negative.max(dim=-1).values - correct + margin).mean()
        return penalty.clamp(max=REFERENCE_PENALTY_CAP)
    raise ValueError(f"TRAINER.BIOMEDVR.CS_FORM must be one of {CS_FORMS}, got {form!r}")


def biomedvr_loss(
    positive: torch.Tensor,
    negative: torch.Tensor | None,
    fused: torch.Tensor,
    labels: torch.Tensor,
    weight: float,
    margin: float,
    form: str = "paper",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 16: L = CE(s, y) + beta * L_cs; returns the loss and its parts for logging."""
    ce = F.cross_entropy(fused, labels)
    parts = {"loss_ce": ce.item()}
    if negative is None or weight == 0:
        return ce, parts
    cs = confusion_suppression_loss(positive, negative, fused, labels, margin, form)
    parts["loss_cs"] = cs.item()
    return ce + weight * cs, parts
