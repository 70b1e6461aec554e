"""Feature-based baselines share one path: frozen image encoder -> L2-normalized feature -> a small head.

``encode_loader`` turns a loader into a feature matrix once (the training, validation and test images
of a run), so heads that are fitted rather than trained by back-propagation (Tip-Adapter's cache,
the linear probes) never run the encoder more than once per image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

from trainers.backbones import Backbone
from trainers.encoding import FrozenImageEncoder, Scores


@torch.no_grad()
def encode_loader(
    encode: Callable[[torch.Tensor], torch.Tensor],
    loader: Iterable[dict],
    to_device: Callable[[dict], tuple[torch.Tensor, torch.Tensor]],
    desc: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [N, D] (float32, as ``encode`` returns them) and labels [N] of every batch, in order."""
    features, labels = [], []
    for batch in tqdm(loader, desc=desc, leave=False):
        images, y = to_device(batch)
        features.append(encode(images).float())
        labels.append(y)
    if not features:
        raise ValueError(f"{desc}: the loader yielded no images")
    return torch.cat(features), torch.cat(labels)


class FeatureClassifier(nn.Module):
    """logits = head(normalize(image_encoder(normalize_pixels(images)))) with the encoder frozen.

    ``head`` maps L2-normalized features [B, D] to class logits [B, C]; it is all that trains.
    """

    def __init__(
        self, backbone: Backbone, head: nn.Module, autocast_dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.encoder = FrozenImageEncoder(backbone, autocast_dtype)
        self.head = head

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalized image features [B, D] of [0, 1] images."""
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> Scores:
        z = self.encode(images)
        logits = self.head(z)
        return Scores(positive=logits, negative=None, fused=logits, gate=None, embedding=z)
