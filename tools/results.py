"""Result tables of an output tree: few-shot accuracy per dataset, accuracy per shots, base-to-novel.

Table 1 holds the biomedical datasets (and any dataset outside the catalog); Table 3, shown when there
are runs on them, the natural-image datasets in the paper's layout: few-shot AR, VP, AttrVR, BioMedVR,
then zero-shot CLIP and BioMedVR (ZS), then any other method run on them.

``python -m tools.results output [--format md|csv] [--shots K] [--backbone TAG] [--paper]``: without
``--backbone``, tables for every backbone that has finished runs; without ``--shots``, 16 shots, or the
largest number of shots found when there are no 16-shot runs, chosen for the few-shot tables from the
few-shot runs and for the base-to-novel table from the base-to-novel runs; an empty table lists the
settings that have runs. ``--paper`` adds the paper's published
values (tools/paper_numbers.yaml) beside ours, with Δ and the cells outside the tolerance marked.

Runs in the variant folders of the ``table4`` and ``sensitivity`` sweep grids
(``<output>/<variant>/<dataset>/...``) form Table 4 and Figure 5's table and never enter the others.

Rows follow the paper's groups: zero-shot, prompt learning, visual reprogramming (with BiomedCoOp's
linear probes and adapters after zero-shot, as in its benchmark). With several backbones and no
``--backbone``, the markdown starts with one Table 1 in which each row names its backbone
(``CoOp (biomedclip)``), as the paper runs the prompt-learning rows on BiomedCLIP and the others on CLIP.

A run is a ``seed<S>`` folder at ``<dataset>/shots_<K>/<Trainer>/<backbone>/seed<S>`` (few-shot and
zero-shot, K = 0) or at ``base2new/{train_base,test_new}/<dataset>/shots_<K>/<Trainer>/<backbone>/seed<S>``.
Only runs with a ``metrics.json`` (the test finished) of the test split (``--split val`` for
validation results) enter the tables. A folder with a ``log.txt*`` but no ``metrics.json`` is listed
under the tables as *failed* when its newest log holds a Python traceback, else as *unfinished*; that
includes logs that print results but come from a codebase that writes no ``metrics.json``
(``tools.parse_test_res`` reads those). A ``metrics.json`` that cannot be read or holds non-finite
results (a diverged run) is *failed* too, as in ``tools.parse_test_res``. Seeds of one experiment
that ran with different settings (``config_hash``) are never averaged: they are listed under the
tables, with the keys that differ. Runs trained on all training images (``DATASET.NUM_SHOTS`` 0 or
less) are not few-shot results and are listed there too.

Cells are mean ± population std over seeds (± only with two or more seeds). "Avg." is the mean of the
per-dataset means; its std is over seeds of the per-seed average, using the seeds every averaged
dataset has. An Avg. over fewer datasets than the table has results for is marked ``*`` and never bold.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from datasets.catalog import CATALOG, NATURAL, in_domain
from tools.paper import PaperBlock, load_paper
from tools.parse_test_res import (
    SEED_FOLDER,
    MetricsError,
    harmonic_mean,
    load_metrics,
    newest_log,
    settings_conflict,
)
from tools.sweep_grid import ATTRIBUTE_VARIANT, load_grids
from trainers.methods import GROUPS, methods_of
from trainers.run_files import ALL_IMAGES, CONFIG_FILE, METRICS_FILE, read_history

# The benchmark datasets in the catalog's order, as config names, with their table headers.
DATASETS = tuple(CATALOG)
NATURAL_DATASETS = tuple(entry.config_name for entry in in_domain(NATURAL))
# Table 3's rows in the paper's order, with the paper's names where they differ from the trainer's.
TABLE3_ROWS = {"few-shot": ("AR", "VP", "AttrVR", "BioMedVR"), "zero-shot": ("ZeroshotCLIP", "BioMedVR_ZS")}
TABLE3_LABELS = {"ZeroshotCLIP": "CLIP (zero-shot)", "BioMedVR_ZS": "BioMedVR (ZS)"}
# The paper's groups of rows, in its order (the method table's); methods of no group follow alphabetically.
METHOD_GROUPS = {group: methods_of(group) for group in GROUPS}
METHOD_ORDER = tuple(method for group in METHOD_GROUPS.values() for method in group)
# BiomedCoOp's four backbones in its order, as folder names (trainers/backbones.py:BACKBONE_TAGS).
BIOMEDCOOP_BACKBONES = ("vit_b16", "pubmedclip", "pmcclip", "biomedclip")
FEW_SHOT, BASE, NEW = "few_shot", "train_base", "test_new"
AVG = "avg"
MISSING = "–"
SHOTS_FOLDER = re.compile(r"shots_(\d+)")
TRACEBACK = "Traceback (most recent call last):"


class Row(str):
    """A table row's label: the method, followed by its backbone when rows of several backbones are shown."""

    method: str
    backbone: str

    def __new__(cls, method: str, backbone: str, with_backbone: bool, label: str = "") -> Row:
        name = label or method
        row = super().__new__(cls, f"{name} ({backbone})" if with_backbone else name)
        row.method, row.backbone = method, backbone
        return row


class VariantRow(Row):
    """A row of a method on a backbone in one variant folder of a sweep grid (Table 4)."""

    variant: str

    def __new__(cls, label: str, method: str, backbone: str, variant: str) -> VariantRow:
        row = str.__new__(cls, label)
        row.method, row.backbone, row.variant = method, backbone, variant
        return row


@dataclass
class Run:
    """One seed folder: where it is, what it ran, and its metrics.json (None when the test never finished)."""

    path: Path
    dataset: str
    shots: int
    trainer: str
    backbone: str
    seed: int
    protocol: str = FEW_SHOT
    metrics: dict | None = None
    status: str = "finished"
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.metrics is not None


