"""The jobs of a sweep: methods × datasets × shots × seeds × backbones, exactly as the scripts run them.

A job is one seed of one experiment: the train.py calls that ``scripts/<method>/<script>.sh`` makes
for that seed (two for base-to-novel: train on the base classes, then test on the new ones). The
calls are asked from the scripts themselves (``SWEEP_PLAN=1``, see scripts/common.sh; one bash and no
Python process per experiment), so a sweep and a hand-run script write the same folders with the
same config. Methods, their protocols, scripts and default backbones come from the method table
(trainers/methods.py); named grids live in ``configs/sweeps/grids.yaml``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from attributes.files import KINDS, AttributeSetError, attribute_file, available_sets, set_path
from datasets.catalog import DOMAINS, find_dataset
from tools.run_status import output_dir_of
from trainers.config import DEFAULT_ATTRIBUTE_SET
from trainers.methods import BASE2NEW, BY_NAME, FEW_SHOT, ZERO_SHOT, Method

REPO = Path(__file__).resolve().parent.parent
GRIDS_FILE = REPO / "configs" / "sweeps" / "grids.yaml"
PROTOCOLS = (FEW_SHOT, BASE2NEW)
VARIANT_SCOPE = ("methods", "backbones")  # what a variant entry may name besides config overrides
ATTRIBUTE_SET_KEY = "TRAINER.BIOMEDVR.ATTRIBUTE_SET"
ATTRIBUTE_VARIANT = "attributes_"  # + set name: the variant folder of a run on another attribute set
PLAN_PREFIX = "train.py\0"
RECORD_PREFIX = "record\0"
JOB_LOG = "job.log"


class GridError(ValueError):
    """A grid that names an unknown method, dataset, protocol or key."""


@dataclass(frozen=True)
class Grid:
    """What to run; every field but ``methods`` has the Table 1 default (no backbones: each method's
    own, from the method table)."""

    methods: tuple[str, ...]
    protocol: str = FEW_SHOT
    datasets: tuple[str, ...] = ("all",)
    shots: tuple[int, ...] = (16,)
    seeds: tuple[int, ...] = (1, 2, 3)
    backbones: tuple[str, ...] = ()
    method_backbones: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (method, backbones) replacing backbones
    overrides: tuple[str, ...] = ()  # KEY VALUE KEY VALUE ...
    variants: tuple[tuple[str, tuple[str, ...]], ...] = (("", ()),)  # (name, KEY VALUE ...)
    variant_methods: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (variant, methods replacing methods)
    variant_backbones: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (variant, backbones of every method)
    attribute_sets: tuple[str, ...] = ()  # sets run as variants attributes_<set>; "present": every set found

    def backbones_of(self, method: str, variant: str = "") -> tuple[str, ...]:
        """A method's backbones: its variant's, ``method_backbones``'s, the grid's, or the table's."""
        if variant in dict(self.variant_backbones):
            return dict(self.variant_backbones)[variant]
        return dict(self.method_backbones).get(method, self.backbones or (BY_NAME[method].backbone,))

    @property
    def mixed_backbones(self) -> bool:
        """Whether methods run on backbones of their own (Table 1: prompt learning on BiomedCLIP)."""
        return len({self.backbones_of(method) for method in self.methods}) > 1

    def methods_of(self, variant: str) -> tuple[str, ...]:
        """The methods a variant runs: its own (``methods`` in its entry), else the grid's."""
        return dict(self.variant_methods).get(variant, self.methods)


@dataclass(frozen=True)
class Job:
    """One seed of one experiment: the train.py argument lists it runs, in order."""

    name: str  # the run folder relative to the sweep's output root
    method: str
    dataset: str
    seed: int
    steps: tuple[tuple[str, ...], ...] = field(repr=False)
    # (run folder, seed) that receive a copy of this seed-independent run's metrics (zero-shot)
    records: tuple[tuple[str, int], ...] = ()

    @property
    def run_dir(self) -> str:
        return output_dir_of(self.steps[0])

    @property
    def run_dirs(self) -> list[str]:
        return [output_dir_of(step) for step in self.steps]

    @property
    def log_path(self) -> str:
        """The job's own log (every train.py call it makes), next to its run."""
        return os.path.join(self.run_dir, JOB_LOG)


def _pairs(values: Mapping | None) -> tuple[str, ...]:
    return tuple(str(item) for key, value in (values or {}).items() for item in (key, value))


def _strings(value, default: tuple) -> tuple:
    if value is None:
        return default
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _variant_scope(name: str, variant: str, spec: Mapping | None) -> tuple[tuple[str, ...], dict, dict]:
    """A variant entry split into its config overrides and its own ``methods`` / ``backbones``."""
    spec = dict(spec or {})
    scope = {key: _strings(spec.pop(key), ()) for key in VARIANT_SCOPE if key in spec}
    lower = [key for key in spec if not str(key)[:1].isupper()]
    if lower:
        raise GridError(
            f"grid {name!r}, variant {variant!r} in {GRIDS_FILE}: unknown keys {lower}; a variant holds "
            f"config KEY: VALUE pairs and optionally {', '.join(VARIANT_SCOPE)}"
        )
    methods = {variant: scope["methods"]} if "methods" in scope else {}
    backbones = {variant: scope["backbones"]} if "backbones" in scope else {}
    return _pairs(spec), methods, backbones


