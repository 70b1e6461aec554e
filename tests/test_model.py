"""The reprogrammer, the experts and the ablation switches, on a small deterministic encoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainers.attribute_bank import AttributeBank, class_scores
from trainers.backbones import Backbone
from trainers.mope import MixtureOfPromptExperts, PromptExperts, fuse, gate_weights
from trainers.reprogram import BorderPrompt, PaddingPrompt, frame_mask

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)


class LinearCLIP(nn.Module):
    """A frozen stand-in for CLIP: a fixed linear map of the pixels, and a logit scale of 10."""

    def __init__(self, size: int = 8, dim: int = 5) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.proj = nn.Parameter(torch.randn(3 * size * size, dim, generator=generator))
        self.logit_scale = nn.Parameter(torch.tensor(10.0).log())
        self.calls: list[int] = []

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return x.flatten(1) @ self.proj


def make_backbone(size: int = 8) -> Backbone:
    model = LinearCLIP(size).requires_grad_(False)
    return Backbone("linear", model, tokenizer=None, mean=MEAN, std=STD, image_size=size)


def random_bank(classes: int, attrs: int, dim: int = 5, seed: int = 1) -> AttributeBank:
    g = torch.Generator().manual_seed(seed)
    embeddings = nn.functional.normalize(torch.randn(classes, attrs, dim, generator=g), dim=-1)
    return AttributeBank(embeddings, torch.ones(classes, attrs, dtype=torch.bool))


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)


def test_frame_pixels_are_sigmoid_delta_and_the_inside_is_the_image():
    prompt = PaddingPrompt(2, image_size=8, inner_size=4, mean=MEAN, std=STD)
    with torch.no_grad():
        prompt.delta.normal_()
    images = torch.rand(3, 3, 4, 4)
    views = prompt(images)
    assert views.shape == (2, 3, 3, 8, 8)
    raw = unnormalize(views)
    inside = (slice(None), slice(None), slice(None), slice(2, 6), slice(2, 6))
    torch.testing.assert_close(raw[inside], images.unsqueeze(0).expand(2, -1, -1, -1, -1))
    frame = frame_mask(8, 4).bool().expand(3, 8, 8)
    for e in range(2):
        for b in range(3):
            torch.testing.assert_close(raw[e, b][frame], torch.sigmoid(prompt.delta[e])[frame])


def test_padding_is_centred_and_delta_starts_at_zero():
    mask = frame_mask(224, 192)
    assert mask[0, 16:208, 16:208].sum() == 0
    assert mask.sum() == 224 * 224 - 192 * 192
    prompt = PaddingPrompt(2, 224, 192, MEAN, STD)
    assert torch.count_nonzero(prompt.delta) == 0
    assert sum(p.numel() for p in prompt.parameters()) == 2 * 3 * 224 * 224


def test_input_size_must_leave_a_frame():
    for size in (224, 300):
        with pytest.raises(ValueError, match=r"TRAINER\.BIOMEDVR\.INPUT_SIZE"):
            PaddingPrompt(2, 224, size, MEAN, STD)


def test_checkpointed_state_is_only_the_trainable_parameters():
    experts = PromptExperts(PaddingPrompt(2, 224, 192, MEAN, STD), gated=True)
    state = experts.state_dict()
    assert set(state) == {"prompt.delta", "gate_logits"}
    assert sum(v.numel() for v in state.values()) == 301_058
    assert experts.gate_logits.tolist() == [1.0, 1.0]


def build(gated=True, experts=2, negative=True, negative_weight=None) -> MixtureOfPromptExperts:
    backbone = make_backbone()
    prompt = PaddingPrompt(experts, 8, 4, MEAN, STD)
    with torch.no_grad():
        prompt.delta.normal_(generator=torch.Generator().manual_seed(3))
    return MixtureOfPromptExperts(
        PromptExperts(prompt, gated=gated),
        backbone,
        positive_banks=[random_bank(3, 4, seed=1), random_bank(3, 2, seed=2)],
        negative_bank=random_bank(3, 3, seed=4) if negative else None,
        top_k=3,
        negative_weight=negative_weight,
    )


def test_forward_matches_the_equations_and_encodes_both_experts_in_one_call():
    model = build()
    images = torch.rand(2, 3, 4, 4)
    scores = model(images)
    assert model.backbone.model.calls == [4]  # 2 experts x 2 images, one encoder call
    views = model.experts.prompt(images)
    z = nn.functional.normalize(
        torch.stack([v.flatten(1) @ model.backbone.model.proj for v in views]), dim=-1
    )
    s_pos = 0.5 * (
        class_scores(z[0], model.positive_banks[0], 10.0, 3)
        + class_scores(z[0], model.positive_banks[1], 10.0, 3)
    )
    s_neg = class_scores(z[1], model.negative_bank, 10.0, 3)
    torch.testing.assert_close(scores.positive, s_pos)
    torch.testing.assert_close(scores.negative, s_neg)
    torch.testing.assert_close(scores.fused, fuse(s_pos, s_neg, gate_weights(torch.ones(2))))


def test_gradients_reach_delta_plus_delta_minus_and_w_only():
    model = build()
    frozen = list(model.backbone.model.parameters())
    loss = model(torch.rand(2, 3, 4, 4)).fused.logsumexp(-1).sum()
    loss.backward()
    delta = model.experts.prompt.delta
    assert delta.grad is not None and model.experts.gate_logits.grad is not None
    assert delta.grad[0].abs().sum() > 0 and delta.grad[1].abs().sum() > 0
    inside = delta.grad[:, :, 2:6, 2:6]
    assert torch.count_nonzero(inside) == 0  # only the frame is learned
    assert all(p.grad is None and not p.requires_grad for p in frozen)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["experts.gate_logits", "experts.prompt.delta"]


def test_without_confusion_attributes_negative_scores_are_zero_and_delta_minus_is_idle():
    model = build(negative=False)
    scores = model(torch.rand(2, 3, 4, 4))
    assert model.backbone.model.calls == [2]  # the negative expert is not even encoded
    assert torch.count_nonzero(scores.negative) == 0
    torch.testing.assert_close(scores.fused, 0.5 * scores.positive)
    scores.fused.sum().backward()
    assert model.experts.prompt.delta.grad[1].abs().sum() == 0


def test_shared_delta_scores_one_embedding_against_both_groups():
    model = build(experts=1)
    images = torch.rand(2, 3, 4, 4)
    scores = model(images)
    assert model.backbone.model.calls == [2]
    z = nn.functional.normalize(
        model.experts.prompt(images)[0].flatten(1) @ model.backbone.model.proj, dim=-1
    )
    torch.testing.assert_close(scores.negative, class_scores(z, model.negative_bank, 10.0, 3))
    assert model.experts.gate_logits.requires_grad


def test_zero_shot_combination_and_single_expert_output():
    zs = build(gated=False, negative_weight=0.5)
    scores = zs(torch.rand(2, 3, 4, 4))
    torch.testing.assert_close(scores.fused, scores.positive - 0.5 * scores.negative)
    attr = build(gated=False, experts=1, negative=False)
    scores = attr(torch.rand(2, 3, 4, 4))
    assert scores.negative is None and scores.gate is None
    torch.testing.assert_close(scores.fused, scores.positive)


def test_vp_border_pattern_is_added_after_normalization():
    prompt = BorderPrompt(8, width=2, mean=MEAN, std=STD)
    with torch.no_grad():
        prompt.delta.fill_(1.0)
    images = torch.rand(2, 3, 8, 8)
    out = prompt(images)[0]
    normalized = (images - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(out[:, :, 2:6, 2:6], normalized[:, :, 2:6, 2:6])
    torch.testing.assert_close(out[:, :, 0, :], normalized[:, :, 0, :] + 1.0)
