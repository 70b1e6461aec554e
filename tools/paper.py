"""The paper's published numbers, read from ``tools/paper_numbers.yaml`` (its one transcription).

``tools.results --paper`` puts them beside ours; the tests check them against the paper's own averages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PAPER_FILE = Path(__file__).resolve().with_name("paper_numbers.yaml")
ROW_KEYS = {"label", "method", "backbone", "variant", "cells", "avg", "cells_mean"}
COST_KEYS = {"label", "method", "backbone", "dataset", "shots", "seconds_per_epoch"}


class PaperFileError(ValueError):
    """A malformed entry of the paper's numbers file."""


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper table: what it is in our output tree and its published values."""

    label: str
    method: str
    backbone: str
    variant: str = ""
    cells: Mapping[str, float] = field(default_factory=dict)
    avg: float | None = None
    cells_mean: float | None = None  # the mean of the printed cells, where the printed avg differs

    @property
    def key(self) -> tuple[str, str, str]:
        """(variant, method, backbone folder): how a row of our tables is matched to this one."""
        return self.variant, self.method, self.backbone


@dataclass(frozen=True)
class CostRow:
    """One row of the paper's training-cost table (Table 2)."""

    label: str
    method: str
    backbone: str
    dataset: str
    shots: int
    seconds_per_epoch: float


@dataclass(frozen=True)
class PaperBlock:
    """One table of the paper: caption, where the numbers come from, accuracy rows and cost rows."""

    name: str
    caption: str
    source: str
    shots: int = 16
    rows: tuple[PaperRow, ...] = ()
    cost: tuple[CostRow, ...] = ()


def mean_of_cells(row: PaperRow) -> float:
    """The mean of a row's per-dataset values, as the paper's Avg. column should be."""
    return math.fsum(row.cells.values()) / len(row.cells)


def _checked(entry: Mapping, known: set[str], where: str) -> Mapping:
    unknown = set(entry) - known
    if unknown:
        raise PaperFileError(f"{where}: unknown keys {sorted(unknown)}; known {sorted(known)}")
    return entry


def _row(entry: Mapping, where: str) -> PaperRow:
    entry = _checked(entry, ROW_KEYS, where)
    try:
        return PaperRow(
            label=str(entry["label"]),
            method=str(entry["method"]),
            backbone=str(entry["backbone"]),
            variant=str(entry.get("variant", "")),
            cells={str(dataset): float(value) for dataset, value in (entry.get("cells") or {}).items()},
            avg=None if entry.get("avg") is None else float(entry["avg"]),
            cells_mean=None if entry.get("cells_mean") is None else float(entry["cells_mean"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        message = f"{where}: {error!r}; a row needs label, method, backbone and numbers"
        raise PaperFileError(message) from error


def _cost(entry: Mapping, where: str) -> CostRow:
    entry = _checked(entry, COST_KEYS, where)
    try:
        return CostRow(
            str(entry["label"]),
            str(entry["method"]),
            str(entry["backbone"]),
            str(entry["dataset"]),
            int(entry["shots"]),
            float(entry["seconds_per_epoch"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        message = f"{where}: {error!r}; a cost row needs every key of {sorted(COST_KEYS)}"
        raise PaperFileError(message) from error


def load_paper(path: str | Path = PAPER_FILE) -> dict[str, PaperBlock]:
    """Every table block of the paper's numbers file, by table name (``table1`` ... ``table4``)."""
    with open(path, encoding="utf-8") as file:
        specs = yaml.safe_load(file) or {}
    blocks = {}
    for name, spec in specs.items():
        where = f"{path}: {name}"
        _checked(spec, {"caption", "source", "shots", "rows", "cost"}, where)
        rows = tuple(_row(row, f"{where}, row {i + 1}") for i, row in enumerate(spec.get("rows") or []))
        cost = tuple(_cost(row, f"{where}, cost row {i + 1}") for i, row in enumerate(spec.get("cost") or []))
        blocks[name] = PaperBlock(
            name, str(spec["caption"]), str(spec["source"]), int(spec.get("shots", 16)), rows, cost
        )
    return blocks


def paper_seconds_per_epoch(method: str = "BioMedVR") -> float:
    """The paper's training time per epoch of a method (Table 2)."""
    return next(row.seconds_per_epoch for row in load_paper()["table2"].cost if row.method == method)
