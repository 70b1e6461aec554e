"""Frozen CLIP backbones from open_clip, addressed by their CoOp / BiomedCoOp names."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from torch import nn

# The default weights of PubMedCLIP and PMC-CLIP: the files their authors published (PUBLISHED_WEIGHTS).
PUBLISHED = "published"

# open_clip's config of PMC-CLIP: a ModifiedResNet-50 (8 attention-pool heads: 2048 / head_width 256) and
# the BERT model BiomedCoOp loads, its pooled output through a bias-free 768 x 768 projection; context 77
# and temperature exp(4.4292), as BiomedCoOp's PMC-CLIP trainers; OpenAI's mean/std (open_clip's default).
PMC_CLIP_CONFIG = Path(__file__).with_name("model_configs") / "PMC-CLIP.json"
open_clip.add_model_config(PMC_CLIP_CONFIG)

# CoOp spelling -> (open_clip model name, default pretrained tag).
BACKBONES: dict[str, tuple[str, str | None]] = {
    "ViT-B/16": ("ViT-B-16", "openai"),
    "ViT-B/32": ("ViT-B-32", "openai"),
    "RN50": ("RN50", "openai"),
    "BiomedCLIP": ("hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", None),
    "PubMedCLIP": ("ViT-B-32", PUBLISHED),
    "PMC-CLIP": (PMC_CLIP_CONFIG.stem, PUBLISHED),
}

# OpenAI's CLIP architectures: run with QuickGELU, as OpenAI's code runs them (and CoOp, BiomedCoOp and the
# published BioMedVR code with it), unless a pretrained tag of other weights is given. PubMedCLIP is
# OpenAI's ViT-B/32 fine-tuned, run by BiomedCoOp on OpenAI's code.
OPENAI_ARCHITECTURES = ("ViT-B/16", "ViT-B/32", "RN50", "PubMedCLIP")

# Backbones whose text tower is a Hugging Face BERT model (open_clip needs the transformers package).
HF_TEXT_BACKBONES = ("BiomedCLIP", "PMC-CLIP")

# Short names for output folders: ViT-B/16 -> vit_b16.
BACKBONE_TAGS = {
    "ViT-B/16": "vit_b16",
    "ViT-B/32": "vit_b32",
    "RN50": "rn50",
    "BiomedCLIP": "biomedclip",
    "PubMedCLIP": "pubmedclip",
    "PMC-CLIP": "pmcclip",
}

NO_WEIGHTS = "none"


@dataclass(frozen=True)
class PublishedWeights:
    """Weights files on the Hugging Face Hub, where BiomedCoOp's trainers download them from."""

    repo: str
    repo_type: str
    files: tuple[str, ...]


# PMC-CLIP's three files, as published: the image encoder's and the BERT model's state dicts, and the
# projection matrix [768, 768] that multiplies the BERT model's pooled output.
PMC_CLIP_FILES = ("image_encoder(resnet50).pth", "text_encoder.pth", "text_projection_layer.pth")
PUBLISHED_WEIGHTS = {
    "PubMedCLIP": PublishedWeights("sarahESL/PubMedCLIP", "model", ("PubMedCLIP_ViT32.pth",)),
    "PMC-CLIP": PublishedWeights("axiong/pmc_oa", "dataset", PMC_CLIP_FILES),
}


class BackboneError(ValueError):
    """A backbone name or weights file that cannot be used."""


