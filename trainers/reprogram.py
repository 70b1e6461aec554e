"""Input-space visual prompts: the padding frame (AR, AttrVR, BioMedVR) and the VP border."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainers.encoding import InputPrompt, Normalize


def frame_padding(image_size: int, inner_size: int) -> tuple[int, int]:
    """Left/top and right/bottom widths of the frame that centres an inner image."""
    if not 0 < inner_size < image_size:
        raise ValueError(
            f"TRAINER.BIOMEDVR.INPUT_SIZE must be between 1 and {image_size - 1} (the backbone's "
            f"image size is {image_size}), got {inner_size}"
        )
    extra = image_size - inner_size
    return (extra + 1) // 2, extra // 2


def frame_mask(image_size: int, inner_size: int) -> torch.Tensor:
    """M in Eq. 3: 1 on the frame around a centred inner image, 0 inside; shape [1, S, S]."""
    before, _ = frame_padding(image_size, inner_size)
    mask = torch.ones(1, image_size, image_size)
    mask[:, before : before + inner_size, before : before + inner_size] = 0
    return mask


def border_mask(image_size: int, width: int) -> torch.Tensor:
    """1 on a border of ``width`` pixels around the image, 0 inside; shape [1, S, S]."""
    mask = torch.ones(1, image_size, image_size)
    mask[:, width : image_size - width, width : image_size - width] = 0
    return mask


class PaddingPrompt(InputPrompt):
    """Eq. 3 and 8: x_e = normalize(pad(x) + sigmoid(delta_e) * M), one delta per expert.

    Computed as pad(normalize(x)) + M normalize(sigmoid(delta_e)): the two are equal because the
    frame of pad(x) and the inside of M are zero.
    """

    def __init__(
        self,
        num_experts: int,
        image_size: int,
        inner_size: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.image_size, self.inner_size = image_size, inner_size
        self.padding = frame_padding(image_size, inner_size)
        self.delta = nn.Parameter(torch.zeros(num_experts, 3, image_size, image_size))
        self.register_buffer("mask", frame_mask(image_size, inner_size), persistent=False)
        self.normalize = Normalize(mean, std)

    @property
    def num_experts(self) -> int:
        return self.delta.shape[0]

    def pad(self, images: torch.Tensor) -> torch.Tensor:
        """Centre the images on a zero canvas of the backbone's size."""
        if images.shape[-1] != self.inner_size or images.shape[-2] != self.inner_size:
            raise ValueError(
                f"expected images of {self.inner_size}x{self.inner_size} "
                f"(TRAINER.BIOMEDVR.INPUT_SIZE), got {tuple(images.shape[-2:])}"
            )
        before, after = self.padding
        return nn.functional.pad(images, (before, after, before, after), value=0.0)

    def parts(
        self, images: torch.Tensor, num_experts: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalized padded images [B, 3, S, S] and the normalized frame patterns [E, 3, S, S]."""
        delta = self.delta if num_experts in (None, self.num_experts) else self.delta[:num_experts]
        canvas = self.pad(self.normalize(images))
        return canvas, self.normalize(torch.sigmoid(delta)) * self.mask


class BorderPrompt(InputPrompt):
    """VP (Bahng et al. 2022): an unconstrained additive pattern on a border of the normalized image."""

    def __init__(self, image_size: int, width: int, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.image_size = image_size
        self.delta = nn.Parameter(torch.zeros(1, 3, image_size, image_size))
        self.register_buffer("mask", border_mask(image_size, width), persistent=False)
        self.normalize = Normalize(mean, std)

    def parts(
        self, images: torch.Tensor, num_experts: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalize(images), self.delta * self.mask
