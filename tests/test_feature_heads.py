"""The feature-based baselines' heads against hand-computed values: CLIP-Adapter, Tip-Adapter, LP, LP++."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainers.adapters import AdapterHead, BottleneckAdapter, residual_blend
from trainers.cache_model import CacheHead, cache_logits, search_alpha_beta, search_values, tip_logits
from trainers.linear_probe import (
    LPPlusPlusHead,
    fit_linear_probe,
    fit_lp_plus_plus,
    logistic_regression,
    lpp_initial_alpha,
    lpp_initial_weights,
    lpp_step_sizes,
    search_c,
)


def unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


# ----- CLIP-Adapter ---------------------------------------------------------------------------------
def test_adapter_by_hand():
    adapter = BottleneckAdapter(dim=2, reduction=2)
    with torch.no_grad():
        adapter.down.weight.copy_(torch.tensor([[1.0, -1.0]]))  # h = relu(f1 - f2)
        adapter.up.weight.copy_(torch.tensor([[2.0], [-1.0]]))  # A = relu([2h, -h])
    f = torch.tensor([[0.8, 0.6], [0.6, 0.8]])
    # row 0: h = 0.2, A = [0.4, 0]; row 1: h = relu(-0.2) = 0, A = [0, 0]
    torch.testing.assert_close(adapter(f), torch.tensor([[0.4, 0.0], [0.0, 0.0]]))
    # row 0: 0.25 [0.4, 0] + 0.75 [0.8, 0.6] = [0.7, 0.45]; row 1: 0.75 f (BiomedCoOp: not normalized)
    blended = residual_blend(f, adapter(f), alpha=0.25)
    torch.testing.assert_close(blended, torch.tensor([[0.7, 0.45], [0.45, 0.6]]))
    normalized = residual_blend(f, adapter(f), alpha=0.25, normalize=True)  # CLIP-Adapter's own code
    norm = math.hypot(0.7, 0.45)
    torch.testing.assert_close(normalized[0], torch.tensor([0.7 / norm, 0.45 / norm]))
    torch.testing.assert_close(normalized[1], f[1])  # A(f) = 0 keeps the (unit) feature


def test_adapter_head_logits_and_parameter_count():
    torch.manual_seed(0)
    text = unit([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0])
    head = AdapterHead(text, tau=10.0, alpha=0.5, reduction=2)
    assert sum(p.numel() for p in head.parameters()) == 2 * 4 * 4 // 2
    assert set(head.state_dict()) == {"adapter.down.weight", "adapter.up.weight"}
    f = unit([1.0, 2.0, 3.0, 4.0])
    adapted = head.adapter(f)
    star = 0.5 * adapted + 0.5 * f
    expected = 10.0 * star @ text.t()  # not re-normalized, as BiomedCoOp scores it
    torch.testing.assert_close(head(f), expected)
    with pytest.raises(ValueError, match=r"TRAINER\.CLIP_ADAPTER\.ALPHA"):
        AdapterHead(text, tau=10.0, alpha=1.5, reduction=2)
    with pytest.raises(ValueError, match=r"TRAINER\.CLIP_ADAPTER\.REDUCTION"):
        AdapterHead(text, tau=10.0, alpha=0.5, reduction=8)


# ----- Tip-Adapter ----------------------------------------------------------------------------------
def test_cache_logits_by_hand():
    keys = unit([1.0, 0.0], [0.0, 1.0], [0.6, 0.8])
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    f = unit([0.6, 0.8])
    # affinities 0.6, 0.8, 1.0 -> exp(-2 * 0.4), exp(-2 * 0.2), exp(0)
    expected = torch.tensor([[math.exp(-0.8), math.exp(-0.4) + 1.0]])
    torch.testing.assert_close(cache_logits(f, keys, values, beta=2.0), expected)
    clip = torch.tensor([[3.0, 1.0]])
    torch.testing.assert_close(tip_logits(clip, expected, alpha=0.5), clip + 0.5 * expected)


def test_cache_head_state_and_trainable_keys():
    keys = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    text = unit([1.0, 0.0], [0.0, 1.0])
    head = CacheHead(keys, torch.tensor([1, 0]), 2, text, tau=5.0, alpha=2.0, beta=3.0, trainable_keys=False)
    assert set(head.state_dict()) == {"keys", "values", "alpha", "beta"}
    assert list(head.parameters()) == []
    f = unit([1.0, 1.0])
    s = math.sqrt(0.5)
    # zero-shot 5 * [s, s]; cache: key 0 (class 1) and key 1 (class 0) both have affinity s
    cached = math.exp(-3.0 * (1 - s))
    torch.testing.assert_close(head(f), torch.tensor([[5 * s + 2 * cached, 5 * s + 2 * cached]]))
    head.set_alpha_beta(alpha=1.0, beta=0.5)
    assert float(head.alpha) == 1.0 and float(head.beta) == 0.5
    fine = CacheHead(keys, torch.tensor([1, 0]), 2, text, tau=5.0, alpha=2.0, beta=3.0, trainable_keys=True)
    assert [name for name, _ in fine.named_parameters()] == ["keys"]
    torch.testing.assert_close(fine.keys.detach(), torch.eye(2))


def test_search_grid_is_tip_adapters():
    assert search_values(0.5, 4) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert len(search_values(50, 200)) == 200
    with pytest.raises(ValueError):
        search_values(0.05, 3)


def reference_search(features, labels, keys, values, text, tau, betas, alphas):
    """Tip-Adapter's nested loops, in plain Python: the first (beta, alpha) with the best accuracy."""
    best = (-1.0, None, None)
    for beta in betas:
        for alpha in alphas:
            correct = 0
            for f, y in zip(features.tolist(), labels.tolist(), strict=True):
                scores = []
                for c in range(len(text)):
                    clip = tau * sum(a * b for a, b in zip(f, text[c].tolist(), strict=True))
                    cache = sum(
                        math.exp(-beta * (1 - sum(a * b for a, b in zip(f, k, strict=True)))) * v[c]
                        for k, v in zip(keys.tolist(), values.tolist(), strict=True)
                    )
                    scores.append(clip + alpha * cache)
                correct += int(np.argmax(scores) == y)
            accuracy = 100 * correct / len(labels)
            if accuracy > best[0]:
                best = (accuracy, beta, alpha)
    return best


