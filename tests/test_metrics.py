"""Accuracy, macro-F1 and ECE against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.metrics import (
    accuracy,
    classification_report,
    expected_calibration_error,
    macro_f1,
    reliability,
)


def logits_for(probabilities: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probabilities, dtype=torch.float64).log()


def test_accuracy_and_macro_f1():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    labels = torch.tensor([0, 0, 0, 1])
    assert accuracy(logits, labels) == 75.0
    # class 0: precision 1, recall 2/3 -> F1 0.8; class 1: precision 1/2, recall 1 -> F1 2/3
    assert macro_f1(logits, labels) == pytest.approx(100 * (0.8 + 2 / 3) / 2)


def test_macro_f1_ignores_classes_that_are_predicted_but_absent_from_the_labels():
    """Dassl's macro-F1: labels [0, 0], predictions [0, 1] -> only class 0 (P 1, R 1/2, F1 2/3), not 33.3."""
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    assert macro_f1(logits, labels) == pytest.approx(200 / 3)
    assert classification_report(logits, labels)["macro_f1"] == pytest.approx(200 / 3)


def test_ece_by_hand():
    # confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct), 0.55 (wrong)
    logits = logits_for([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    labels = torch.tensor([0, 1, 1, 1])
    # bins of width 1/15: 0.9 -> bin 13 (0.8667, 0.9333]; 0.6 -> bin 8 (0.5333, 0.6]; 0.55 -> bin 8
    # bin 13: acc 0.5, conf 0.9 -> |gap| 0.4 * 2/4; bin 8: acc 0.5, conf 0.575 -> 0.075 * 2/4
    assert expected_calibration_error(logits, labels) == pytest.approx(100 * (0.4 * 0.5 + 0.075 * 0.5))
    table = reliability(logits, labels)
    assert table.count[13] == 2 and table.count[8] == 2 and sum(table.count) == 4
    assert table.confidence[8] == pytest.approx(0.575)


def test_a_perfectly_calibrated_set_has_zero_ece():
    logits = logits_for([[1.0, 0.0]] * 3)
    assert expected_calibration_error(logits.nan_to_num(neginf=-1e9), torch.zeros(3, dtype=torch.long)) == 0.0


def test_report_has_every_field_of_metrics_json():
    report = classification_report(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    assert report["accuracy"] == 50.0 and report["error"] == 50.0 and report["num_samples"] == 2
    assert report["reliability"]["bins"] == 15 and len(report["reliability"]["count"]) == 15
    assert not math.isnan(report["ece"])