@dataclass
class Cell:
    """A value over seeds: mean, population std (nan when undefined), seed count and per-seed values."""

    mean: float
    std: float
    n: int
    complete: bool = True
    per_seed: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One cell of a table with what it describes (a CSV row)."""

    method: str
    backbone: str
    dataset: str
    shots: int
    cell: Cell


@dataclass
class Table:
    """Rows of methods by column keys; ``cells`` maps (method, column key) to its entry."""

    name: str
    title: str
    columns: list[str]
    headers: list[str]
    rows: list[str]
    cells: dict[tuple[str, str], Entry]
    footnotes: list[str] = field(default_factory=list)
    empty: str = "No finished runs."  # what the markdown says when the table has no rows


@dataclass(frozen=True)
class BaseNew:
    """Base-class and new-class accuracy of one method and dataset (or the average, dataset ``avg``)."""

    method: str
    backbone: str
    dataset: str
    shots: int
    base: Cell | None
    new: Cell | None
    complete: bool = True

    @property
    def hm(self) -> float | None:
        if self.base is None or self.new is None:
            return None
        return harmonic_mean(self.base.mean, self.new.mean)


# ----- reading the tree -----------------------------------------------------------------------------
def parse_run_path(path: str | Path) -> Run | None:
    """The run a folder's path describes, or None when the path does not follow the layout."""
    parts = Path(path).absolute().parts
    if len(parts) < 5:
        return None
    dataset, shots, trainer, backbone, seed = parts[-5:]
    seed_match, shots_match = SEED_FOLDER.fullmatch(seed), SHOTS_FOLDER.fullmatch(shots)
    if seed_match is None or shots_match is None:
        return None
    protocol = parts[-6] if len(parts) >= 6 and parts[-6] in (BASE, NEW) else FEW_SHOT
    return Run(
        Path(path), dataset.lower(), int(shots_match[1]), trainer, backbone, int(seed_match[1]), protocol
    )


def failure_reason(log: Path) -> str | None:
    """The exception line of the last traceback in a log, or None when it has no traceback."""
    text = log.read_text(encoding="utf-8", errors="replace")
    start = text.rfind(TRACEBACK)
    if start < 0:
        return None
    lines = text[start + len(TRACEBACK) :].splitlines()
    return next((line.strip() for line in lines if line.strip() and not line[0].isspace()), "traceback")


def read_run(folder: str | Path, split: str = "test") -> Run | None:
    """A run folder's description and metrics; None when it is not a run folder or holds no file yet."""
    run = parse_run_path(folder)
    if run is None:
        return None
    metrics_file, log = run.path / METRICS_FILE, newest_log(run.path)
    if metrics_file.is_file():
        try:
            metrics = load_metrics(metrics_file)
        except MetricsError as error:
            run.status, run.reason = "failed", str(error)
            return run
        if metrics.get("split", "test") != split:
            run.status = "not tabulated"
            run.reason = f"a {metrics['split']}-split result (--split {metrics['split']} tabulates it)"
        elif metrics.get("shots") == ALL_IMAGES:
            run.status = "not tabulated"
            run.reason = "trained on all training images (DATASET.NUM_SHOTS 0 or less): not a few-shot result"
        else:
            run.metrics = metrics
        return run
    if log is None:
        return None
    reason = failure_reason(log)
    run.status = "unfinished" if reason is None else "failed"
    run.reason = f"{log.name}: {reason or 'no metrics.json'}"
    return run


def set_apart_mixed_settings(runs: Sequence[Run]) -> None:
    """Take the seeds of an experiment out of the tables when they ran with different settings."""
    experiments: dict[Path, list[Run]] = {}
    for run in runs:
        if run.finished:
            experiments.setdefault(run.path.parent, []).append(run)
    for seeds in experiments.values():
        conflict = settings_conflict({run.seed: run.path for run in seeds})
        if conflict is not None:
            for run in seeds:
                run.metrics, run.status, run.reason = None, "not averaged", conflict


BEST_TEST_NOTE = (
    "Optimistic: each seed's best test accuracy over its epochs (TEST.EVAL_EVERY_EPOCH), selected on "
    "the test set as the published numbers were; not comparable to the honest tables."
)


def best_test_runs(runs: Iterable[Run]) -> list[Run]:
    """Finished runs that tested every epoch, their accuracy replaced by the best epoch's (--best-test)."""
    chosen = []
    for run in runs:
        if run.finished and "best_test_accuracy" in run.metrics:
            metrics = {**run.metrics, "accuracy": run.metrics["best_test_accuracy"]}
            chosen.append(replace(run, metrics=metrics))
    return chosen


def collect_runs(root: str | Path, split: str = "test") -> list[Run]:
    """Every run folder under ``root``, finished or not, in path order; seeds of one experiment with
    different settings are set apart (not finished)."""
    runs = []
    for directory, subdirectories, _ in os.walk(root):
        subdirectories.sort()
        if SEED_FOLDER.fullmatch(os.path.basename(directory)):
            subdirectories.clear()
            run = read_run(directory, split)
            if run is not None:
                runs.append(run)
    set_apart_mixed_settings(runs)
    return runs


# ----- aggregation ----------------------------------------------------------------------------------
def seed_cell(values: dict[int, float]) -> Cell:
    """Mean and population std (numpy's default, as CoOp) of per-seed values."""
    array = np.array(list(values.values()), dtype=float)
    return Cell(float(array.mean()), float(array.std()), array.size, per_seed=dict(values))


def average_cell(cells: Sequence[Cell], complete: bool = True) -> Cell:
    """The mean of the cells' means; std and n over seeds of the per-seed average (seeds all cells have)."""
    common = set.intersection(*(set(cell.per_seed) for cell in cells))
    per_seed = {seed: float(np.mean([cell.per_seed[seed] for cell in cells])) for seed in sorted(common)}
    std = float(np.std(list(per_seed.values()))) if per_seed else math.nan
    return Cell(float(np.mean([cell.mean for cell in cells])), std, len(per_seed), complete, per_seed)


def group_cells(
    runs: Iterable[Run], protocol: str = FEW_SHOT, backbone: str | None = None, metric: str = "accuracy"
) -> dict[tuple[str, str, int], Cell]:
    """(row, dataset, shots) -> Cell over the seeds of finished runs of one protocol and backbone.

    ``backbone`` None (or "") takes every backbone, and each row is a method on one backbone.
    """
    values: dict[tuple[str, str, int], dict[int, float]] = {}
    for run in runs:
        if run.finished and run.protocol == protocol and backbone in (None, "", run.backbone):
            value = run.metrics.get(metric)
            if isinstance(value, int | float):
                row = Row(run.trainer, run.backbone, not backbone)
                values.setdefault((row, run.dataset, run.shots), {})[run.seed] = float(value)
    return {key: seed_cell(seeds) for key, seeds in values.items()}