def test_search_alpha_beta_matches_the_reference_loops():
    generator = torch.Generator().manual_seed(3)
    text = torch.nn.functional.normalize(torch.randn(3, 5, generator=generator), dim=-1)
    keys = torch.nn.functional.normalize(torch.randn(6, 5, generator=generator), dim=-1)
    values = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()
    val = torch.nn.functional.normalize(keys + 0.4 * torch.randn(6, 5, generator=generator), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    betas, alphas = search_values(8, 6), search_values(4, 5)
    found = search_alpha_beta(val, labels, keys, values, text, 2.0, betas, alphas)
    accuracy, beta, alpha = reference_search(val, labels, keys, values, text, 2.0, betas, alphas)
    assert (found.beta, found.alpha) == (pytest.approx(beta), pytest.approx(alpha))
    assert found.accuracy == pytest.approx(accuracy)


def test_search_ties_go_to_the_first_beta_then_alpha():
    text = unit([1.0, 0.0], [0.0, 1.0])
    keys, values = unit([1.0, 0.0]), torch.tensor([[1.0, 0.0]])
    val, labels = unit([1.0, 0.1]), torch.tensor([0])  # right at every alpha and beta
    found = search_alpha_beta(val, labels, keys, values, text, 1.0, [0.5, 1.0], [0.2, 0.3])
    assert (found.beta, found.alpha, found.accuracy) == (0.5, 0.2, 100.0)
    with pytest.raises(ValueError, match="validation split is empty"):
        search_alpha_beta(val[:0], labels[:0], keys, values, text, 1.0, [0.5], [0.2])


# ----- Linear probe ---------------------------------------------------------------------------------
def test_search_c_by_hand():
    seen = []

    def score(c: float) -> float:
        seen.append(round(math.log10(c), 6))
        return -abs(math.log10(c) - 0.3)

    # grid: log C = 2, 0, -2 -> best 0; interval [-1, 1]
    # step 1: -1 (-1.3) < 1 (-0.7) -> best 10^1, interval [0, 1]
    # step 2: 0 (-0.3) >= 1 (-0.7) -> best 10^0, interval [0, 0.5]
    # step 3: 0 (-0.3) < 0.5 (-0.2) -> best 10^0.5
    assert search_c(score, [1e2, 1.0, 1e-2], steps=3) == pytest.approx(10**0.5)
    assert seen == [2, 0, -2, -1, 1, 0, 1, 0, 0.5]
    assert search_c(score, [1e2, 1.0, 1e-2], steps=0) == 1.0


@pytest.mark.parametrize("num_classes", [2, 3])
def test_logistic_regression_weights_reproduce_sklearn_probabilities(num_classes):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))
    y = np.arange(12) % num_classes
    weights = logistic_regression(torch.tensor(x), torch.tensor(y), num_classes, c=0.7, max_iter=1000)
    assert weights.weight.shape == (num_classes, 4) and weights.bias.shape == (num_classes,)
    reference = LogisticRegression(C=0.7, max_iter=1000).fit(x, y).predict_proba(x)
    ours = torch.softmax(torch.tensor(x).float() @ weights.weight.t() + weights.bias, dim=-1)
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-5)


