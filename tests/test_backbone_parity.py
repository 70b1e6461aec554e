"""The CoOp backbone names run OpenAI's weights exactly as OpenAI's CLIP architecture does.

The independent reference is open_clip's ``build_model_from_openai_state_dict``, which infers the
architecture from an OpenAI state dict alone (QuickGELU, as OpenAI's code), with no model config and
none of this project's name mapping. Random weights in OpenAI's format stand in for the real ones.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from open_clip import tokenize
from open_clip.model import build_model_from_openai_state_dict

from tests.conftest import TINY_BACKBONE
from trainers.backbones import load_backbone, uses_quick_gelu

TEXTS = ["a brain MRI with a glioma.", "a normal chest X-ray."]


def openai_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Random weights of backbone ``name`` as OpenAI distributes them: OpenAI's key names, fp16."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        state = load_backbone(name, "none").model.state_dict()
    return {key: value.half() for key, value in state.items()}


def reference_embeddings(state: dict[str, torch.Tensor], images: torch.Tensor, tokens: torch.Tensor):
    reference = build_model_from_openai_state_dict(dict(state)).float().eval()
    with torch.no_grad():
        return reference.encode_image(images), reference.encode_text(tokens), reference


def assert_same_embeddings(backbone, images, expected_image, expected_text) -> None:
    with torch.no_grad():
        image = backbone.encode_image(images)
        text = backbone.model.encode_text(backbone.tokenizer(TEXTS))
    torch.testing.assert_close(image, expected_image, atol=1e-5, rtol=0)
    torch.testing.assert_close(text, expected_text, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["ViT-B/16", "RN50"])
def test_openai_weights_run_as_openai_clip_does(name, tmp_path):
    state = openai_state_dict(name)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tokens = tokenize(TEXTS)
    expected_image, expected_text, reference = reference_embeddings(state, images, tokens)

    state_file = tmp_path / "openai_state_dict.pt"
    torch.save(state, state_file)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*QuickGELU mismatch.*")
        backbone = load_backbone(name, str(state_file))
    assert_same_embeddings(backbone, images, expected_image, expected_text)

    # OpenAI's clip.load caches its models as TorchScript archives (~/.cache/clip/ViT-B-16.pt).
    archive = tmp_path / "openai_torchscript.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(reference.half()), archive)
        backbone = load_backbone(name, str(archive))
    assert_same_embeddings(backbone, images, expected_image, expected_text)


def test_the_activation_follows_the_weights():
    assert uses_quick_gelu("ViT-B/16", "ViT-B-16", "openai")
    assert uses_quick_gelu("ViT-L-14", "ViT-L-14", "openai")  # any open_clip name with OpenAI's weights
    assert uses_quick_gelu("RN50", "RN50", None)  # random weights of OpenAI's architecture
    assert not uses_quick_gelu("ViT-B/16", "ViT-B-16", "laion2b_s34b_b88k")  # trained with GELU
    assert not uses_quick_gelu(TINY_BACKBONE, "biomedvr-test-tiny", None)
