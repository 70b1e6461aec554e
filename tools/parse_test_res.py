"""Mean and spread over seeds of one experiment's test results, with CoOp's command line.

``python -m tools.parse_test_res output/btmri/shots_16/BioMedVR/vit_b16`` reads every ``seed*``
folder directly inside the directory: its ``metrics.json`` when the test finished, else the newest
``log.txt*`` (the last ``* accuracy: ..%``, ``* macro_f1: ..%`` and ``* ece: ..%`` lines). It prints
each seed's values, then ``* accuracy: 81.50% +- 1.20%`` per metric: the mean and the population
standard deviation over seeds (``--ci95``: the 95% confidence interval 1.96 * std / sqrt(n)).
``--multi-exp`` parses every subfolder of the directory as one experiment. ``--test-log`` reads
the logs even where ``metrics.json`` exists. ``--harmonic-with NEW_DIR`` (base-to-novel) also parses
the new-class experiment and prints the harmonic mean 2bn/(b+n) of the two accuracy means.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainers.run_files import METRICS_FILE

METRICS = ("accuracy", "macro_f1", "ece")
RESULT_LINE = re.compile(r"^\* (accuracy|macro_f1|ece): ([-+0-9.eE]+)%\s*$", re.MULTILINE)
SEED_FOLDER = re.compile(r"seed(\d+)")


def newest_log(folder: Path) -> Path | None:
    """The latest ``log.txt*`` of a run folder.

    Dassl keeps the first ``log.txt`` and gives each re-run a ``log.txt-YYYY-MM-DD-HH-MM-SS``, so the
    newest is the largest time stamp, and ``log.txt`` alone is the oldest.
    """
    logs = [path for path in folder.glob("log.txt*") if path.is_file()]
    return max(logs, key=lambda path: path.name, default=None)


def read_log(path: Path) -> dict[str, float]:
    """The last value of each result line in a log; metrics the log never prints are left out."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return {name: float(value) for name, value in RESULT_LINE.findall(text)}


def read_metrics_json(path: Path) -> dict[str, float]:
    """The metrics of a ``metrics.json`` that are numbers."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    return {name: float(payload[name]) for name in METRICS if isinstance(payload.get(name), int | float)}


def read_seed(folder: Path, test_log: bool = False) -> tuple[Path, dict[str, float]] | None:
    """The file a seed's results come from and its metrics, or None when it has neither file."""
    metrics_file = folder / METRICS_FILE
    if metrics_file.is_file() and not test_log:
        try:
            return metrics_file, read_metrics_json(metrics_file)
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: fall back to the log
    log = newest_log(folder)
    if log is None:
        return None
    return log, read_log(log)


def seed_folders(directory: Path) -> list[Path]:
    """The ``seed<N>`` folders directly inside an experiment directory (or the directory itself), by seed."""
    if SEED_FOLDER.fullmatch(directory.name):
        return [directory]
    folders = [path for path in directory.glob("seed*") if path.is_dir() and SEED_FOLDER.fullmatch(path.name)]
    return sorted(folders, key=lambda path: int(path.name[4:]))


def harmonic_mean(base: float, new: float) -> float:
    """2bn / (b + n), 0 when both are 0."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def summarize(values: Sequence[float], ci95: bool = False) -> dict[str, float | int]:
    """Mean and population std (or the 95% confidence interval) of a metric over seeds."""
    array = np.asarray(values, dtype=float)
    spread = float(array.std())
    if ci95:
        spread = 1.96 * spread / np.sqrt(array.size)
    return {"mean": float(array.mean()), "spread": spread, "n": int(array.size)}


def parse_directory(path: str | Path, ci95: bool = False, test_log: bool = False) -> dict:
    """Per-seed results and their summary for one experiment directory.

    Returns ``{"directory", "spread": "std"|"ci95", "runs": [{"folder", "file", <metric>: value}],
    "missing": [folders with no file to read], "summary": {<metric>: {"mean", "spread",
    "n"}}}``; a metric is summarized over the seeds that report it.
    """
    directory = Path(path)
    runs, missing = [], []
    for folder in seed_folders(directory):
        found = read_seed(folder, test_log)
        if found is None:
            missing.append(str(folder))
            continue
        source, metrics = found
        runs.append({"folder": str(folder), "file": str(source), **metrics})
    summary = {}
    for name in METRICS:
        values = [run[name] for run in runs if name in run]
        if values:
            summary[name] = summarize(values, ci95)
    return {
        "directory": str(directory),
        "spread": "ci95" if ci95 else "std",
        "runs": runs,
        "missing": missing,
        "summary": summary,
    }


def format_result(result: dict) -> str:
    """CoOp-style text: one line per seed file, then the mean +- spread of each metric."""
    lines = [f"Parsing files in {result['directory']}"]
    for run in result["runs"]:
        values = "".join(f" {name}: {run[name]:.2f}%." for name in METRICS if name in run)
        lines.append(f"file: {run['file']}.{values or ' no result lines.'}")
    lines.extend(f"no result file to read in {folder}" for folder in result["missing"])
    lines.append("===")
    lines.append(f"Summary of directory: {result['directory']} ({result['spread']} over seeds)")
    for name, stats in result["summary"].items():
        lines.append(f"* {name}: {stats['mean']:.2f}% +- {stats['spread']:.2f}% (n={stats['n']})")
    if not result["summary"]:
        lines.append(
            "no results found (seed* folders must be directly inside; --multi-exp parses subfolders)"
        )
    lines.append("===")
    return "\n".join(lines)


def format_harmonic(base: dict, new: dict) -> str:
    """The harmonic mean of the mean accuracies of a base-class and a new-class experiment."""
    if "accuracy" not in base["summary"] or "accuracy" not in new["summary"]:
        return "no harmonic mean: the base or the new experiment has no accuracy"
    b, n = base["summary"]["accuracy"]["mean"], new["summary"]["accuracy"]["mean"]
    return f"* harmonic mean of accuracy (base {b:.2f}%, new {n:.2f}%): {harmonic_mean(b, n):.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="an experiment folder holding seed* folders")
    parser.add_argument("--ci95", action="store_true", help="print the 95%% confidence interval, not the std")
    parser.add_argument("--multi-exp", action="store_true", help="parse every subfolder as one experiment")
    parser.add_argument("--test-log", action="store_true", help="read log.txt even where metrics.json exists")
    parser.add_argument("--harmonic-with", metavar="NEW_DIR", help="the new-class experiment of a base one")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if not directory.is_dir():
        parser.error(f"not a directory: {directory}")
    if args.harmonic_with:
        if args.multi_exp:
            parser.error("--harmonic-with takes one base experiment, not --multi-exp")
        base, new = (
            parse_directory(path, args.ci95, args.test_log) for path in (directory, args.harmonic_with)
        )
        print(format_result(base), format_result(new), format_harmonic(base, new), sep="\n")
        return 0 if base["summary"] and new["summary"] else 1
    experiments = [directory]
    if args.multi_exp:
        experiments = sorted(path for path in directory.iterdir() if path.is_dir())
    found = False
    for experiment in experiments:
        result = parse_directory(experiment, ci95=args.ci95, test_log=args.test_log)
        print(format_result(result))
        found = found or bool(result["summary"])
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main())
