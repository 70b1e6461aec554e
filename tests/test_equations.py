"""The paper's equations on small hand-made tensors, against values computed by hand."""

from __future__ import annotations

import math
import random

import pytest
import torch

from trainers.attribute_bank import AttributeBank, build_bank, class_scores, sample_attributes
from trainers.losses import biomedvr_loss, confusion_suppression_loss
from trainers.mope import fuse, gate_weights, positive_scores


def unit(*values: float) -> torch.Tensor:
    v = torch.tensor(values, dtype=torch.float64)
    return v / v.norm()


@pytest.fixture
def bank() -> AttributeBank:
    """Class 0 has 4 attributes, class 1 has 2 (fewer than k = 3), class 2 has 1."""
    e = torch.eye(4, dtype=torch.float64)
    embeddings = torch.zeros(3, 4, 4, dtype=torch.float64)
    embeddings[0] = torch.stack([e[0], e[1], e[2], e[3]])
    embeddings[1, :2] = torch.stack([e[0], e[1]])
    embeddings[2, :1] = e[2]
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return AttributeBank(embeddings, mask)


def test_eq11_topk_with_unequal_attribute_counts(bank):
    z = torch.tensor([[0.5, 0.1, 0.7, 0.3]], dtype=torch.float64)  # not normalized: plain dot products
    scores = class_scores(z, bank, tau=2.0, k=3)
    # class 0: top-3 of (0.5, 0.1, 0.7, 0.3) = 0.7, 0.5, 0.3 -> 2 * 1.5 / 3 = 1.0
    # class 1: only 2 attributes (0.5, 0.1): k_c = 2 -> 2 * 0.6 / 2 = 0.6
    # class 2: one attribute (0.7): 2 * 0.7 = 1.4
    assert scores[0].tolist() == pytest.approx([1.0, 0.6, 1.4], abs=1e-12)


def test_eq11_padding_never_wins_even_when_similarities_are_negative(bank):
    z = -torch.ones(1, 4, dtype=torch.float64)  # every real similarity is -1, padding rows would give 0
    scores = class_scores(z, bank, tau=1.0, k=3)
    assert scores[0].tolist() == pytest.approx([-1.0, -1.0, -1.0])


def test_eq11_k1_is_the_best_attribute_and_k_larger_than_every_class(bank):
    z = torch.tensor([[0.5, 0.1, 0.7, 0.3]], dtype=torch.float64)
    assert class_scores(z, bank, 1.0, k=1)[0].tolist() == pytest.approx([0.7, 0.5, 0.7])
    assert class_scores(z, bank, 1.0, k=10)[0].tolist() == pytest.approx([0.4, 0.3, 0.7])


def test_topk_below_one_is_an_error_naming_the_key(bank):
    with pytest.raises(ValueError, match=r"TRAINER\.BIOMEDVR\.TOPK"):
        class_scores(torch.zeros(1, 4, dtype=torch.float64), bank, 1.0, k=0)


def test_build_bank_embeds_in_one_call_and_masks_short_classes():
    vectors = {f"s{i}": unit(*(1.0 if j == i else 0.0 for j in range(6))) for i in range(6)}
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return torch.stack([vectors[t] for t in texts])

    chosen = [
        sample_attributes(texts, 3, "first", random.Random(0)) for texts in (["s0", "s1", "s2", "s3"], ["s4"])
    ]
    bank = build_bank(chosen, encode)
    assert calls == [["s0", "s1", "s2", "s4"]]  # the first NUM_ATTR of each class, one encoder call
    assert bank.mask.tolist() == [[True, True, True], [True, False, False]]
    assert torch.equal(bank.embeddings[0, 2], vectors["s2"])
    assert torch.equal(bank.embeddings[1, 1], torch.zeros(6, dtype=torch.float64))


LONG = [f"attribute sentence number {i}" for i in range(6)]  # 27-28 characters each


def test_reference_sampling_drops_short_sentences_then_draws_without_replacement():
    sentences = ["too short", *LONG, "nineteen characters"]  # 9 and 19 characters: dropped
    picks = sample_attributes(sentences, 4, "reference", random.Random("7:des"))
    # The published code: random.sample over the sentences of at least 20 characters.
    assert picks == random.Random("7:des").sample(LONG, 4)
    assert len(set(picks)) == 4
    assert [pick[-1] for pick in picks] == ["3", "5", "2", "1"]


def test_reference_sampling_repeats_sentences_when_a_class_has_too_few():
    picks = sample_attributes(["tiny", *LONG[:2]], 5, "reference", random.Random(3))
    assert picks == random.Random(3).choices(LONG[:2], k=5)  # with replacement, as published
    assert len(picks) == 5 and set(picks) <= set(LONG[:2])