def grid_from_mapping(name: str, spec: Mapping) -> Grid:
    """A grid from its entry in the grids file, with the keys checked."""
    known = {"protocol", "methods", "datasets", "shots", "seeds", "backbones", "method_backbones"}
    known |= {"overrides", "variants", "attribute_sets"}
    unknown = set(spec) - known
    if unknown:
        raise GridError(
            f"grid {name!r} in {GRIDS_FILE}: unknown keys {sorted(unknown)}; known {sorted(known)}"
        )
    if not spec.get("methods"):
        raise GridError(f"grid {name!r} in {GRIDS_FILE} names no methods")
    variants, variant_methods, variant_backbones = [], {}, {}
    for variant, entry in (spec.get("variants") or {}).items():
        overrides, methods, backbones = _variant_scope(name, str(variant), entry)
        variants.append((str(variant), overrides))
        variant_methods |= methods
        variant_backbones |= backbones
    return Grid(
        methods=_strings(spec["methods"], ()),
        protocol=spec.get("protocol", FEW_SHOT),
        datasets=_strings(spec.get("datasets"), ("all",)),
        shots=tuple(int(k) for k in _strings(spec.get("shots"), (16,))),
        seeds=tuple(int(s) for s in _strings(spec.get("seeds"), (1, 2, 3))),
        backbones=_strings(spec.get("backbones"), ()),
        method_backbones=tuple(
            (str(method), _strings(names, ()))
            for method, names in (spec.get("method_backbones") or {}).items()
        ),
        overrides=_pairs(spec.get("overrides")),
        variants=tuple(variants) or (("", ()),),
        variant_methods=tuple(variant_methods.items()),
        variant_backbones=tuple(variant_backbones.items()),
        attribute_sets=_strings(spec.get("attribute_sets"), ()),
    )


def load_grids(path: str | os.PathLike[str] = GRIDS_FILE) -> dict[str, Grid]:
    """The named grids (``table1``, ``base2new``, ``shots``, ``ablations``, ``backbones``)."""
    with open(path) as file:
        specs = yaml.safe_load(file) or {}
    return {name: grid_from_mapping(name, spec) for name, spec in specs.items()}


def dataset_names() -> list[str]:
    """The config names of the datasets (``configs/datasets/*.yaml``)."""
    return sorted(path.stem for path in (REPO / "configs" / "datasets").glob("*.yaml"))


def in_domain_of(names: Sequence[str], domain: str) -> list[str]:
    """The config names among ``names`` whose catalog entry is of ``domain`` (biomedical, natural)."""
    return [name for name in names if find_dataset(name).domain == domain]


def _check(grid: Grid) -> list[str]:
    if grid.protocol not in PROTOCOLS:
        raise GridError(f"protocol {grid.protocol!r}: use one of {PROTOCOLS}")
    named = [*grid.methods, *(m for _, methods in grid.variant_methods for m in methods)]
    unknown = [m for m in dict.fromkeys(named) if m not in BY_NAME]
    unknown += [m for m, _ in grid.method_backbones if m not in BY_NAME]
    if unknown:
        raise GridError(f"unknown methods {unknown}; known: {', '.join(BY_NAME)}")
    names = dataset_names()
    datasets = names if "all" in grid.datasets else list(grid.datasets)
    datasets = [name for d in datasets for name in (in_domain_of(names, d) if d in DOMAINS else [d])]
    unknown = [d for d in datasets if d not in names]
    if unknown:
        raise GridError(
            f"unknown datasets {unknown}; known: {', '.join(names)} (or all, {', '.join(DOMAINS)})"
        )
    if grid.protocol == BASE2NEW:
        lacking = [m for m in dict.fromkeys(named) if BASE2NEW not in BY_NAME[m].protocols]
        if lacking:
            raise GridError(f"methods without base-to-novel (trainers/methods.py): {lacking}")
    if len(grid.overrides) % 2 or any(len(v) % 2 for _, v in grid.variants):
        raise GridError(f"overrides must be KEY VALUE pairs, got {list(grid.overrides)}")
    return datasets


def script_calls(grid: Grid, method: Method, dataset: str, backbone: str, shots: int) -> list[str]:
    """The script and arguments that run one experiment of the grid (all its seeds)."""
    folder = REPO / "scripts" / method.script
    if grid.protocol == BASE2NEW:
        return [str(folder / "base2new.sh"), dataset, backbone]
    if ZERO_SHOT in method.protocols:
        return [str(folder / "zero_shot.sh"), dataset, backbone]
    return [str(folder / "few_shot.sh"), dataset, str(shots), backbone]


