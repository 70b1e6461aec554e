"""BiomedCoOp's trainer names (``<Method>_<Model>``, e.g. ``CoOp_BiomedCLIP``) as our trainer + backbone."""

from __future__ import annotations

from collections.abc import Callable

from trainers.methods import ALIASES, BY_NAME, METHODS

# Model suffix -> MODEL.BACKBONE.NAME to set (None: keep the configured CLIP backbone, as BiomedCoOp does).
MODEL_SUFFIXES: dict[str, str | None] = {
    "BiomedCLIP": "BiomedCLIP",
    "CLIP": None,
    "PubMedCLIP": "PubMedCLIP",
    "PMCCLIP": "PMC-CLIP",
}
# BiomedCoOp's zero-shot trainers are Zeroshot<Model> (no underscore): ZeroshotBiomedCLIP, ZeroshotCLIP.
ZERO_SHOT_PREFIX, ZERO_SHOT_TRAINER = "Zeroshot", "ZeroshotCLIP"


def resolve_trainer_alias(name: str, is_trainer: Callable[[str], bool]) -> tuple[str, str | None]:
    """(trainer, backbone to set or None) for a trainer name, accepting BiomedCoOp's spellings.

    ``is_trainer`` says whether a name is registered. Unknown names come back unchanged (Dassl names
    them in its error).
    """
    if is_trainer(name):
        return name, None
    if name in ALIASES:
        return ALIASES[name], None
    model = name.removeprefix(ZERO_SHOT_PREFIX)
    if model != name and model in MODEL_SUFFIXES and is_trainer(ZERO_SHOT_TRAINER):
        return ZERO_SHOT_TRAINER, MODEL_SUFFIXES[model]
    method, _, model = name.rpartition("_")
    method = ALIASES.get(method, method)
    if not method or not is_trainer(method):
        return name, None
    if model in MODEL_SUFFIXES:
        return method, MODEL_SUFFIXES[model]
    return name, None


def feature_file_error(mapping: object, path: str) -> str | None:
    """The message for one of BiomedCoOp's feature-baseline files given as a Dassl config (None if not one).

    Those files (its configs/trainers/{TiP_Adapter,CLIP_Adapter,LP,LP2}/few_shot.yaml) hold main.py's
    lower-case keys (root_path, method, ...), which Dassl rejects key by key.
    """
    if not isinstance(mapping, dict) or "root_path" not in mapping:
        return None
    method = str(mapping.get("method", ""))
    trainer = ALIASES.get(method, method)
    if trainer not in BY_NAME or BY_NAME[trainer].family != "feature":
        ours = ", ".join(m.name for m in METHODS if m.family == "feature")
        return (
            f"{path} is one of BiomedCoOp's feature-baseline files (for its main.py), not a Dassl config: "
            f"use one of our trainers {ours} with its configs/trainers/<trainer>/few_shot.yaml"
        )
    return (
        f"{path} is BiomedCoOp's {method} file (for its main.py), not a Dassl config: use --trainer "
        f"{trainer} --config-file configs/trainers/{trainer}/few_shot.yaml, or "
        f"bash scripts/{BY_NAME[trainer].script}/few_shot.sh DATASET SHOTS BiomedCLIP"
    )
