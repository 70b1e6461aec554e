"""Result tables of an output tree: few-shot accuracy per dataset, accuracy per shots, base-to-novel.

``python -m tools.results output [--format md|csv] [--shots K] [--backbone TAG]``: without
``--backbone``, tables for every backbone that has finished runs; without ``--shots``, 16 shots, or the
largest number of shots found when there are no 16-shot runs, chosen for the few-shot tables from the
few-shot runs and for the base-to-novel table from the base-to-novel runs; an empty table lists the
settings that have runs.

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
import io
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from datasets.catalog import CATALOG
from tools.parse_test_res import (
    SEED_FOLDER,
    MetricsError,
    harmonic_mean,
    load_metrics,
    newest_log,
    settings_conflict,
)
from trainers.methods import GROUPS, methods_of
from trainers.run_files import ALL_IMAGES

# The 11 benchmark datasets in the benchmark's order, as config names, with their table headers.
DATASETS = tuple(CATALOG)
# The paper's groups of rows, in its order (the method table's); methods of no group follow alphabetically.
METHOD_GROUPS = {group: methods_of(group) for group in GROUPS}
METHOD_ORDER = tuple(method for group in METHOD_GROUPS.values() for method in group)
FEW_SHOT, BASE, NEW = "few_shot", "train_base", "test_new"
AVG = "avg"
MISSING = "–"
SHOTS_FOLDER = re.compile(r"shots_(\d+)")
TRACEBACK = "Traceback (most recent call last):"


class Row(str):
    """A table row's label: the method, followed by its backbone when rows of several backbones are shown."""

    method: str
    backbone: str

    def __new__(cls, method: str, backbone: str, with_backbone: bool) -> Row:
        row = super().__new__(cls, f"{method} ({backbone})" if with_backbone else method)
        row.method, row.backbone = method, backbone
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
    metrics_file, log = run.path / "metrics.json", newest_log(run.path)
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
    """The 11 benchmark datasets in order, then any others found alphabetically."""
    return list(DATASETS) + sorted(set(datasets) - set(DATASETS))


def dataset_label(dataset: str) -> str:
    entry = CATALOG.get(dataset)
    return entry.label if entry else dataset


def found_settings(runs: Iterable[Run], protocols: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Backbone -> the shots values (K > 0) of its finished runs (of ``protocols``, default all);
    vit_b16 first, then alphabetical."""
    found: dict[str, set[int]] = {}
    for run in runs:
        if run.finished and (protocols is None or run.protocol in protocols):
            found.setdefault(run.backbone, set()).update({run.shots} - {0})
    order = sorted(found, key=lambda backbone: (backbone != "vit_b16", backbone))
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


def table1(runs: Sequence[Run], shots: int = 16, backbone: str | None = "vit_b16") -> Table:
    """Methods by dataset at ``shots`` plus Avg.; a method with no run at ``shots`` shows its shots_0 runs."""
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
    title = (
        f"Table 1: accuracy (%) with {backbone_scope(backbone)}, {shots} shots (zero-shot methods: 0 shots), "
        "mean ± std over seeds"
    )
    headers = [*map(dataset_label, datasets), "Avg."]
    return Table("table1", title, [*datasets, AVG], headers, methods, cells, lacking_note(lacking))


def shots_table(runs: Sequence[Run], backbone: str | None = "vit_b16", dataset: str | None = None) -> Table:
    """Methods by shots value: the Avg. over datasets (or one dataset's cell) at every shots value present."""
    groups = {
        key: cell for key, cell in group_cells(runs, FEW_SHOT, backbone).items() if dataset in (None, key[1])
    }
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
    scope = dataset_label(dataset) if dataset else "mean over datasets"
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


def format_csv(tables: Sequence[Table], base_new: Sequence[BaseNew], failed: Sequence[Run]) -> str:
    """One flat CSV table per section, each after a ``# section`` line, sections split by blank lines.

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
        few_tables = [table1(runs, shots, backbone), shots_table(runs, backbone)]
        entries = base_to_new(runs, b2n_shots, backbone)
        base_new += entries
        b2n_table = base_to_new_table(entries, b2n_shots, backbone)
        exist = describe_settings(few_shot) or "none"
        for table in few_tables:
            table.empty = f"No finished few-shot runs of this table; few-shot runs exist for: {exist}."
        b2n_table.empty = (
            "No finished base-to-novel runs of this table; base-to-novel runs exist for: "
            f"{describe_settings(base2new) or 'none'}."
        )
        tables += few_tables
        base_new_tables.append(b2n_table)
    failed = [run for run in runs if not run.finished]
    if args.format == "csv":
        print(format_csv(tables, base_new, failed), end="")
        return 0
    if not args.backbone and len(found) > 1:  # the paper's Table 1: each row on its own backbone
        every_shots = sorted({k for shots in few_shot.values() for k in shots})
        tables.insert(
            0, table1(runs, args.shots if args.shots is not None else default_shots(every_shots), None)
        )
    print(format_markdown([*tables, *base_new_tables], failed), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