def plan(
    command: Sequence[str], env: Mapping[str, str]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """What a script would do, from its SWEEP_PLAN output: its train.py calls (the arguments after
    ``train.py``) and the runs it would record for other seeds (source folder, target folder, seed)."""
    result = subprocess.run(
        ["bash", *command], cwd=REPO, env={**os.environ, **env, "SWEEP_PLAN": "1"}, capture_output=True
    )
    if result.returncode != 0:
        raise GridError(f"{' '.join(command)} failed to plan:\n{result.stderr.decode(errors='replace')}")
    lines = result.stdout.decode().split("\n")
    calls = [tuple(line[len(PLAN_PREFIX) :].split("\0")) for line in lines if line.startswith(PLAN_PREFIX)]
    records = [
        tuple(line[len(RECORD_PREFIX) :].split("\0")) for line in lines if line.startswith(RECORD_PREFIX)
    ]
    return calls, records


def variant_root(output: str, variant: str) -> str:
    """The output tree of one variant of a grid (the output itself when there are no variants)."""
    return os.path.join(output, variant) if variant else output


def attribute_set_names(grid: Grid) -> list[str]:
    """The sets a grid runs as variants: those it names, or with ``present`` every set under
    ``attributes/`` but the default one (the grid's other variants run that)."""
    if "present" in grid.attribute_sets:
        return [name for name in available_sets() if name != DEFAULT_ATTRIBUTE_SET]
    return list(grid.attribute_sets)


def covers(attribute_set: str, dataset: str) -> bool:
    """Whether an attribute set has the files of every kind for a dataset."""
    try:
        for kind in KINDS:
            attribute_file(set_path(attribute_set), dataset, kind)
    except AttributeSetError:
        return False
    return True


def variants_of(grid: Grid) -> list[tuple[str, tuple[str, ...]]]:
    """(variant folder, KEY VALUE overrides): the grid's variants, then one per attribute set."""
    sets = [(f"{ATTRIBUTE_VARIANT}{name}", (ATTRIBUTE_SET_KEY, name)) for name in attribute_set_names(grid)]
    return [*grid.variants, *sets]


def _seed_of(step: Sequence[str]) -> int:
    return int(step[list(step).index("--seed") + 1])


def expand(grid: Grid, output: str, data: str) -> list[Job]:
    """Every job of the grid, in order (variant, dataset, method, backbone, shots, seed), once each."""
    datasets = _check(grid)
    output, data = os.path.abspath(output), os.path.abspath(data)
    jobs: dict[str, Job] = {}
    for variant, variant_overrides in variants_of(grid):
        root = variant_root(output, variant)
        env = {"OUTPUT": root, "DATA": data, "SEEDS": " ".join(map(str, grid.seeds))}
        attribute_set = variant_overrides[1] if variant.startswith(ATTRIBUTE_VARIANT) else None
        for dataset in datasets:
            if attribute_set is not None and not covers(attribute_set, dataset):
                continue  # a set made for some datasets only runs on those
            for method in grid.methods_of(variant):
                for backbone in grid.backbones_of(method, variant):
                    for shots in grid.shots:
                        command = script_calls(grid, BY_NAME[method], dataset, backbone, shots)
                        steps, records = plan(
                            [*command, *grid.overrides, *variant_overrides], {**env, "SHOTS": str(shots)}
                        )
                        for seed in grid.seeds:
                            mine = tuple(step for step in steps if _seed_of(step) == seed)
                            if not mine:
                                continue  # a seed recorded from another seed's run
                            run_dir = output_dir_of(mine[0])
                            copies = tuple(
                                (target, int(s)) for source, target, s in records if source == run_dir
                            )
                            jobs.setdefault(
                                run_dir,
                                Job(os.path.relpath(run_dir, output), method, dataset, seed, mine, copies),
                            )
    return list(jobs.values())


def narrow(grid: Grid, **fields) -> Grid:
    """The grid with the given fields replaced (None leaves a field as it is).

    Backbones given here apply to every method (they replace ``method_backbones`` and the variants'
    own too); methods given here also narrow the variants' own.
    """
    changes = {key: tuple(value) for key, value in fields.items() if value is not None}
    if "backbones" in changes:
        changes["method_backbones"] = changes["variant_backbones"] = ()
    if "methods" in changes:
        changes["variant_methods"] = tuple(
            (variant, tuple(m for m in methods if m in changes["methods"]))
            for variant, methods in grid.variant_methods
        )
    return replace(grid, **changes)


def select(jobs: Iterable[Job], patterns: Sequence[str]) -> list[Job]:
    """The jobs whose names match one of the shell patterns (all jobs when there are none)."""
    return [job for job in jobs if not patterns or any(fnmatchcase(job.name, p) for p in patterns)]