@dataclass
class Backbone:
    """A frozen open_clip model with what is needed to feed and read it."""

    name: str
    model: nn.Module
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int

    @property
    def logit_scale(self) -> float:
        """tau in Eq. 11: the model's learned temperature, exp(logit_scale)."""
        return float(self.model.logit_scale.exp())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalized image embeddings of normalized images [B, 3, S, S]."""
        return self.model.encode_image(images)

    @property
    def patch_embedding(self) -> nn.Conv2d | None:
        """The convolution that first sees the image (open_clip ViT/ResNet, or a timm trunk), if any."""
        visual = getattr(self.model, "visual", None)
        for path in ("conv1", "trunk.patch_embed.proj") if visual is not None else ():
            try:
                module = visual.get_submodule(path)
            except AttributeError:
                continue
            if isinstance(module, nn.Conv2d):
                return module
        return None

    def encode_image_plus_patterns(self, canvas: torch.Tensor, patterns: torch.Tensor | None) -> torch.Tensor:
        """Embeddings of canvas[b] + patterns[e] for every (e, b), as [E * B, D], e-major.

        Without patterns, the embeddings of the canvas alone, [B, D].

        The first convolution is linear, so conv(c + p) = conv(c) + conv(p) - bias: the canvas and the
        E patterns go through it once each instead of E x B sums, and the rest of the encoder sees
        the E x B combinations. Equal to ``encode_image`` of the sums up to float rounding.
        """
        if patterns is None:
            return self.encode_image(canvas)
        conv = self.patch_embedding
        if conv is None:
            return self.encode_image((canvas.unsqueeze(0) + patterns.unsqueeze(1)).flatten(0, 1))
        pattern_features = nn.functional.conv2d(
            patterns, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups
        )

        def add_patterns(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            combined = output.unsqueeze(0) + pattern_features.unsqueeze(1).to(output.dtype)
            return combined.flatten(0, 1)

        handle = conv.register_forward_hook(add_patterns)
        try:
            return self.model.encode_image(canvas)
        finally:
            handle.remove()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """L2-normalized text embeddings [len(texts), D], computed without gradients."""
        chunks = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[start : start + batch_size])).to(self.device)
            chunks.append(self.model.encode_text(tokens).float())
        return nn.functional.normalize(torch.cat(chunks), dim=-1)


def backbone_tag(name: str) -> str:
    """Folder-friendly name of a backbone: ``ViT-B/16`` -> ``vit_b16``."""
    if name in BACKBONE_TAGS:
        return BACKBONE_TAGS[name]
    return Path(name).stem.replace("/", "_").replace(":", "_").lower()


def resolve_backbone(name: str, pretrained: str = "") -> tuple[str, str | None]:
    """Map a configured backbone name and weights to (open_clip model name, pretrained).

    ``pretrained`` is "" for the backbone's published weights, "none" for random weights, an
    open_clip pretrained tag, or the path of a local weights file.
    """
    if name.endswith(".json"):
        config = Path(name)
        if not config.is_file():
            raise BackboneError(f"MODEL.BACKBONE.NAME: model config file {name} does not exist")
        open_clip.add_model_config(config)
        model_name, default = config.stem, None
    elif name in BACKBONES:
        model_name, default = BACKBONES[name]
    elif name in open_clip.list_models() or name.startswith(("hf-hub:", "local-dir:")):
        model_name, default = name, None
    else:
        known = ", ".join(BACKBONES)
        raise BackboneError(
            f"MODEL.BACKBONE.NAME: unknown backbone {name!r}. Use one of {known}, an open_clip "
            "model name (python -c 'import open_clip; print(open_clip.list_models())'), "
            "hf-hub:<repo>, local-dir:<folder with open_clip_config.json>, or the path of an "
            "open_clip model config .json"
        )
    if pretrained.lower() == NO_WEIGHTS:
        return model_name, None
    if pretrained:
        if os.path.isdir(pretrained):
            check_pmc_clip_folder(pretrained)
        elif ("/" in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))) and (
            not os.path.isfile(pretrained)
        ):
            raise BackboneError(f"MODEL.BACKBONE.PRETRAINED: weights file {pretrained} does not exist")
        return model_name, pretrained
    return model_name, default


def check_pmc_clip_folder(folder: str) -> None:
    """A weights folder must hold PMC-CLIP's three files under their published names."""
    missing = [name for name in PMC_CLIP_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise BackboneError(
            f"MODEL.BACKBONE.PRETRAINED: folder {folder} lacks {', '.join(missing)}; a weights folder holds "
            f"PMC-CLIP's published files ({', '.join(PMC_CLIP_FILES)}), else give a weights file"
        )


def download_published(name: str) -> str:
    """The published weights of ``name`` in the Hugging Face cache (downloaded once, with progress).

    One file: its path. Several (PMC-CLIP): the folder that holds them.
    """
    from huggingface_hub import hf_hub_download

    published = PUBLISHED_WEIGHTS[name]
    paths = [hf_hub_download(published.repo, file, repo_type=published.repo_type) for file in published.files]
    return paths[0] if len(paths) == 1 else os.path.dirname(paths[0])


def pmc_clip_state_dict(
    image: dict[str, torch.Tensor], text: dict[str, torch.Tensor], projection: torch.Tensor
) -> dict[str, torch.Tensor]:
    """PMC-CLIP's three published parts under open_clip's keys (CustomTextCLIP with an HFTextEncoder).

    text @ projection is a bias-free linear layer whose weight is the projection transposed.
    """
    return {
        **{f"visual.{key}": value for key, value in image.items()},
        **{f"text.transformer.{key}": value for key, value in text.items()},
        "text.proj.weight": projection.detach().t(),
    }


def load_pmc_clip_weights(model: nn.Module, folder: str) -> None:
    """Load PMC-CLIP's three files into ``model``; the temperature stays the config's (the files lack it).

    Buffers the model rebuilds itself (BERT's position ids, which older transformers saved) are dropped.
    """
    image, text, projection = (
        torch.load(os.path.join(folder, file), map_location="cpu", weights_only=True)
        for file in PMC_CLIP_FILES
    )
    state = pmc_clip_state_dict(image, text, projection)
    state["logit_scale"] = model.logit_scale.detach()
    for key in {name for name, _ in model.named_buffers()} - set(model.state_dict()):
        state.pop(key, None)
    model.load_state_dict(state)


def bert_source(model_name: str, weights: str | None) -> str | None:
    """Where the BERT text tower's config and tokenizer come from: a weights folder holding them
    (``config.json``, ``vocab.txt``: fully offline), else the model config's Hugging Face name.
    None for a model without a Hugging Face text tower, or one that brings its own (hf-hub:, local-dir:)."""
    if weights and os.path.isfile(os.path.join(weights, "config.json")):
        return weights
    if model_name.startswith(("hf-hub:", "local-dir:")):
        return None
    config = open_clip.get_model_config(model_name) or {}
    return config.get("text_cfg", {}).get("hf_model_name")


def require_transformers(name: str) -> None:
    """Fail fast when a backbone with a BERT text tower is asked for without the transformers package."""
    if importlib.util.find_spec("transformers") is None:
        raise BackboneError(
            f"backbone {name} has a Hugging Face BERT text tower, which needs the transformers package: "
            "pip install transformers"
        )


def is_torchscript_archive(path: str) -> bool:
    """Whether a weights file is a TorchScript archive, as OpenAI's ``clip.load`` caches its models."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


def load_torchscript_weights(model: nn.Module, path: str) -> None:
    """Load the weights of a TorchScript CLIP archive (``~/.cache/clip/ViT-B-16.pt``) into ``model``.

    An archive also holds what is not a weight: OpenAI's three integers (input resolution, context
    length, vocabulary size) and the buffers a module rebuilds itself (the causal attention mask).
    """
    state = torch.jit.load(path, map_location="cpu").state_dict()
    rebuilt = {name for name, _ in model.named_buffers()} - set(model.state_dict())
    for key in ("input_resolution", "context_length", "vocab_size", *rebuilt):
        state.pop(key, None)
    model.load_state_dict(state)


def uses_quick_gelu(name: str, model_name: str, weights: str | None) -> bool:
    """QuickGELU for a pretrained tag trained with it (open_clip's record), else for OpenAI's architectures.

    OpenAI's architectures thus get it with their default weights, a local weights file (OpenAI's
    TorchScript archive or a state dict) and random weights; a tag such as ``laion2b_s34b_b88k`` gets
    the activation its weights were trained with.
    """
    if weights and not os.path.isfile(weights):
        return bool(open_clip.get_pretrained_cfg(model_name, weights).get("quick_gelu", False))
    return name in OPENAI_ARCHITECTURES


OFFLINE_HINT = (
    "Without internet, fetch the weights on another machine and set MODEL.BACKBONE.PRETRAINED to the "
    "file (README: Backbones and offline clusters)"
)


def _weights_error(name: str, error: Exception) -> BackboneError:
    first_line = (str(error).strip().splitlines() or [""])[0]
    return BackboneError(
        f"cannot get the weights of backbone {name} ({type(error).__name__}: {first_line}). {OFFLINE_HINT}."
    )


def fetch_weights(name: str, pretrained: str = "") -> None:
    """Check the backbone name and make its weights available now (downloading them once).

    Called before a run writes anything or reads data, so that an unknown name or a download that
    cannot happen ends the run at once, in one message.
    """
    model_name, weights = resolve_backbone(name, pretrained)
    if name in HF_TEXT_BACKBONES:
        require_transformers(name)
    try:
        if weights == PUBLISHED:
            weights = download_published(name)
        source = bert_source(model_name, weights)
        if source:
            from transformers import AutoConfig, AutoTokenizer

            AutoConfig.from_pretrained(source)
            AutoTokenizer.from_pretrained(source)
        if model_name.startswith("hf-hub:"):
            open_clip.pretrained.download_pretrained_from_hf(
                model_name.removeprefix("hf-hub:"), filename="open_clip_config.json"
            )
            return
        if weights is None or os.path.exists(weights):
            return
        config = open_clip.get_pretrained_cfg(model_name, weights)
        if not config:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
            raise BackboneError(
                f"MODEL.BACKBONE.PRETRAINED: open_clip has no weights {weights!r} for {model_name} "
                f"(its tags: {tags}); give a tag, a weights file, or none for random weights"
            )
        open_clip.download_pretrained(config)
    except BackboneError:
        raise
    except Exception as error:
        raise _weights_error(name, error) from error


def load_backbone(name: str, pretrained: str = "", device: str | torch.device = "cpu") -> Backbone:
    """Build a frozen fp32 open_clip model (eval mode, no gradients) with its own preprocessing.

    Weights are a pretrained tag, a local file (a state dict, a checkpoint holding one under
    ``state_dict``, safetensors, or OpenAI's TorchScript archive), a folder holding PMC-CLIP's three
    published files, a backbone's published files (downloaded once) or none; ``uses_quick_gelu``
    chooses the activation. Random weights (``pretrained`` "none", or a model config without weights)
    are drawn from a fixed seed, so that a training run and a later ``--eval-only`` run see the same
    encoder. A model config's BERT text tower is built from its config alone (never its pretrained
    weights): its weights come with the backbone's.
    """
    model_name, weights = resolve_backbone(name, pretrained)
    if name in HF_TEXT_BACKBONES:
        require_transformers(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            if weights == PUBLISHED:
                weights = download_published(name)
            folder = weights is not None and os.path.isdir(weights)
            torchscript = weights is not None and os.path.isfile(weights) and is_torchscript_archive(weights)
            text_source = bert_source(model_name, weights)
            text_cfg = {}
            if text_source:
                text_cfg = {"text_cfg": open_clip.get_model_config(model_name)["text_cfg"]}
                text_cfg["text_cfg"].update(hf_model_name=text_source, hf_model_pretrained=False)
            model = open_clip.create_model(
                model_name,
                pretrained=None if torchscript or folder else weights,
                precision="fp32",
                device=device,
                force_quick_gelu=uses_quick_gelu(name, model_name, weights),
                pretrained_text=False,
                **text_cfg,
            )
            if torchscript:
                load_torchscript_weights(model, weights)
            if folder:
                load_pmc_clip_weights(model, weights)
            tokenizer = (
                open_clip.tokenizer.HFTokenizer(text_source, text_cfg["text_cfg"]["context_length"])
                if text_source
                else open_clip.get_tokenizer(model_name)
            )
        except Exception as error:
            raise _weights_error(name, error) from error
    model.eval()
    model.requires_grad_(False)
    preprocess = model.visual.preprocess_cfg
    size = preprocess.get("size", model.visual.image_size)
    image_size = size if isinstance(size, int) else size[0]
    return Backbone(
        name=name,
        model=model,
        tokenizer=tokenizer,
        mean=tuple(preprocess["mean"]),
        std=tuple(preprocess["std"]),
        image_size=int(image_size),
    )
