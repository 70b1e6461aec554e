"""Linear probes on frozen image features: logistic regression (C chosen on validation) and LP++.

LinearProbe follows CLIP's and CoOp's linear-probe protocol: L2-regularized multinomial logistic
regression (scikit-learn, L-BFGS) with the inverse regularization strength C searched on the
validation features, first over a coarse grid, then by halving a log-scale interval.

LP++ (Huang et al., CVPR 2024) blends a linear classifier with the zero-shot text logits through
learned class-wise weights: logits = f W^T + b + alpha * (f T^T), initialized from the data and the
text, trained full-batch by block-coordinate gradient steps with data-derived step sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainers.metrics import accuracy


def search_c(val_accuracy: Callable[[float], float], grid: Sequence[float], steps: int) -> float:
    """C with the best validation accuracy: the best of ``grid``, then ``steps`` interval halvings.

    From the grid's best C*, the interval [C*/10, 10 C*] is halved in log10 space ``steps`` times,
    keeping the half on the side of the more accurate end (the left end on ties); the result is the
    more accurate end of the last interval (the procedure of CoOp's linear-probe code).
    """
    if not grid:
        raise ValueError("TRAINER.LP.C_GRID must hold at least one value")
    scores = [val_accuracy(c) for c in grid]
    best = float(grid[int(np.argmax(scores))])
    left, right = math.log10(best) - 1, math.log10(best) + 1
    for _ in range(steps):
        middle = (left + right) / 2
        if val_accuracy(10**left) < val_accuracy(10**right):
            best, left = 10**right, middle
        else:
            best, right = 10**left, middle
    return best


@dataclass
class LinearWeights:
    """A linear classifier, logits = f W^T + b, with W [C, D] and b [C]."""

    weight: torch.Tensor
    bias: torch.Tensor


def logistic_regression(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, c: float, max_iter: int
) -> LinearWeights:
    """Multinomial L2 logistic regression (scikit-learn L-BFGS) as softmax-equivalent linear weights.

    With two classes scikit-learn keeps one weight vector w; the equivalent pair is [0, w] (same
    probabilities). Classes absent from ``labels`` get weights 0 and bias -inf-like (-1e4).
    """
    from sklearn.linear_model import LogisticRegression

    x, y = features.cpu().double().numpy(), labels.cpu().numpy()
    model = LogisticRegression(C=c, max_iter=max_iter, random_state=0).fit(x, y)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        coef = np.concatenate([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64)
    bias = torch.full((num_classes,), -1e4, dtype=torch.float64)
    present = torch.as_tensor(model.classes_, dtype=torch.long)
    weight[present] = torch.from_numpy(coef)
    bias[present] = torch.from_numpy(intercept)
    return LinearWeights(weight.float(), bias.float())


def fit_linear_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    grid: Sequence[float],
    steps: int,
    max_iter: int,
) -> tuple[LinearWeights, float]:
    """Logistic regression on ``train`` with C searched on ``val``; returns the weights and C."""
    (x, y), (x_val, y_val) = train, val
    if len(y_val) == 0:
        raise ValueError("the search for C needs validation images; the validation split is empty")
    fitted: dict[float, LinearWeights] = {}

    def val_accuracy(c: float) -> float:
        if c not in fitted:
            fitted[c] = logistic_regression(x, y, num_classes, c, max_iter)
        weights = fitted[c]
        return accuracy(x_val.cpu() @ weights.weight.t() + weights.bias, y_val.cpu())

    c = search_c(val_accuracy, grid, steps)
    return fitted[c], c


class LinearHead(nn.Module):
    """logits = f W^T + b: the fitted logistic regression."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, num_classes)

    def load_weights(self, weights: LinearWeights) -> None:
        with torch.no_grad():
            self.linear.weight.copy_(weights.weight)
            self.linear.bias.copy_(weights.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


# ----- LP++ ---------------------------------------------------------------------------------------
LPPP_ALPHA_INIT_SCALE = 250.0  # LP++'s initial blending weight: 250 x the mean own-class text score


class LPPlusPlusHead(nn.Module):
    """LP++: logits = f W^T + b + alpha_c (f t_c), with frozen class-name text embeddings T [C, D]."""

    def __init__(self, text: torch.Tensor) -> None:
        super().__init__()
        num_classes, dim = text.shape
        self.linear = nn.Linear(dim, num_classes)
        self.alpha = nn.Parameter(torch.ones(num_classes))
        self.register_buffer("text", text, persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features) + self.alpha * (features @ self.text.t())


def lpp_initial_weights(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """LP++'s initial visual weights: the sum of each class's training features, [C, D]."""
    return F.one_hot(labels.long(), num_classes).t().to(features.dtype) @ features


def lpp_initial_alpha(features: torch.Tensor, labels: torch.Tensor, text: torch.Tensor) -> float:
    """LP++'s initial alpha (every class): 250 x the mean over classes of mean_{i in c} f_i . t_c."""
    own = (features * text[labels.long()]).sum(dim=-1)
    classes = labels.unique()
    per_class = torch.stack([own[labels == c].mean() for c in classes])
    return LPPP_ALPHA_INIT_SCALE * float(per_class.mean())


def lpp_step_sizes(features: torch.Tensor, text: torch.Tensor) -> tuple[float, float]:
    """LP++'s step sizes from the data: (4N / lambda_max(F^T F), N / (4 max_c sum_i (f_i . t_c)^2))."""
    n = features.shape[0]
    largest = float(torch.linalg.eigvalsh(features.double().t() @ features.double())[-1])
    text_scores = features @ text.t()
    return 4 * n / largest, n / (4 * float((text_scores**2).sum(dim=0).max()))


@dataclass
class LPPlusPlusResult:
    """The epoch (1-based) whose state LP++ keeps, and its validation accuracy (None without val)."""

    epoch: int
    val_accuracy: float | None


def fit_lp_plus_plus(
    head: LPPlusPlusHead,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    epochs: int,
    alpha_every: int,
    accumulate_alpha_grad: bool = True,
    zero_bias: bool = False,
) -> LPPlusPlusResult:
    """Train LP++ full-batch; keep the state of the epoch with the best validation accuracy (latest on ties).

    Each epoch is one SGD step (momentum 0.9) on W, b with the data-derived step size; every
    ``alpha_every`` epochs alpha takes one plain gradient step. ``accumulate_alpha_grad`` uses the
    gradient summed over all epochs so far instead of the current one, as the published LP++ code does.
    W starts at the class sums of the features, b where ``head`` has it (PyTorch's initialisation, as
    the published code leaves it) or at zero (``zero_bias``). Without validation features the last
    epoch is kept.
    """
    x, y = train
    num_classes = head.alpha.shape[0]
    lr_w, lr_alpha = lpp_step_sizes(x, head.text)
    with torch.no_grad():
        head.linear.weight.copy_(lpp_initial_weights(x, y, num_classes))
        if zero_bias:
            head.linear.bias.zero_()
        head.alpha.fill_(lpp_initial_alpha(x, y, head.text))
    optimizer = torch.optim.SGD(head.linear.parameters(), lr=lr_w, momentum=0.9)
    best = LPPlusPlusResult(epochs, None)
    best_state = None
    for epoch in range(1, epochs + 1):
        head.train()
        loss = F.cross_entropy(head(x), y)
        optimizer.zero_grad()
        if not accumulate_alpha_grad:
            head.alpha.grad = None
        loss.backward()
        optimizer.step()
        if epoch % alpha_every == 0:
            with torch.no_grad():
                head.alpha -= lr_alpha * head.alpha.grad
        if val is None:
            continue
        head.eval()
        with torch.no_grad():
            val_accuracy = accuracy(head(val[0]), val[1])
        if best.val_accuracy is None or val_accuracy >= best.val_accuracy:
            best = LPPlusPlusResult(epoch, val_accuracy)
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return best