def test_attribute_sampling_errors_name_the_key():
    with pytest.raises(ValueError, match=r"TRAINER\.BIOMEDVR\.ATTRIBUTE_SAMPLING"):
        sample_attributes(LONG, 2, "random", random.Random(0))
    with pytest.raises(ValueError, match=r"TRAINER\.BIOMEDVR\.NUM_ATTR"):
        sample_attributes(LONG, 0, "first", random.Random(0))


def test_positive_expert_merges_des_and_dist_by_their_mean():
    s_des = torch.tensor([[1.0, 3.0]])
    s_dist = torch.tensor([[2.0, -1.0]])
    assert positive_scores([s_des, s_dist]).tolist() == [[1.5, 1.0]]


def test_gate_is_softmax_and_starts_even_from_ones():
    assert gate_weights(torch.ones(2)).tolist() == [0.5, 0.5]
    g = gate_weights(torch.tensor([math.log(3.0), 0.0]))
    assert g.tolist() == pytest.approx([0.75, 0.25])


def test_fused_logits_are_the_gated_sum():
    s_pos = torch.tensor([[4.0, 0.0]])
    s_neg = torch.tensor([[0.0, 8.0]])
    assert fuse(s_pos, s_neg, torch.tensor([0.75, 0.25])).tolist() == [[3.0, 2.0]]


# Two samples, three classes. Sample 0 has label 0, sample 1 label 2.
POS = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
NEG = torch.tensor([[3.0, 1.8, 0.2], [0.1, 2.0, 4.0]])
FUSED = torch.tensor([[2.5, 1.4, 0.1], [0.3, 1.0, 2.5]])
LABELS = torch.tensor([0, 2])


def test_cs_loss_paper_form_excludes_the_true_class_and_uses_s_plus():
    # sample 0: max_{c != 0} s- = 1.8; 1.8 - 2.0 + 0.5 = 0.3 (active)
    # sample 1: max_{c != 2} s- = 2.0; 2.0 - 1.0 + 0.5 = 1.5 (active)
    loss = confusion_suppression_loss(POS, NEG, FUSED, LABELS, margin=0.5, form="paper")
    assert loss.item() == pytest.approx((0.3 + 1.5) / 2)


def test_cs_loss_paper_form_inactive_when_the_margin_is_met():
    pos = torch.tensor([[5.0, 0.0, 0.0]])
    neg = torch.tensor([[9.0, 4.0, 1.0]])  # the true class's own s- (9) does not count
    loss = confusion_suppression_loss(pos, neg, pos, torch.tensor([0]), margin=0.5, form="paper")
    assert loss.item() == 0.0


def test_cs_loss_reference_form_uses_fused_and_all_classes():
    # sample 0: max_c s- = 3.0 (includes y); 3.0 - 2.5 + 0.5 = 1.0
    # sample 1: max_c s- = 4.0; 4.0 - 2.5 + 0.5 = 2.0
    loss = confusion_suppression_loss(POS, NEG, FUSED, LABELS, margin=0.5, form="reference")
    assert loss.item() == pytest.approx(1.5)


def test_cs_loss_reference_form_is_capped():
    neg = torch.full((1, 3), 5000.0)
    loss = confusion_suppression_loss(POS[:1], neg, FUSED[:1], LABELS[:1], margin=0.5, form="reference")
    assert loss.item() == 1000.0


def test_cs_form_must_be_known():
    with pytest.raises(ValueError, match="CS_FORM"):
        confusion_suppression_loss(POS, NEG, FUSED, LABELS, 0.5, form="other")


def test_total_loss_is_ce_plus_beta_times_cs():
    loss, parts = biomedvr_loss(POS, NEG, FUSED, LABELS, weight=0.3, margin=0.5, form="paper")
    ce = torch.nn.functional.cross_entropy(FUSED, LABELS).item()
    assert parts == pytest.approx({"loss_ce": ce, "loss_cs": 0.9})
    assert loss.item() == pytest.approx(ce + 0.3 * 0.9)


def test_cs_weight_zero_and_no_negative_leave_cross_entropy_alone():
    ce = torch.nn.functional.cross_entropy(FUSED, LABELS).item()
    for negative, weight in ((NEG, 0.0), (None, 0.3)):
        loss, parts = biomedvr_loss(POS, negative, FUSED, LABELS, weight=weight, margin=0.5)
        assert loss.item() == pytest.approx(ce)
        assert set(parts) == {"loss_ce"}
