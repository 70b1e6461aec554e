"""The table of methods: one row per trainer, read by train.py, the scripts, the sweep and the results.

Adding a method is one row here, its module (which registers the trainer with Dassl) and its configs
under ``configs/trainers/<name>/``; ``python -m trainers.methods scripts`` then writes its scripts.
This module imports nothing heavy: the scripts and the sweep read it before torch is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAMILIES = ("vr", "prompt", "feature")
# The protocols, each with the script that runs it and the trainer config file it reads.
FEW_SHOT, BASE2NEW, ZERO_SHOT = "few_shot", "base2new", "zero_shot"
PROTOCOL_CONFIGS = {FEW_SHOT: "few_shot", BASE2NEW: "base_to_novel", ZERO_SHOT: "zero_shot"}
# The results' groups of rows, in the tables' order (BiomedCoOp's benchmark rows after zero-shot).
GROUPS = ("zero-shot", "linear probes and adapters", "prompt learning", "visual reprogramming")
CLIP, BIOMEDCLIP = "ViT-B/16", "BiomedCLIP"


@dataclass(frozen=True)
class Method:
    """One trainer: who owns it, what it can run and where its rows go."""

    name: str  # TRAINER.NAME and the folder of its configs (configs/trainers/<name>/)
    family: str  # one of FAMILIES
    module: str  # the module that registers the trainer
    node: str  # its config node, TRAINER.<node>
    script: str  # its script folder, scripts/<script>/
    protocols: tuple[str, ...]  # FEW_SHOT, BASE2NEW, ZERO_SHOT
    group: str  # its results group (GROUPS); rows follow the table's order within a group
    backbone: str = CLIP  # the backbone the paper's tables run it on
    zero_shot: str | None = None  # its zero-shot counterpart (methods that train)
    aliases: tuple[str, ...] = ()  # BiomedCoOp's names for it
    # BiomedCoOp's paths of its scripts where they differ from ours (under scripts/), each with ours
    biomedcoop_scripts: tuple[tuple[str, str], ...] = ()
    # KEY=DEFAULT: runs with another value of KEY are written under <name>_<value> (scripts/common.sh)
    folder_keys: tuple[str, ...] = ()

    @property
    def scripts(self) -> tuple[str, ...]:
        """The scripts of its folder: few_shot.sh and eval_fewshot.sh, base2new.sh, zero_shot.sh."""
        names = {FEW_SHOT: ("few_shot", "eval_fewshot"), BASE2NEW: ("base2new",), ZERO_SHOT: ("zero_shot",)}
        return tuple(f"{script}.sh" for protocol in self.protocols for script in names[protocol])

    @property
    def script_files(self) -> dict[str, str]:
        """Every script file of the method under scripts/ (its folder's, then BiomedCoOp's paths) -> the
        script of ours it is."""
        return {f"{self.script}/{script}": script for script in self.scripts} | dict(self.biomedcoop_scripts)

    def config_file(self, protocol: str, preset: str = "") -> Path:
        """configs/trainers/<name>/<preset or the protocol's file>.yaml."""
        return REPO / "configs" / "trainers" / self.name / f"{preset or PROTOCOL_CONFIGS[protocol]}.yaml"


def _vr(name: str, zero_shot: str, script: str) -> Method:
    protocols = (FEW_SHOT, BASE2NEW)
    return Method(name, "vr", "trainers.vr", "BIOMEDVR", script, protocols, GROUPS[3], zero_shot=zero_shot)


def _zero_shot(name: str, script: str, biomedcoop_scripts: tuple[tuple[str, str], ...] = ()) -> Method:
    module, protocols = "trainers.vr", (ZERO_SHOT,)
    return Method(
        name, "vr", module, "BIOMEDVR", script, protocols, GROUPS[0], biomedcoop_scripts=biomedcoop_scripts
    )


def _prompt(name: str, node: str, script: str) -> Method:
    module, protocols = "trainers.prompt_learning", (FEW_SHOT, BASE2NEW)
    return Method(name, "prompt", module, node, script, protocols, GROUPS[2], BIOMEDCLIP, "ZeroshotCLIP")


def _feature(
    name: str,
    node: str,
    script: str,
    protocols=(FEW_SHOT,),
    aliases: tuple[str, ...] = (),
    biomedcoop_scripts: tuple[tuple[str, str], ...] = (),
) -> Method:
    module = "trainers.feature_baselines"
    return Method(
        name, "feature", module, node, script, protocols, GROUPS[1], BIOMEDCLIP, "ZeroshotCLIP", aliases,
        biomedcoop_scripts,
    )  # fmt: skip


