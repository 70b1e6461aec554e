"""Mixture of prompt experts: expert views -> frozen encoder -> attribute scores -> gated fusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainers.attribute_bank import AttributeBank, class_scores
from trainers.backbones import Backbone
from trainers.encoding import InputPrompt, Scores, encode_prompted


def positive_scores(group_scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 8-9: the positive expert's score is the mean over its attribute groups, ½(s_des + s_dist)."""
    return torch.stack(list(group_scores)).mean(dim=0)


def gate_weights(gate_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 12: [g+, g-] = softmax(w)."""
    return torch.softmax(gate_logits, dim=0)


def fuse(positive: torch.Tensor, negative: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """Eq. 12: s = g+ s+ + g- s-."""
    return gate[0] * positive + gate[1] * negative


class PromptExperts(nn.Module):
    """The trainable state: the experts' input patterns and, for BioMedVR, the gate logits w.

    This is the only module handed to the optimizer and written to checkpoints.
    """

    def __init__(self, prompt: InputPrompt, gated: bool, gate_init: Sequence[float] = (1.0, 1.0)):
        super().__init__()
        self.prompt = prompt
        self.gate_logits = nn.Parameter(torch.tensor(list(gate_init), dtype=torch.float32)) if gated else None


class MixtureOfPromptExperts(nn.Module):
    """BioMedVR and, by configuration, AttrVR, AR, VP and the zero-shot scorers.

    - ``positive_banks``: scored on the first expert's view and averaged (Eq. 8-9).
    - ``negative_bank``: scored on the last expert's view (Eq. 10-11); None disables the pathway.
    - gated experts fuse with softmax(w) (Eq. 12); with ``negative_weight`` set instead, the
      scores combine as s+ - lambda * s- (zero-shot BioMedVR); otherwise the output is s+.
    A gated model without a negative bank uses s- = 0 (the "w/o confusion attributes" ablation).
    """

    def __init__(
        self,
        experts: PromptExperts,
        backbone: Backbone,
        positive_banks: Sequence[AttributeBank],
        negative_bank: AttributeBank | None,
        top_k: int,
        negative_weight: float | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if top_k < 1:
            raise ValueError(f"TRAINER.BIOMEDVR.TOPK must be at least 1, got {top_k}")
        self.experts = experts
        self.backbone = backbone
        self.positive_banks = list(positive_banks)
        self.negative_bank = negative_bank
        self.top_k = top_k
        self.negative_weight = negative_weight
        self.autocast_dtype = autocast_dtype
        self.tau = backbone.logit_scale

    def forward(self, images: torch.Tensor) -> Scores:
        prompt = self.experts.prompt
        views_needed = prompt.num_experts if self.negative_bank is not None else 1
        z = encode_prompted(self.backbone, prompt, images, views_needed, self.autocast_dtype)
        z_positive, z_negative = z[0], z[-1]
        positive = positive_scores(
            [class_scores(z_positive, bank, self.tau, self.top_k) for bank in self.positive_banks]
        )
        negative = None
        if self.negative_bank is not None:
            negative = class_scores(z_negative, self.negative_bank, self.tau, self.top_k)
        gate_logits = self.experts.gate_logits
        if gate_logits is not None:
            gate = gate_weights(gate_logits)
            negative_or_zero = negative if negative is not None else torch.zeros_like(positive)
            return Scores(
                positive, negative_or_zero, fuse(positive, negative_or_zero, gate), gate, z_positive
            )
        if negative is not None and self.negative_weight is not None:
            return Scores(positive, negative, positive - self.negative_weight * negative, None, z_positive)
        return Scores(positive, negative, positive, None, z_positive)
