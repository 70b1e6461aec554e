"""Backbone names, weights files, preprocessing and freezing."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.conftest import REPO, TINY_BACKBONE, run_bash
from trainers.backbones import Backbone, BackboneError, backbone_tag, load_backbone, resolve_backbone


def test_coop_names_map_to_open_clip_models_and_weights():
    assert resolve_backbone("ViT-B/16") == ("ViT-B-16", "openai")
    assert resolve_backbone("ViT-B/32") == ("ViT-B-32", "openai")
    assert resolve_backbone("RN50") == ("RN50", "openai")
    assert resolve_backbone("BiomedCLIP") == (
        "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
        None,
    )
    assert resolve_backbone("ViT-L-14") == ("ViT-L-14", None)  # any open_clip name passes through
    assert resolve_backbone("ViT-B/16", "laion2b_s34b_b88k") == ("ViT-B-16", "laion2b_s34b_b88k")
    assert resolve_backbone("ViT-B/16", "none") == ("ViT-B-16", None)


def test_unknown_backbone_and_missing_weights_file_are_named():
    with pytest.raises(BackboneError, match=r"MODEL\.BACKBONE\.NAME: unknown backbone 'ViT-B/99'"):
        resolve_backbone("ViT-B/99")
    with pytest.raises(
        BackboneError, match=r"MODEL\.BACKBONE\.PRETRAINED: weights file /nowhere/w\.pt does not exist"
    ):
        resolve_backbone("ViT-B/16", "/nowhere/w.pt")


def test_a_local_weights_file_is_loaded(tmp_path):
    reference = load_backbone(TINY_BACKBONE)
    state = {k: v + 0.5 if v.is_floating_point() else v for k, v in reference.model.state_dict().items()}
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    loaded = load_backbone(TINY_BACKBONE, str(path))
    assert all(torch.equal(v, state[k]) for k, v in loaded.model.state_dict().items())


def test_random_weights_are_the_same_in_every_process():
    assert torch.equal(
        load_backbone(TINY_BACKBONE).model.visual.proj, load_backbone(TINY_BACKBONE).model.visual.proj
    )


def test_frozen_fp32_eval_mode(tiny_backbone):
    model = tiny_backbone.model
    assert not model.training
    assert all(not p.requires_grad and p.dtype == torch.float32 for p in model.parameters())
    assert tiny_backbone.image_size == 224


def test_mean_and_std_come_from_the_model_preprocessing_config(tmp_path):
    """As BiomedCLIP's do: a model folder (hf-hub or local-dir) carries its own preprocess_cfg."""
    model_cfg = json.loads((REPO / "tests" / "fixtures" / "biomedvr-test-tiny.json").read_text())
    preprocess = {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6], "size": 224}
    (tmp_path / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess})
    )
    backbone = load_backbone(f"local-dir:{tmp_path}")
    assert backbone.mean == (0.1, 0.2, 0.3) and backbone.std == (0.4, 0.5, 0.6)
    assert tiny_defaults() == ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def tiny_defaults() -> tuple:
    backbone = load_backbone(TINY_BACKBONE)
    return backbone.mean, backbone.std


def test_text_embeddings_are_unit_vectors(tiny_backbone):
    embeddings = tiny_backbone.encode_text(["an MRI slice of a glioma", "a normal brain"])
    assert embeddings.shape == (2, 32)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))


@pytest.mark.parametrize(
    "name",
    [
        "ViT-B/16",
        "ViT-B/32",
        "RN50",
        "BiomedCLIP",
        "PubMedCLIP",
        "PMC-CLIP",
        "tests/fixtures/biomedvr-test-tiny.json",
    ],
)
def test_output_folder_tag_is_the_same_in_python_and_the_scripts(name):
    script = f'source scripts/common.sh >/dev/null; backbone_tag "{name}"'
    shell = run_bash(["-c", script], check=True)
    assert shell.stdout.strip() == backbone_tag(name)


def assert_patterns_through_the_split_first_conv_equal_the_summed_images(backbone: Backbone) -> None:
    size = backbone.image_size
    generator = torch.Generator().manual_seed(0)
    canvas = torch.randn(3, 3, size, size, generator=generator)
    patterns = torch.randn(2, 3, size, size, generator=generator, requires_grad=True)
    fast = backbone.encode_image_plus_patterns(canvas, patterns)
    (fast_grad,) = torch.autograd.grad(fast.square().sum(), patterns)
    slow = backbone.encode_image((canvas.unsqueeze(0) + patterns.unsqueeze(1)).flatten(0, 1))
    (slow_grad,) = torch.autograd.grad(slow.square().sum(), patterns)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-4, atol=1e-6)
    assert not backbone.patch_embedding._forward_hooks  # the hook is removed again


def test_patterns_through_the_split_patch_embedding_equal_the_summed_images(tiny_backbone):
    assert tiny_backbone.patch_embedding is tiny_backbone.model.visual.conv1
    assert_patterns_through_the_split_first_conv_equal_the_summed_images(tiny_backbone)


def with_biased_first_conv(backbone: Backbone) -> Backbone:
    """The backbone with its first convolution replaced by a copy with a bias drawn from N(0, 1)."""
    conv = backbone.patch_embedding
    biased = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
        conv.groups, bias=True,
    )  # fmt: skip
    with torch.no_grad():
        biased.weight.copy_(conv.weight)
        biased.bias.copy_(torch.randn(conv.out_channels, generator=torch.Generator().manual_seed(1)))
    biased.requires_grad_(False)
    visual = backbone.model.visual
    parent, _, attribute = next(name for name, m in visual.named_modules() if m is conv).rpartition(".")
    setattr(visual.get_submodule(parent), attribute, biased)
    assert backbone.patch_embedding is biased
    return backbone


@pytest.mark.parametrize(
    ("config", "first_conv"),
    [("biomedvr-test-tiny-timm.json", "trunk.patch_embed.proj"), ("biomedvr-test-tiny-rn.json", "conv1")],
    ids=["timm-vit-patch-embedding", "modified-resnet-stem"],
)
def test_split_first_conv_with_a_bias_equals_the_summed_images(config, first_conv):
    """conv(c + p) = conv(c) + conv(p) - bias: the bias counts once (BiomedCLIP's timm trunk has one)."""
    backbone = load_backbone(str(REPO / "tests" / "fixtures" / config))
    assert backbone.patch_embedding is backbone.model.visual.get_submodule(first_conv)
    assert_patterns_through_the_split_first_conv_equal_the_summed_images(with_biased_first_conv(backbone))
