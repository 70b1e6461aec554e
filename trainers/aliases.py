"""BiomedCoOp's trainer names (``<Method>_<Model>``, e.g. ``CoOp_BiomedCLIP``) as our trainer + backbone."""

from __future__ import annotations

from collections.abc import Callable

from trainers.methods import ALIASES

# Model suffix -> MODEL.BACKBONE.NAME to set (None: keep the configured CLIP backbone, as BiomedCoOp does).
MODEL_SUFFIXES: dict[str, str | None] = {
    "BiomedCLIP": "BiomedCLIP",
    "CLIP": None,
    "PubMedCLIP": "PubMedCLIP",
    "PMCCLIP": "PMC-CLIP",
}


def resolve_trainer_alias(name: str, is_trainer: Callable[[str], bool]) -> tuple[str, str | None]:
    """(trainer, backbone to set or None) for a trainer name, accepting BiomedCoOp's spellings.

    ``is_trainer`` says whether a name is registered. Unknown names come back unchanged (Dassl names
    them in its error).
    """
    if is_trainer(name):
        return name, None
    if name in ALIASES:
        return ALIASES[name], None
    method, _, model = name.rpartition("_")
    method = ALIASES.get(method, method)
    if not method or not is_trainer(method):
        return name, None
    if model in MODEL_SUFFIXES:
        return method, MODEL_SUFFIXES[model]
    return name, None