def method_order(rows: Iterable[str]) -> list[str]:
    """Known methods in the paper's order (by group), then the others alphabetically; then by backbone."""
    rank = {name: index for index, name in enumerate(METHOD_ORDER)}

    def key(row: str) -> tuple[int, str, str]:
        method = plain_method(row)
        return rank.get(method, len(rank)), method, getattr(row, "backbone", "")

    return sorted(set(rows), key=key)


def plain_method(row: str) -> str:
    """The method of a row (a ``Row``) or of a plain method name."""
    return getattr(row, "method", row)


def backbone_scope(backbone: str | None) -> str:
    """How a title names the backbone: the one shown, or each row's."""
    return backbone or "each row's backbone"


def dataset_order(datasets: Iterable[str]) -> list[str]:
    """The catalog's datasets in order, then any others found alphabetically."""
    return list(DATASETS) + sorted(set(datasets) - set(DATASETS))


def dataset_label(dataset: str) -> str:
    entry = CATALOG.get(dataset)
    return entry.label if entry else dataset


def found_settings(runs: Iterable[Run], protocols: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Backbone -> the shots values (K > 0) of its finished runs (of ``protocols``, default all);
    BiomedCoOp's four in its order first (CLIP, PubMedCLIP, PMC-CLIP, BiomedCLIP), then the others
    alphabetically."""
    found: dict[str, set[int]] = {}
    for run in runs:
        if run.finished and (protocols is None or run.protocol in protocols):
            found.setdefault(run.backbone, set()).update({run.shots} - {0})
    rank = {backbone: i for i, backbone in enumerate(BIOMEDCOOP_BACKBONES)}
    order = sorted(found, key=lambda backbone: (rank.get(backbone, len(rank)), backbone))
    return {backbone: sorted(found[backbone]) for backbone in order}


def default_shots(shots: Sequence[int]) -> int:
    """16 (Table 1's) when there are runs at 16 shots or none at all, else the largest shots found."""
    return 16 if 16 in shots or not shots else max(shots)


def describe_settings(found: dict[str, list[int]]) -> str:
    """``vit_b32 (shots 4, 8), rn50 (zero-shot only)`` for messages."""
    return ", ".join(
        f"{backbone} (shots {', '.join(map(str, shots))})" if shots else f"{backbone} (zero-shot only)"
        for backbone, shots in found.items()
    )


def lacking_note(lacking: dict[str, list[str]]) -> list[str]:
    """The footnote of ``*`` averages, naming what each lacks; empty when nothing is lacking."""
    if not lacking:
        return []
    detail = "; ".join(f"{name} lacks {', '.join(missing)}" for name, missing in lacking.items())
    return [
        f"`*` averaged over fewer datasets than others in its column ({detail}); not comparable, never bold."
    ]


# ----- tables ---------------------------------------------------------------------------------------
def average_over(cells: dict[str, Cell], present: Sequence[str]) -> tuple[Cell, list[str]]:
    """The average of a method's cells over the present datasets it has, and the present ones it lacks."""
    lacking = [dataset for dataset in present if dataset not in cells]
    have = [cells[dataset] for dataset in present if dataset in cells]
    return average_cell(have, complete=not lacking), lacking


def accuracy_cells(
    runs: Sequence[Run], shots: int, backbone: str | None, natural: bool
) -> tuple[list[str], list[str], dict[tuple[str, str], Entry], dict[str, list[str]]]:
    """Rows, dataset columns, cells and lacking datasets of a methods-by-dataset table plus Avg., over
    the natural-image datasets or over the others.

    A method with no run at ``shots`` shows its shots_0 runs.
    """
    runs = [run for run in runs if (run.dataset in NATURAL_DATASETS) == natural]
    groups = group_cells(runs, FEW_SHOT, backbone)
    methods = method_order(method for method, _, k in groups if k in (shots, 0))
    used = {
        method: shots if any(m == method and k == shots for m, _, k in groups) else 0 for method in methods
    }
    mine = {
        method: {d: cell for (m, d, k), cell in groups.items() if m == method and k == used[method]}
        for method in methods
    }
    datasets = dataset_order(dataset for cells in mine.values() for dataset in cells)
    datasets = [dataset for dataset in datasets if (dataset in NATURAL_DATASETS) == natural]
    present = [dataset for dataset in datasets if any(dataset in cells for cells in mine.values())]
    cells: dict[tuple[str, str], Entry] = {}
    lacking: dict[str, list[str]] = {}
    for method in methods:
        for dataset, cell in mine[method].items():
            cells[method, dataset] = Entry(method.method, method.backbone, dataset, used[method], cell)
        average, missing = average_over(mine[method], present)
        cells[method, AVG] = Entry(method.method, method.backbone, AVG, used[method], average)
        if missing:
            lacking[method] = [dataset_label(dataset) for dataset in missing]
    return methods, datasets, cells, lacking


def table1(runs: Sequence[Run], shots: int = 16, backbone: str | None = "vit_b16") -> Table:
    """Methods by biomedical dataset at ``shots`` plus Avg. (zero-shot methods: their shots_0 runs)."""
    methods, datasets, cells, lacking = accuracy_cells(runs, shots, backbone, natural=False)
    title = (
        f"Table 1: accuracy (%) with {backbone_scope(backbone)}, {shots} shots (zero-shot methods: 0 shots), "
        "mean ± std over seeds"
    )
    headers = [*map(dataset_label, datasets), "Avg."]
    return Table("table1", title, [*datasets, AVG], headers, methods, cells, lacking_note(lacking))


def table3(runs: Sequence[Run], shots: int = 16, backbone: str | None = "vit_b16") -> Table:
    """Table 3: the natural-image datasets, rows in the paper's order and names, then other methods."""
    methods, datasets, cells, lacking = accuracy_cells(runs, shots, backbone, natural=True)
    paper = [method for group in TABLE3_ROWS.values() for method in group]
    rank = {method: index for index, method in enumerate(paper)}
    ordered = sorted(methods, key=lambda row: (rank.get(plain_method(row), len(rank)), methods.index(row)))
    relabel = {
        row: Row(row.method, row.backbone, row != row.method, TABLE3_LABELS.get(row.method, ""))
        for row in ordered
    }
    title = (
        f"Table 3: natural-image accuracy (%) with {backbone_scope(backbone)}; few-shot "
        f"({', '.join(TABLE3_ROWS['few-shot'])}) at {shots} shots, then zero-shot (0 shots); mean ± std over "
        "seeds"
    )
    return Table(
        "table3",
        title,
        [*datasets, AVG],
        [*map(dataset_label, datasets), "Avg."],
        [relabel[row] for row in ordered],
        {(relabel[row], column): entry for (row, column), entry in cells.items()},
        lacking_note({relabel[row]: missing for row, missing in lacking.items()}),
    )


def shots_table(runs: Sequence[Run], backbone: str | None = "vit_b16", dataset: str | None = None) -> Table:
    """Methods by shots value: the Avg. over the biomedical datasets (or one dataset's cell) at every shots
    value present."""
    wanted = (lambda name: name == dataset) if dataset else (lambda name: name not in NATURAL_DATASETS)
    groups = {key: cell for key, cell in group_cells(runs, FEW_SHOT, backbone).items() if wanted(key[1])}
    shots_values = sorted({k for _, _, k in groups})
    methods = method_order(method for method, _, _ in groups)
    cells: dict[tuple[str, str], Entry] = {}
    lacking: dict[str, list[str]] = {}
    for k in shots_values:
        present = [
            d for d in dataset_order(d for _, d, _ in groups) if any(key[1:] == (d, k) for key in groups)
        ]
        for method in methods:
            mine = {d: cell for (m, d, shots), cell in groups.items() if m == method and shots == k}
            if not mine:
                continue
            average, missing = average_over(mine, present)
            cells[method, str(k)] = Entry(method.method, method.backbone, dataset or AVG, k, average)
            if missing:
                lacking[f"{method} at {k} shots"] = [dataset_label(d) for d in missing]
    scope = dataset_label(dataset) if dataset else "mean over the biomedical datasets"
    title = f"Accuracy (%) vs shots with {backbone_scope(backbone)} ({scope}), ± std over seeds"
    headers = [f"{k} shot" if k == 1 else f"{k} shots" for k in shots_values]
    return Table(
        "shots", title, [str(k) for k in shots_values], headers, methods, cells, lacking_note(lacking)
    )


def base_to_new(runs: Sequence[Run], shots: int = 16, backbone: str | None = "vit_b16") -> list[BaseNew]:
    """Base and new accuracy per method and dataset, then each method's average (dataset ``avg``).

    The average covers the datasets where the method has both base and new results; its HM is the
    harmonic mean of the averaged base and new accuracies.
    """
    sides = {
        protocol: {
            (m, d): cell for (m, d, k), cell in group_cells(runs, protocol, backbone).items() if k == shots
        }
        for protocol in (BASE, NEW)
    }
    keys = set(sides[BASE]) | set(sides[NEW])
    datasets = [d for d in dataset_order(d for _, d in keys) if any(key[1] == d for key in keys)]
    entries = []
    for method in method_order(m for m, _ in keys):
        for dataset in datasets:
            base, new = sides[BASE].get((method, dataset)), sides[NEW].get((method, dataset))
            if base is not None or new is not None:
                entries.append(BaseNew(method, method.backbone, dataset, shots, base, new))
        paired = [d for d in datasets if (method, d) in sides[BASE] and (method, d) in sides[NEW]]
        if paired:
            base_avg, missing = average_over({d: sides[BASE][method, d] for d in paired}, datasets)
            new_avg, _ = average_over({d: sides[NEW][method, d] for d in paired}, datasets)
            entries.append(BaseNew(method, method.backbone, AVG, shots, base_avg, new_avg, not missing))
    return entries


def base_to_new_table(entries: Sequence[BaseNew], shots: int = 16, backbone: str | None = "vit_b16") -> Table:
    """The base-to-novel entries as a table: base, new and HM per dataset, then the average block."""
    datasets = [d for d in dataset_order(e.dataset for e in entries) if any(e.dataset == d for e in entries)]
    datasets = [d for d in datasets if d != AVG] + [AVG]
    parts = ("base", "new", "hm")
    columns = [f"{dataset}:{part}" for dataset in datasets for part in parts]
    headers = [
        f"{'Avg.' if dataset == AVG else dataset_label(dataset)} {'HM' if part == 'hm' else part}"
        for dataset in datasets
        for part in parts
    ]
    cells: dict[tuple[str, str], Entry] = {}
    for e in entries:
        hm = None if e.hm is None else Cell(e.hm, math.nan, 0, e.complete)
        for part, cell in zip(parts, (e.base, e.new, hm), strict=True):
            if cell is not None:
                entry = Entry(plain_method(e.method), e.backbone, e.dataset, e.shots, cell)
                cells[e.method, f"{e.dataset}:{part}"] = entry
    methods = method_order(e.method for e in entries)
    lacking = {}
    for method in methods:
        average = next((e for e in entries if e.method == method and e.dataset == AVG), None)
        if average is not None and not average.complete:
            paired = {e.dataset for e in entries if e.method == method and e.hm is not None}
            lacking[method] = [dataset_label(d) for d in datasets[:-1] if d not in paired]
    title = (
        f"Base-to-novel accuracy (%) with {backbone_scope(backbone)}, {shots} shots: base, new and "
        "HM = 2·base·new/(base+new) of the seed means (Avg. HM: of the averaged base and new)"
    )
    return Table("base2new", title, columns, headers, methods, cells, lacking_note(lacking))


# ----- variant folders of sweep grids (Table 4, Figure 5) --------------------------------------------
TABLE4_GRID, SENSITIVITY_GRID = "table4", "sensitivity"
VARIANT_LABELS = {  # Table 4's names of the ablation variants (configs/sweeps/grids.yaml)
    "full": "BioMedVR",
    "no_mope": "w/o MoPE",
    "no_confusion_attributes": "w/o CA",
    "no_cs_loss": "w/o CS loss",
}


def variant_of(run: Run, root: str | Path) -> str:
    """The folders between the output root and a few-shot run's dataset folder ("" at the top)."""
    relative = run.path.absolute().relative_to(Path(root).absolute())
    return "/".join(relative.parts[:-5])


@functools.cache
def grid_variants(name: str) -> tuple[str, ...]:
    """The variant folder names of a named grid (configs/sweeps/grids.yaml), in its order."""
    grid = load_grids().get(name)
    return () if grid is None else tuple(variant for variant, _ in grid.variants if variant)


def variant_kind(variant: str) -> str | None:
    """``table4`` or ``sensitivity`` for a variant folder of those grids (by its last folder), else None."""
    last = variant.rpartition("/")[2]
    if last and (last.startswith(ATTRIBUTE_VARIANT) or last in grid_variants(TABLE4_GRID)):
        return TABLE4_GRID
    if last and last in grid_variants(SENSITIVITY_GRID):
        return SENSITIVITY_GRID
    return None


def split_variant_runs(runs: Sequence[Run], root: str | Path) -> tuple[list[Run], dict[str, list[Run]]]:
    """Runs outside the variant folders of Table 4 and Figure 5's grids, and the runs inside them by grid.

    The tables of one setting never pool a variant's runs (another setting) with the others.
    """
    plain: list[Run] = []
    variants: dict[str, list[Run]] = {TABLE4_GRID: [], SENSITIVITY_GRID: []}
    for run in runs:
        kind = variant_kind(variant_of(run, root)) if run.protocol == FEW_SHOT else None
        (plain if kind is None else variants[kind]).append(run)
    return plain, variants


def table4_label(variant: str, method: str, backbone: str) -> str:
    """A Table 4 row's label: the ablation's name, the attribute set, or the method on its backbone."""
    folder = variant.rpartition("/")[2]
    prefix = f"{variant.rpartition('/')[0]}: " if "/" in variant else ""
    if folder.startswith(ATTRIBUTE_VARIANT):
        return f"{prefix}{method}, attributes {folder[len(ATTRIBUTE_VARIANT) :]} ({backbone})"
    if folder in VARIANT_LABELS and method == "BioMedVR" and backbone == "vit_b16":
        return prefix + VARIANT_LABELS[folder] + (" (vit_b16)" if folder == "full" else "")
    return f"{prefix}{method} ({backbone})" + ("" if folder == "backbones" else f", {folder}")


def table4(runs: Sequence[Run], root: str | Path, shots: int = 16) -> Table:
    """Table 4: each (variant, method, backbone) of the table4 grid's folders by dataset, plus Avg."""
    order = {variant: index for index, variant in enumerate(grid_variants(TABLE4_GRID))}
    values: dict[VariantRow, dict[str, dict[int, float]]] = {}
    for run in runs:
        if run.finished and run.protocol == FEW_SHOT and run.shots == shots:
            variant = variant_of(run, root)
            label = table4_label(variant, run.trainer, run.backbone)
            row = VariantRow(label, run.trainer, run.backbone, variant)
            seeds = values.setdefault(row, {}).setdefault(run.dataset, {})
            seeds[run.seed] = float(run.metrics["accuracy"])

    def rank(row: VariantRow) -> tuple:
        folder = row.variant.rpartition("/")[2]
        return row.variant.rpartition("/")[0], order.get(folder, len(order)), folder, row.backbone, row.method

    rows = sorted(values, key=rank)
    mine = {row: {dataset: seed_cell(seeds) for dataset, seeds in values[row].items()} for row in rows}
    found = {dataset for cells in mine.values() for dataset in cells}
    present = [dataset for dataset in dataset_order(found) if dataset in found]
    cells: dict[tuple[str, str], Entry] = {}
    lacking: dict[str, list[str]] = {}
    for row in rows:
        for dataset, cell in mine[row].items():
            cells[row, dataset] = Entry(row.method, row.backbone, dataset, shots, cell)
        average, missing = average_over(mine[row], present)
        cells[row, AVG] = Entry(row.method, row.backbone, AVG, shots, average)
        if missing:
            lacking[row] = [dataset_label(dataset) for dataset in missing]
    title = (
        f"Table 4: ablations, attribute sources and backbones (folders of the {TABLE4_GRID} grid), "
        f"accuracy (%) at {shots} shots, mean ± std over seeds"
    )
    headers = [*map(dataset_label, present), "Avg."]
    return Table("table4", title, [*present, AVG], headers, rows, cells, lacking_note(lacking))


def loss_settings(run: Run) -> tuple[float, float] | None:
    """(β, m): the CS loss weight and margin a run was trained with (its config.yaml), or None."""
    path = run.path / CONFIG_FILE
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        node = config["TRAINER"]["BIOMEDVR"]
        return float(node["CS_WEIGHT"]), float(node["CS_MARGIN"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def sensitivity_cells(
    runs: Sequence[Run], shots: int = 16
) -> tuple[dict[tuple[float, float], Cell], list[str]]:
    """(β, m) -> the mean accuracy over datasets of the sensitivity grid's BioMedVR runs (Figure 5), and
    those datasets: the ones every point has, so that no point is favoured by easier datasets."""
    values: dict[tuple[float, float], dict[str, dict[int, float]]] = {}
    for run in runs:
        if run.finished and run.protocol == FEW_SHOT and run.shots == shots and run.trainer == "BioMedVR":
            settings = loss_settings(run)
            if settings is not None:
                seeds = values.setdefault(settings, {}).setdefault(run.dataset, {})
                seeds[run.seed] = float(run.metrics["accuracy"])
    common = set.intersection(*(set(datasets) for datasets in values.values())) if values else set()
    shared = [dataset for dataset in dataset_order(common) if dataset in common]
    cells = {
        point: average_cell([seed_cell(datasets[d]) for d in shared]) for point, datasets in values.items()
    }
    return (cells if shared else {}), shared


def sensitivity_table(
    cells: dict[tuple[float, float], Cell], datasets: Sequence[str], shots: int = 16
) -> Table:
    """Figure 5's numbers as a table: β by row, m by column, mean accuracy over the datasets."""
    betas = sorted({beta for beta, _ in cells})
    margins = sorted({margin for _, margin in cells})
    rows = [f"β = {beta:g}" for beta in betas]
    table_cells = {
        (f"β = {beta:g}", f"{margin:g}"): Entry("BioMedVR", "", f"beta={beta:g} m={margin:g}", shots, cell)
        for (beta, margin), cell in cells.items()
    }
    title = (
        f"Figure 5: BioMedVR's mean accuracy (%) over {', '.join(map(dataset_label, datasets))} (the "
        f"datasets every point has), {shots} shots, by CS loss weight β (rows) and margin m (columns)"
    )
    columns = [f"{margin:g}" for margin in margins]
    return Table("sensitivity", title, columns, [f"m = {c}" for c in columns], rows, table_cells)


# ----- beside the paper (--paper) -------------------------------------------------------------------
# A cell of ours is outside the tolerance when |ours − paper| exceeds the larger of a fixed margin and
# twice our std over seeds: the published numbers are one selection (the best test epoch of a run, as
# the published code reports) on one machine, so differences of a few points are seed and selection
# noise; an average over 11 datasets is tighter.
CELL_TOLERANCE, AVERAGE_TOLERANCE, SEED_SIGMAS = 2.0, 1.0, 2.0


@dataclass(frozen=True)
class Beside:
    """Ours and the paper's value of one cell, and the tolerance ours is judged by."""

    row: str
    column: str
    ours: Cell | None
    paper: float | None

    @property
    def delta(self) -> float | None:
        return None if self.ours is None or self.paper is None else self.ours.mean - self.paper

    @property
    def tolerance(self) -> float:
        fixed = AVERAGE_TOLERANCE if self.column == AVG else CELL_TOLERANCE
        spread = 0.0 if self.ours is None or math.isnan(self.ours.std) else SEED_SIGMAS * self.ours.std
        return max(fixed, spread)

    @property
    def outside(self) -> bool:
        return self.delta is not None and abs(self.delta) > self.tolerance


def row_key(row: str) -> tuple[str, str, str]:
    """(variant, method, backbone folder) of one of our rows, as the paper's rows name theirs."""
    return getattr(row, "variant", ""), plain_method(row), getattr(row, "backbone", "")


def beside_paper(table: Table, block: PaperBlock) -> tuple[list[str], list[Beside]]:
    """The columns (datasets, then Avg.) and, per paper row and column, ours beside the paper's value."""
    ours = {row_key(row): row for row in table.rows}
    datasets = {d for row in block.rows for d in row.cells} | {c for c in table.columns if c != AVG}
    columns = [d for d in dataset_order(datasets) if d in datasets] + [AVG]
    pairs = []
    for paper_row in block.rows:
        mine = ours.get(paper_row.key)
        for column in columns:
            entry = None if mine is None else table.cells.get((mine, column))
            paper = paper_row.avg if column == AVG else paper_row.cells.get(column)
            pairs.append(Beside(paper_row.label, column, None if entry is None else entry.cell, paper))
    return columns, pairs


def format_beside(pair: Beside) -> str:
    """``80.1 / 82.6 / −2.5 !``: ours, the paper's, the difference, ``!`` outside the tolerance (``–``
    when neither has a value)."""
    if pair.ours is None and pair.paper is None:
        return MISSING
    ours = MISSING if pair.ours is None else f"{pair.ours.mean:.1f}"
    paper = MISSING if pair.paper is None else f"{pair.paper:.1f}"
    delta = MISSING if pair.delta is None else f"{pair.delta:+.1f}".replace("-", "−")
    return f"{ours} / {paper} / {delta}" + (" !" if pair.outside else "")


def paper_notes(block: PaperBlock) -> list[str]:
    """The footnotes of a table beside the paper: source, tolerance, averages the paper misprints."""
    notes = [
        f"Paper: {block.caption} (transcribed in tools/paper_numbers.yaml from {block.source}).",
        f"`!`: |Δ| > max({CELL_TOLERANCE:g}, {SEED_SIGMAS:g}·std over our seeds) for a dataset, "
        f"max({AVERAGE_TOLERANCE:g}, {SEED_SIGMAS:g}·std) for Avg.",
    ]
    for row in block.rows:
        if row.cells_mean is not None:
            notes.append(
                f"{row.label}: the paper prints Avg. {row.avg:.1f}; the mean of its cells is "
                f"{row.cells_mean:.1f}. Δ is against the printed value."
            )
    return notes


def format_beside_markdown(table: Table, block: PaperBlock) -> str:
    """A markdown table of the paper's rows: ours / paper / Δ per column."""
    columns, pairs = beside_paper(table, block)
    lines = [f"### {block.caption}: ours / paper / Δ = ours − paper", ""]
    if not block.rows:
        return "\n".join([*lines, f"No published values transcribed ({block.source})."])
    headers = ["Avg." if column == AVG else dataset_label(column) for column in columns]
    lines.append("| " + " | ".join(["Paper row", *headers]) + " |")
    lines.append("|---|" + "---:|" * len(columns))
    by_row: dict[str, list[Beside]] = {}
    for pair in pairs:
        by_row.setdefault(pair.row, []).append(pair)
    for label, row_pairs in by_row.items():
        lines.append("| " + " | ".join([label, *map(format_beside, row_pairs)]) + " |")
    return "\n".join([*lines, "", *paper_notes(block)])


def epoch_seconds(run: Run) -> float | None:
    """The median training time of a run's epochs (history.jsonl ``seconds``), or None."""
    try:
        history = read_history(str(run.path / "history.jsonl"))
        seconds = [float(record["seconds"]) for record in history if "seconds" in record]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(np.median(seconds)) if seconds else None


def cost_rows(runs: Sequence[Run], block: PaperBlock) -> list[tuple[str, Cell | None, float, int | None]]:
    """Per cost row of the paper: its label, our seconds per epoch over seeds, the paper's, our parameters."""
    result = []
    for row in block.cost:
        mine = [
            run
            for run in runs
            if run.finished
            and (run.trainer, run.backbone, run.dataset, run.shots)
            == (row.method, row.backbone, row.dataset, row.shots)
        ]
        seconds = {run.seed: value for run in mine if (value := epoch_seconds(run)) is not None}
        parameters = next((run.metrics.get("trainable_parameters") for run in mine), None)
        result.append((row.label, seed_cell(seconds) if seconds else None, row.seconds_per_epoch, parameters))
    return result


def format_cost_markdown(runs: Sequence[Run], block: PaperBlock) -> str:
    """Table 2's cost row: our seconds per training epoch beside the paper's, and the ratio."""
    lines = [f"### {block.caption}: ours beside the paper", ""]
    lines += ["| Method | s/epoch, ours | s/epoch, paper | ours / paper | trainable parameters (ours) |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for label, seconds, paper, parameters in cost_rows(runs, block):
        ours = MISSING if seconds is None else f"{seconds.mean:.2f}"
        ratio = MISSING if seconds is None else f"{seconds.mean / paper:.2f}×"
        count = MISSING if parameters is None else f"{int(parameters):,}"
        lines.append(f"| {label} | {ours} | {paper:.2f} | {ratio} | {count} |")
    note = (
        "Seconds of training per epoch (median over a run's epochs, mean over seeds), without evaluation; "
        "they depend on the GPU, so no tolerance is applied."
    )
    return "\n".join([*lines, "", note, f"Paper: {block.source}."])


def paper_csv_rows(pairs: Sequence[tuple[str, Beside]]) -> list[list]:
    """CSV rows of ours beside the paper: table, paper row, column, ours, std, seeds, paper, Δ, tolerance."""
    header = ["table", "paper_row", "dataset", "ours", "ours_std", "n_seeds", "paper", "delta", "tolerance"]
    rows: list[list] = [[*header, "outside"]]
    for name, pair in pairs:
        cell = pair.ours
        ours = (
            [csv_number(math.nan), csv_number(math.nan)]
            if cell is None
            else [csv_number(cell.mean), csv_number(cell.std)]
        )
        rows.append(
            [
                name,
                pair.row,
                "Avg." if pair.column == AVG else pair.column,
                *ours,
                0 if cell is None else cell.n,
                csv_number(pair.paper),
                csv_number(pair.delta),
                csv_number(pair.tolerance),
                int(pair.outside),
            ]
        )
    return rows


# ----- formatting -----------------------------------------------------------------------------------
def format_cell(cell: Cell | None, bold: bool = False) -> str:
    """``82.0 ± 1.6`` (± over two or more seeds), bold when best, ``*`` if incomplete, ``–`` if absent."""
    if cell is None:
        return MISSING
    text = f"{cell.mean:.1f}"
    if cell.n > 1 and not math.isnan(cell.std):
        text += f" ± {cell.std:.1f}"
    if bold:
        text = f"**{text}**"
    return text if cell.complete else text + "*"


def best_means(table: Table) -> dict[str, float]:
    """Per column, the highest mean (rounded as shown) among complete cells."""
    best: dict[str, float] = {}
    for (_, column), entry in table.cells.items():
        if entry.cell.complete:
            best[column] = max(best.get(column, -math.inf), round(entry.cell.mean, 1))
    return best


def format_table_markdown(table: Table) -> str:
    """A markdown table of methods by columns, best complete mean per column in bold."""
    lines = [f"### {table.title}", ""]
    if not table.rows:
        return "\n".join([*lines, table.empty])
    best = best_means(table)
    lines.append("| " + " | ".join(["Method", *table.headers]) + " |")
    lines.append("|---|" + "---:|" * len(table.columns))
    for method in table.rows:
        texts = []
        for column in table.columns:
            entry = table.cells.get((method, column))
            cell = None if entry is None else entry.cell
            bold = cell is not None and cell.complete and round(cell.mean, 1) == best.get(column)
            texts.append(format_cell(cell, bold))
        lines.append("| " + " | ".join([method, *texts]) + " |")
    if table.footnotes:
        lines.extend(["", *table.footnotes])
    return "\n".join(lines)


def format_failed_markdown(failed: Sequence[Run]) -> str:
    """The failed and unfinished runs as a markdown list."""
    lines = ["### Runs not in the tables (failed, unfinished, not averaged or not tabulated)", ""]
    if not failed:
        return "\n".join([*lines, "None."])
    lines.extend(f"- `{run.path}`: {run.status} ({run.reason})" for run in failed)
    return "\n".join(lines)


def format_markdown(tables: Sequence[Table], failed: Sequence[Run]) -> str:
    """Every table, then the list of failed and unfinished runs."""
    return "\n\n".join([*map(format_table_markdown, tables), format_failed_markdown(failed)]) + "\n"


def csv_number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def csv_dataset(dataset: str, complete: bool) -> str:
    """The dataset key, or ``Avg.`` (``Avg.*`` when over fewer datasets than the column has)."""
    return dataset if dataset != AVG else "Avg." if complete else "Avg.*"


def format_csv(
    tables: Sequence[Table],
    base_new: Sequence[BaseNew],
    failed: Sequence[Run],
    extra: Sequence[tuple[str, list[list]]] = (),
) -> str:
    """One flat CSV table per section, each after a ``# section`` line, sections split by blank lines.

    ``extra`` sections (title, rows) come before the failed runs.

    Tables of one kind for several backbones share a section (each row names its backbone).
    """
    merged: dict[str, tuple[list[str], list[list]]] = {}
    for table in tables:
        titles, rows = merged.setdefault(
            table.name, ([], [["method", "backbone", "dataset", "shots", "mean", "std", "n_seeds"]])
        )
        titles.append(table.title)
        for method in table.rows:
            for column in table.columns:
                entry = table.cells.get((method, column))
                if entry is not None:
                    cell = entry.cell
                    dataset = csv_dataset(entry.dataset, cell.complete)
                    numbers = [csv_number(cell.mean), csv_number(cell.std), cell.n]
                    rows.append([entry.method, entry.backbone, dataset, entry.shots, *numbers])
    sections = [(f"{name}: {' | '.join(titles)}", rows) for name, (titles, rows) in merged.items()]
    rows = [
        [
            "method",
            "backbone",
            "dataset",
            "shots",
            "base",
            "base_std",
            "new",
            "new_std",
            "hm",
            "n_seeds_base",
            "n_seeds_new",
        ]
    ]
    for e in base_new:
        base_new_values = []
        for cell in (e.base, e.new):
            base_new_values += ["", ""] if cell is None else [csv_number(cell.mean), csv_number(cell.std)]
        counts = [0 if cell is None else cell.n for cell in (e.base, e.new)]
        rows.append(
            [
                plain_method(e.method),
                e.backbone,
                csv_dataset(e.dataset, e.complete),
                e.shots,
                *base_new_values,
                csv_number(e.hm),
                *counts,
            ]
        )
    sections.append(("base2new: base-to-novel accuracy (%), hm = 2*base*new/(base+new)", rows))
    sections.extend(extra)
    failed_rows = [["path", "status", "reason"], *([str(run.path), run.status, run.reason] for run in failed)]
    sections.append(
        ("failed: runs not in the tables (failed, unfinished, not averaged, not tabulated)", failed_rows)
    )
    buffer = io.StringIO()
    for index, (comment, section_rows) in enumerate(sections):
        if index:
            buffer.write("\n")
        buffer.write(f"# {comment}\n")
        csv.writer(buffer, lineterminator="\n").writerows(section_rows)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="the output tree (e.g. output/)")
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="markdown or CSV")
    parser.add_argument(
        "--shots", type=int, help="shots of Table 1 and base-to-novel (default: 16, else the largest found)"
    )
    parser.add_argument(
        "--backbone", help="backbone folder name (vit_b16, rn50, ...); default: every backbone found"
    )
    parser.add_argument("--split", default="test", help="the evaluated split to tabulate (test, or val)")
    parser.add_argument("--best-test", action="store_true", help=BEST_TEST_NOTE)
    parser.add_argument(
        "--paper",
        action="store_true",
        help="also show the paper's published values (tools/paper_numbers.yaml) beside ours, with Δ",
    )
    args = parser.parse_args(argv)
    root = Path(args.output_dir)
    if not root.is_dir():
        parser.error(f"not a directory: {root}")
    runs = collect_runs(root, args.split)
    if args.best_test:
        print(BEST_TEST_NOTE + "\n")
        runs = best_test_runs(runs)
    if not runs:
        print(f"no <dataset>/shots_<K>/<trainer>/<backbone>/seed<S> folders under {root}", file=sys.stderr)
        return 1
    runs, variant_runs = split_variant_runs(runs, root)
    found = found_settings(runs)
    if args.backbone and args.backbone not in found:
        print(
            f"no finished runs with backbone {args.backbone}; finished runs exist for: "
            f"{describe_settings(found) or 'none'}",
            file=sys.stderr,
        )
    tables: list[Table] = []
    base_new: list[BaseNew] = []
    base_new_tables: list[Table] = []
    few_shot, base2new = found_settings(runs, (FEW_SHOT,)), found_settings(runs, (BASE, NEW))
    for backbone in [args.backbone] if args.backbone else list(found) or ["vit_b16"]:
        shots = args.shots if args.shots is not None else default_shots(few_shot.get(backbone, []))
        b2n_shots = args.shots if args.shots is not None else default_shots(base2new.get(backbone, []))
        exist = describe_settings(few_shot) or "none"
        few_tables = [table1(runs, shots, backbone)]
        if any(run.finished and run.dataset in NATURAL_DATASETS for run in runs):
            few_tables.append(table3(runs, shots, backbone))
        few_tables.append(shots_table(runs, backbone))
        for table in few_tables:
            table.empty = f"No finished few-shot runs of this table; few-shot runs exist for: {exist}."
        tables += few_tables
        entries = base_to_new(runs, b2n_shots, backbone)
        base_new += entries
        b2n_table = base_to_new_table(entries, b2n_shots, backbone)
        b2n_table.empty = (
            "No finished base-to-novel runs of this table; base-to-novel runs exist for: "
            f"{describe_settings(base2new) or 'none'}."
        )
        base_new_tables.append(b2n_table)
    shots = args.shots or 16  # the variant grids' (table4, sensitivity)
    if variant_runs[TABLE4_GRID]:
        tables.append(table4(variant_runs[TABLE4_GRID], root, shots))
    sensitivity, shared = sensitivity_cells(variant_runs[SENSITIVITY_GRID], shots)
    if sensitivity:
        tables.append(sensitivity_table(sensitivity, shared, shots))
    every = [*runs, *(run for group in variant_runs.values() for run in group)]
    failed = [run for run in every if not run.finished]
    paper = load_paper() if args.paper else {}
    compared = paper_tables(runs, tables, paper, variant_runs[TABLE4_GRID], root) if args.paper else []
    if args.format == "csv":
        pairs = [(name, pair) for name, table in compared for pair in beside_paper(table, paper[name])[1]]
        extra = [("paper: ours beside the paper's published values", paper_csv_rows(pairs))] if paper else []
        print(format_csv(tables, base_new, failed, extra), end="")
        return 0
    if not args.backbone and len(found) > 1:  # the paper's Table 1: each row on its own backbone
        every_shots = sorted({k for found_shots in few_shot.values() for k in found_shots})
        tables.insert(
            0, table1(runs, args.shots if args.shots is not None else default_shots(every_shots), None)
        )
    sections = [format_markdown([*tables, *base_new_tables], failed)]
    if paper:
        sections += [format_beside_markdown(table, paper[name]) for name, table in compared]
        sections.append(format_cost_markdown(runs, paper["table2"]))
    print("\n\n".join(section.rstrip("\n") for section in sections) + "\n", end="")
    return 0


def paper_tables(
    runs: Sequence[Run],
    tables: Sequence[Table],
    paper: dict[str, PaperBlock],
    table4_runs: Sequence[Run],
    root: Path,
) -> list[tuple[str, Table]]:
    """(paper table name, our table) for every table the paper's numbers are compared with, at the paper's
    shots: Table 1 with each row on its own backbone, Table 3 where one was built, Table 4 from the
    variant folders."""
    compared = [("table1", table1(runs, paper["table1"].shots, None))]
    compared += [(table.name, table) for table in tables if table.name == "table3"][:1]
    compared.append(("table4", table4(table4_runs, root, paper["table4"].shots)))
    return compared


if __name__ == "__main__":
    raise SystemExit(main())
