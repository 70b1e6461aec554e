"""Per-class attribute embeddings, embedded once per run, and their top-k class scores (Eq. 11)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from attributes.fetch import ensure_fetched
from attributes.files import load_attributes
from datasets.splits import Item, fewshot_sample
from trainers.encoding import class_text_embeddings

# How a class's sentences are chosen: its first NUM_ATTR ("first"), or as the published code draws them.
ATTRIBUTE_SAMPLINGS = ("first", "reference")
# The published code ignores sentences shorter than this many characters.
REFERENCE_MIN_CHARS = 20


@dataclass
class AttributeBank:
    """L2-normalized sentence embeddings of every class, padded to the longest class.

    ``embeddings`` is [C, A, D]; ``mask`` [C, A] is True where a class has a sentence.
    """

    embeddings: torch.Tensor
    mask: torch.Tensor

    @property
    def counts(self) -> torch.Tensor:
        """Number of sentences of each class, [C]."""
        return self.mask.sum(dim=-1)

    def to(self, device: torch.device | str) -> AttributeBank:
        return AttributeBank(self.embeddings.to(device), self.mask.to(device))


def sample_attributes(
    sentences: Sequence[str], num_attr: int, sampling: str, rng: random.Random | None = None
) -> list[str]:
    """The sentences one class uses: its first ``num_attr`` ("first", deterministic), or ("reference") the
    published code's draw: sentences under 20 characters dropped, then ``num_attr`` drawn without
    replacement when the class has more, else with replacement (so a short class repeats sentences).
    """
    if num_attr < 1:
        raise ValueError(f"TRAINER.BIOMEDVR.NUM_ATTR must be at least 1, got {num_attr}")
    if sampling == "first":
        return list(sentences)[:num_attr]
    if sampling != "reference":
        raise ValueError(
            f"TRAINER.BIOMEDVR.ATTRIBUTE_SAMPLING must be one of {ATTRIBUTE_SAMPLINGS}, got {sampling!r}"
        )
    if rng is None:
        raise ValueError("a reference draw needs the run's random stream")
    kept = [text for text in sentences if len(text) >= REFERENCE_MIN_CHARS]
    if not kept:
        raise ValueError(f"no sentence of at least {REFERENCE_MIN_CHARS} characters among {list(sentences)}")
    if num_attr < len(kept):
        return rng.sample(kept, num_attr)
    return rng.choices(kept, k=num_attr)


def build_bank(
    sentences: Sequence[Sequence[str]], encode: Callable[[list[str]], torch.Tensor]
) -> AttributeBank:
    """Embed every class's sentences in one pass; pad and mask unequal counts."""
    flat = [text for texts in sentences for text in texts]
    flat_embeddings = encode(flat)
    width = max(len(texts) for texts in sentences)
    embeddings = flat_embeddings.new_zeros(len(sentences), width, flat_embeddings.shape[-1])
    mask = torch.zeros(len(sentences), width, dtype=torch.bool)
    start = 0
    for c, texts in enumerate(sentences):
        embeddings[c, : len(texts)] = flat_embeddings[start : start + len(texts)]
        mask[c, : len(texts)] = True
        start += len(texts)
    return AttributeBank(embeddings, mask.to(embeddings.device))


def class_scores(z: torch.Tensor, bank: AttributeBank, tau: float, k: int) -> torch.Tensor:
    """Eq. 11: s_c = tau/k * sum of the top-k z.t over class c's attributes (k_c = min(k, n_c)).

    ``z`` [B, D] must be L2-normalized; returns [B, C].
    """
    if k < 1:
        raise ValueError(f"TRAINER.BIOMEDVR.TOPK must be at least 1, got {k}")
    embeddings = bank.embeddings.to(z.dtype)
    sims = torch.einsum("bd,cad->bca", z, embeddings)
    sims = sims.masked_fill(~bank.mask, float("-inf"))
    top = sims.topk(min(k, sims.shape[-1]), dim=-1).values
    k_per_class = bank.counts.clamp(max=k)
    valid = torch.arange(top.shape[-1], device=z.device) < k_per_class.unsqueeze(-1)
    return tau * top.masked_fill(~valid, 0.0).sum(dim=-1) / k_per_class


def reference_draw(
    per_kind: Mapping[str, Sequence[Sequence[str]]],
    num_attr: int,
    seed: int,
    picks: Sequence[tuple[Sequence[Item], int]] = (),
) -> dict[str, list[list[str]]]:
    """The published code's draw of every kind's sentences, in its order of calls on one stream.

    The stream is Python's ``random`` seeded with ``seed`` (the published ``set_seed``). ``picks``
    replays the few-shot draws that come first when that run drew its picks (the train pool, then the
    val pool, each with its shot count); then each kind of ``per_kind``, in its order, class by class.
    """
    rng = random.Random(seed)
    for items, num_shots in picks:
        fewshot_sample(items, num_shots, rng)
    return {
        kind: [sample_attributes(texts, num_attr, "reference", rng) for texts in classes]
        for kind, classes in per_kind.items()
    }


def choose_attributes(
    attribute_set: str,
    dataset: str,
    kinds: Sequence[str],
    classnames: Sequence[str],
    num_attr: int,
    sampling: str = "first",
    seed: int = 0,
    picks: Sequence[tuple[Sequence[Item], int]] = (),
) -> dict[str, list[list[str]]]:
    """Read and validate each kind's file and choose its sentences (``sample_attributes``), in label order.

    A "reference" draw (``reference_draw``) takes every kind from one stream, in the order of ``kinds``.
    """
    ensure_fetched(attribute_set, dataset, kinds)
    per_kind = {}
    for kind in kinds:
        by_class = load_attributes(attribute_set, dataset, kind, classnames, sampling == "reference")
        per_kind[kind] = [by_class[name] for name in classnames]
    if sampling == "reference":
        return reference_draw(per_kind, num_attr, seed, picks)
    return {
        kind: [sample_attributes(texts, num_attr, sampling) for texts in classes]
        for kind, classes in per_kind.items()
    }


def load_attribute_bank(
    attribute_set: str,
    dataset: str,
    kind: str,
    classnames: Sequence[str],
    encode: Callable[[list[str]], torch.Tensor],
    num_attr: int,
) -> AttributeBank:
    """One kind's first ``num_attr`` sentences per class, embedded (benchmarks, tests)."""
    chosen = choose_attributes(attribute_set, dataset, [kind], classnames, num_attr)
    return build_bank(chosen[kind], encode)


def prompt_bank(
    templates: Sequence[str],
    classnames: Sequence[str],
    encode: Callable[[list[str]], torch.Tensor],
) -> AttributeBank:
    """Class-name prompts as a bank whose per-class embedding is the mean of its templates.

    With k = 1 the class score is tau * z.t, the usual CLIP logit (AR, VP, zero-shot CLIP).
    """
    embeddings = class_text_embeddings(templates, classnames, encode).unsqueeze(1)
    mask = torch.ones(len(classnames), 1, dtype=torch.bool, device=embeddings.device)
    return AttributeBank(embeddings, mask)
