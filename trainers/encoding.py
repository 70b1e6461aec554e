"""What every family scores with on the frozen CLIP: precision, the normalized (and prompted) image
encoding, class-name text embeddings and the ``Scores`` a model returns.

The three families (visual reprogramming, prompt learning, feature-based) import these; nothing
here imports a family.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from trainers.backbones import Backbone

# TRAINER.<NODE>.PREC -> the encoder's autocast dtype on CUDA ("amp", BiomedCoOp's name, is fp16).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "amp": torch.float16}


def autocast(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for the frozen encoder on CUDA; nothing elsewhere or with ``dtype`` None."""
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


@dataclass
class Scores:
    """Class scores of a batch: positive s+, negative s- (None without a negative pathway), fused s.

    ``embedding`` is the L2-normalized embedding of the positive (first) view, for t-SNE figures;
    ``text`` the L2-normalized class embeddings of prompt learning, [C, D] or per image [B, C, D].
    """

    positive: torch.Tensor
    negative: torch.Tensor | None
    fused: torch.Tensor
    gate: torch.Tensor | None
    embedding: torch.Tensor | None = None
    text: torch.Tensor | None = None


class Normalize(nn.Module):
    """The backbone's mean/std normalization, (x - mean) / std, as one fused multiply-add."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_, std_ = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
        self.register_buffer("scale", 1.0 / std_, persistent=False)
        self.register_buffer("shift", -mean_ / std_, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)


class InputPrompt(nn.Module):
    """A prompt in input space: the view of expert e is canvas + pattern_e.

    The canvas is the normalized (and, for a frame, padded) image batch [B, 3, S, S]; the patterns
    [E, 3, S, S] do not depend on the image (None: the canvas alone, as one view). Keeping the two
    apart lets the encoder embed the patterns once (``Backbone.encode_image_plus_patterns``).
    Input: images [B, 3, s, s] in [0, 1]. Output of ``forward``: the views [E, B, 3, S, S].
    """

    num_experts = 1

    def parts(
        self, images: torch.Tensor, num_experts: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def forward(self, images: torch.Tensor, num_experts: int | None = None) -> torch.Tensor:
        canvas, patterns = self.parts(images, num_experts)
        if patterns is None:
            return canvas.unsqueeze(0)
        return canvas.unsqueeze(0) + patterns.unsqueeze(1)


class NoPrompt(InputPrompt):
    """Zero-shot (and CoOp's image side): the normalized image alone, as a single view."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)

    def parts(self, images: torch.Tensor, num_experts: int | None = None) -> tuple[torch.Tensor, None]:
        return self.normalize(images), None


def encode_prompted(
    backbone: Backbone,
    prompt: InputPrompt,
    images: torch.Tensor,
    experts: int | None,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """Every expert's view of the images through the frozen encoder in one call: [E, B, D], L2-normalized.

    The views are never built: the canvas and the patterns meet after the encoder's first (linear)
    convolution, which each goes through once.
    """
    canvas, patterns = prompt.parts(images, experts)
    with autocast(dtype, images.device):
        z = backbone.encode_image_plus_patterns(canvas, patterns)
    return F.normalize(z.float(), dim=-1).view(-1, images.shape[0], z.shape[-1])


class FrozenImageEncoder(nn.Module):
    """[0, 1] images -> L2-normalized image features [B, D] of the frozen encoder (no prompt)."""

    def __init__(self, backbone: Backbone, autocast_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.normalize = NoPrompt(backbone.mean, backbone.std)
        self.backbone = backbone
        self.autocast_dtype = autocast_dtype

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return encode_prompted(self.backbone, self.normalize, images, None, self.autocast_dtype)[0]


def class_text_embeddings(
    templates: Sequence[str], classnames: Sequence[str], encode: Callable[[list[str]], torch.Tensor]
) -> torch.Tensor:
    """L2-normalized class-name embeddings [C, D]: each the mean of its templates' text embeddings."""
    rows = []
    for name in classnames:
        texts = [template.format(name.replace("_", " ")) for template in templates]
        rows.append(F.normalize(encode(texts).mean(dim=0), dim=-1))
    return torch.stack(rows)