METHODS: tuple[Method, ...] = (
    Method(
        "ZeroshotCLIP",
        "feature",
        "trainers.zeroshot_clip",
        "ZEROSHOTCLIP",
        "zeroshot",
        (ZERO_SHOT,),
        GROUPS[0],
        biomedcoop_scripts=(("zeroshot/zeroshot.sh", "zero_shot.sh"),),
    ),
    _zero_shot("AttrVR_ZS", "attrvr_zs"),
    _zero_shot("BioMedVR_ZS", "biomedvr_zs"),
    _feature("LinearProbe", "LP", "linear_probe"),
    _feature(
        "LPPlusPlus",
        "LPPP",
        "lp_plus_plus",
        aliases=("LinearProbe_P2", "LP++"),
        biomedcoop_scripts=(("linear_probe2/few_shot.sh", "few_shot.sh"),),
    ),
    _feature("CLIP_Adapter", "CLIP_ADAPTER", "clip_adapter", (FEW_SHOT, BASE2NEW), ("ClipAdapter",)),
    _feature("TipAdapter", "TIP_ADAPTER", "tip_adapter"),
    # BiomedCoOp's TIPAdapter config fine-tunes the cache: Tip-Adapter-F.
    _feature("TipAdapter_F", "TIP_ADAPTER", "tip_adapter_f", aliases=("TIPAdapter",)),
    _prompt("CoOp", "COOP", "coop"),
    _prompt("CoCoOp", "COCOOP", "cocoop"),
    _prompt("KgCoOp", "KGCOOP", "kgcoop"),
    _prompt("ProGrad", "PROGRAD", "prograd"),
    # Runs with another prompt ensemble than BiomedCoOp's own go to BiomedCoOp_curated, ...
    replace(
        _prompt("BiomedCoOp", "BIOMEDCOOP", "biomedcoop"),
        folder_keys=("TRAINER.BIOMEDCOOP.PROMPTS=biomedcoop",),
    ),
    _vr("VP", "ZeroshotCLIP", "vp"),
    _vr("AR", "ZeroshotCLIP", "ar"),
    _vr("AttrVR", "AttrVR_ZS", "attrvr"),
    _vr("BioMedVR", "BioMedVR_ZS", "biomedvr"),
)
BY_NAME: dict[str, Method] = {method.name: method for method in METHODS}
# BiomedCoOp's method names that differ from ours -> our trainer.
ALIASES: dict[str, str] = {alias: method.name for method in METHODS for alias in method.aliases}


class UnknownMethodError(ValueError):
    """A method name that is not in the table."""


def method(name: str) -> Method:
    """The row of a trainer name, or an error listing the known ones."""
    if name not in BY_NAME:
        raise UnknownMethodError(f"unknown method {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def methods_of(group: str) -> tuple[str, ...]:
    """The methods of a results group, in the table's order."""
    return tuple(m.name for m in METHODS if m.group == group)


def import_trainers() -> None:
    """Import every method's module, which registers its trainers with Dassl's TRAINER_REGISTRY."""
    import importlib

    for name in dict.fromkeys(m.module for m in METHODS):
        importlib.import_module(name)


SCRIPT = """#!/usr/bin/env bash
# {name}: see scripts/common.sh:{function} for the arguments.
METHOD={name}
{zero_shot}{folder_keys}source "$(dirname "$0")/../common.sh"
{function} "$@"
"""


def script_text(row: Method, script: str) -> str:
    """The text of a script of ``row`` (``script`` one of ``row.scripts``): it names the method and calls
    common.sh."""
    function = script.removesuffix(".sh")
    zero_shot = ""
    if row.zero_shot:  # where SHOTS 0 is sent
        zero_shot = f"ZERO_SHOT_SCRIPT=scripts/{BY_NAME[row.zero_shot].script}/zero_shot.sh\n"
    folder_keys = f'FOLDER_KEYS="{" ".join(row.folder_keys)}"\n' if row.folder_keys else ""
    return SCRIPT.format(name=row.name, function=function, zero_shot=zero_shot, folder_keys=folder_keys)


def write_scripts(root: Path = REPO) -> list[Path]:
    """Write every method's scripts from the table; the paths written."""
    written = []
    for row in METHODS:
        for relative, script in row.script_files.items():
            path = root / "scripts" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(script_text(row, script))
            path.chmod(0o755)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts`` writes the method scripts; ``names`` prints the methods."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["names"]:
        print(" ".join(BY_NAME))
    elif args == ["scripts"]:
        for path in write_scripts():
            print(path.relative_to(REPO))
    else:
        print("usage: python -m trainers.methods {scripts|names}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
