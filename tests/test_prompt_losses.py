"""The prompt-learning regularisers against values computed by hand on small tensors (no Dassl)."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.prompt_losses import (
    distillation_kl,
    keep_prompts,
    knowledge_distillation,
    knowledge_guided_distance,
    project_gradient,
    prompt_scores,
    semantic_consistency,
)

# Teacher [ln 3, 0] -> p = [3/4, 1/4]; student [0, 0] -> q = [1/2, 1/2].
TEACHER = torch.tensor([[math.log(3.0), 0.0]])
STUDENT = torch.tensor([[0.0, 0.0]])
KL_P_Q = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)


def test_kgcoop_distance_is_one_minus_mean_cosine():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zero_shot = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    assert knowledge_guided_distance(text, zero_shot).item() == pytest.approx(1 - (0.6 + 1.0) / 2)


def test_prograd_kl_with_temperature():
    assert distillation_kl(STUDENT, TEACHER, 1.0).item() == pytest.approx(KL_P_Q)
    p = math.sqrt(3) / (math.sqrt(3) + 1)  # softmax([ln 3 / 2, 0])
    by_hand = 4 * (p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5))
    assert distillation_kl(STUDENT, TEACHER, 2.0).item() == pytest.approx(by_hand)


def test_prograd_projection_removes_the_conflicting_component():
    general = torch.tensor([-1.0, 1.0])
    projected = project_gradient(torch.tensor([1.0, 0.0]), general)
    torch.testing.assert_close(projected, torch.tensor([0.5, 0.5]))
    assert torch.dot(projected, general).item() == pytest.approx(0.0)
    half = project_gradient(torch.tensor([1.0, 0.0]), general, weight=0.5)
    torch.testing.assert_close(half, torch.tensor([0.75, 0.25]))


def test_prograd_keeps_an_agreeing_gradient():
    gradient = torch.tensor([[1.0, 0.0]])
    assert project_gradient(gradient, torch.tensor([[1.0, 1.0]])) is gradient
    assert project_gradient(gradient, torch.zeros(1, 2)) is gradient


def test_sccm_is_the_mean_squared_error_to_the_ensemble_mean():
    value = semantic_consistency(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.6, 0.8]]))
    assert value.item() == pytest.approx((0.4**2 + 0.8**2) / 2)


def test_kdsp_is_the_summed_kl_over_batch_times_classes():
    assert knowledge_distillation(STUDENT, TEACHER).item() == pytest.approx(KL_P_Q / 2)


def test_prompt_score_is_the_batch_mean_of_the_best_class_logit():
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ensemble = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.6, 0.8]]])  # [C=2, P=2, D=2]
    # prompt 0: max(10, 0) and max(0, 10) -> 10; prompt 1: max(0, 6) and max(10, 8) -> 8
    torch.testing.assert_close(prompt_scores(images, ensemble, 10.0), torch.tensor([10.0, 8.0]))


def test_pruning_drops_the_outlying_prompt():
    scores = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, MAD 1, z = [2, 1, 0, 1, 97]: mean 20.2, std 42.94 -> |standardized| 0.42 ... 1.79
    assert keep_prompts(scores, 1.5).tolist() == [True, True, True, True, False]
    assert keep_prompts(scores, 1.8).all()


@pytest.mark.parametrize("scores", [[2.0, 2.0, 2.0], [5.0], [1.0, 1.0, 1.0, 9.0]])
def test_pruning_without_spread_keeps_every_prompt(scores):
    assert keep_prompts(torch.tensor(scores), 1.5).all()