def test_linear_probe_chooses_c_on_validation_only():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 6)) * 2
    labels = torch.arange(30) % 3
    x = torch.tensor(centres[labels.numpy()] + rng.normal(size=(30, 6)), dtype=torch.float32)
    x_val = torch.tensor(centres[np.arange(9) % 3] + rng.normal(size=(9, 6)), dtype=torch.float32)
    weights, c = fit_linear_probe((x, labels), (x_val, torch.arange(9) % 3), 3, [1e2, 1.0, 1e-2], 2, 500)
    assert 1e-3 <= c <= 1e3  # within a decade of the grid
    refit = logistic_regression(x, labels, 3, c, 500)
    torch.testing.assert_close(weights.weight, refit.weight)
    torch.testing.assert_close(weights.bias, refit.bias)
    with pytest.raises(ValueError, match="validation split is empty"):
        fit_linear_probe((x, labels), (x_val[:0], labels[:0]), 3, [1.0], 1, 100)


# ----- LP++ -----------------------------------------------------------------------------------------
def test_lpp_initialization_and_step_sizes_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(lpp_initial_weights(x, y, 2), torch.tensor([[1.6, 0.8], [0.0, 1.0]]))
    # own-class scores: class 0: 1.0, 0.6 (mean 0.8); class 1: 1.0 -> 250 * mean(0.8, 1.0)
    assert lpp_initial_alpha(x, y, text) == pytest.approx(225.0)
    # F^T F = [[1.36, 0.48], [0.48, 1.64]]: eigenvalues 1.5 +- sqrt(0.14^2 + 0.48^2) = 1.5 +- 0.5
    # text scores = x; column sums of squares: 1.36, 1.64
    lr_w, lr_alpha = lpp_step_sizes(x, text)
    assert lr_w == pytest.approx(4 * 3 / 2.0)
    assert lr_alpha == pytest.approx(3 / (4 * 1.64))


def test_lpp_logits_and_parameters():
    text = unit([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])
    head = LPPlusPlusHead(text)
    assert sum(p.numel() for p in head.parameters()) == 3 * 2 + 3 + 3
    assert set(head.state_dict()) == {"linear.weight", "linear.bias", "alpha"}
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]]))
        head.linear.bias.copy_(torch.tensor([0.5, 0.0, -1.0]))
        head.alpha.copy_(torch.tensor([2.0, 1.0, 4.0]))
    f = torch.tensor([[0.6, 0.8]])
    s = math.sqrt(0.5)
    expected = [0.6 + 1.6 + 0.5 + 2 * 0.6, 0.8 + 0.8, 1.8 - 1.0 + 4 * (0.6 + 0.8) * s]
    torch.testing.assert_close(head(f), torch.tensor([expected]))


def lpp_problem():
    generator = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(3, 8, generator=generator), dim=-1)
    labels = torch.arange(12) % 3
    x = torch.nn.functional.normalize(centres[labels] + 0.3 * torch.randn(12, 8, generator=generator), dim=-1)
    x_val = torch.nn.functional.normalize(
        centres[labels[:6]] + 0.3 * torch.randn(6, 8, generator=generator), dim=-1
    )
    text = torch.nn.functional.normalize(centres + 0.5 * torch.randn(3, 8, generator=generator), dim=-1)
    return (x, labels), (x_val, labels[:6]), text


def test_lpp_alpha_takes_a_gradient_step_every_ten_epochs():
    (x, y), _, text = lpp_problem()
    x, text = x.double(), text.double()
    alpha0 = lpp_initial_alpha(x, y, text)
    _, lr_alpha = lpp_step_sizes(x, text)
    head = LPPlusPlusHead(text).double()
    result = fit_lp_plus_plus(head, (x, y), None, epochs=9, alpha_every=10)
    assert result.epoch == 9 and result.val_accuracy is None
    assert torch.equal(head.alpha.detach(), torch.full((3,), alpha0, dtype=torch.float64))
    steps = {}
    for accumulate in (False, True):
        moved = LPPlusPlusHead(text).double()
        fit_lp_plus_plus(moved, (x, y), None, epochs=10, alpha_every=10, accumulate_alpha_grad=accumulate)
        # the gradient left on alpha is the epoch-10 one (or the sum over epochs 1-10)
        step = lr_alpha * moved.alpha.grad
        torch.testing.assert_close(moved.alpha.detach(), alpha0 - step, rtol=1e-12, atol=1e-12)
        assert step.abs().min() > 0
        steps[accumulate] = step
    assert steps[True].abs().sum() > steps[False].abs().sum()


def test_lpp_keeps_the_best_validation_epoch():
    train, val, text = lpp_problem()
    head = LPPlusPlusHead(text)
    result = fit_lp_plus_plus(head, train, val, epochs=30, alpha_every=10)
    assert 1 <= result.epoch <= 30
    accuracy = float((head(val[0]).argmax(-1) == val[1]).float().mean()) * 100
    assert accuracy == pytest.approx(result.val_accuracy)
