"""Test metrics: accuracy, macro-F1 and expected calibration error, in percent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score

ECE_BINS = 15


@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and count over equal-width confidence bins."""

    confidence: list[float]
    accuracy: list[float]
    count: list[int]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (logits.argmax(dim=-1) == labels).float().mean().item()


def macro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Macro-F1 in percent over the classes present in ``labels`` (Dassl's definition)."""
    y_true = labels.cpu().numpy()
    y_pred = logits.argmax(dim=-1).cpu().numpy()
    return 100.0 * float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true)))


def reliability(logits: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> Reliability:
    """Confidence = max softmax probability, binned into (i/bins, (i+1)/bins]."""
    probabilities = torch.softmax(logits.double(), dim=-1)
    confidence, predicted = probabilities.max(dim=-1)
    correct = (predicted == labels).double()
    index = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    count = torch.bincount(index, minlength=bins)
    conf_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct)
    safe = count.clamp(min=1).double()
    return Reliability((conf_sum / safe).tolist(), (correct_sum / safe).tolist(), count.tolist())


def calibration_error(table: Reliability) -> float:
    """ECE in percent of a reliability table: sum_b n_b/N * |accuracy_b - confidence_b| (Guo et al. 2017)."""
    total = sum(table.count)
    gaps = (n * abs(a - c) for n, a, c in zip(table.count, table.accuracy, table.confidence, strict=True))
    return 100.0 * sum(gaps) / total


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE in percent of a set of logits."""
    return calibration_error(reliability(logits, labels, bins))


def classification_report(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """Every test metric of a set of logits, as written to metrics.json."""
    logits, labels = logits.float().cpu(), labels.cpu()
    acc = accuracy(logits, labels)
    table = reliability(logits, labels)
    return {
        "num_samples": int(labels.numel()),
        "accuracy": acc,
        "error": 100.0 - acc,
        "macro_f1": macro_f1(logits, labels),
        "ece": expected_calibration_error(logits, labels),
        "reliability": {"bins": ECE_BINS, **table.__dict__},
    }


def print_report(report: dict) -> None:
    """Dassl's result lines, which CoOp-style parsers read from log.txt, plus macro-F1 and ECE."""
    correct = round(report["accuracy"] * report["num_samples"] / 100)
    print("=> result")
    print(f"* total: {report['num_samples']:,}")
    print(f"* correct: {correct:,}")
    print(f"* accuracy: {report['accuracy']:.1f}%")
    print(f"* error: {report['error']:.1f}%")
    print(f"* macro_f1: {report['macro_f1']:.1f}%")
    print(f"* ece: {report['ece']:.2f}%")
