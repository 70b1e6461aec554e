"""Mean and spread over seeds of one experiment's test results, with CoOp's command line.

``python -m tools.parse_test_res output/btmri/shots_16/BioMedVR/vit_b16`` reads every ``seed*``
folder directly inside the directory: its ``metrics.json`` when the test finished, else the newest
``log.txt*`` (the last ``* accuracy: ..%``, ``* macro_f1: ..%`` and ``* ece: ..%`` lines). It prints
each seed's values, then ``* accuracy: 81.50% +- 1.20%`` per metric: the mean and the population
standard deviation over seeds (``--ci95``: the 95% confidence interval 1.96 * std / sqrt(n)).
``--multi-exp`` parses every subfolder of the directory as one experiment. ``--test-log`` reads
the logs even where ``metrics.json`` exists.

Seeds are averaged only when they ran with the same settings (the ``config_hash`` of their
``metrics.json``, else of their ``config.yaml``); otherwise the seeds of each setting and the keys that
differ are printed instead of a mean. A ``metrics.json`` that cannot be read, or that holds a
non-finite result (a diverged run), makes its seed *failed*: never counted, and the log is not read in
its place (``tools.results`` follows the same rule). Only test-split results are read (``--split val``
reads validation results of ``--eval-only`` runs). ``--harmonic-with NEW_DIR`` (base-to-novel) also parses
the new-class experiment and prints the harmonic mean 2bn/(b+n) of the two accuracy means.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainers.run_files import CONFIG_FILE, METRICS_FILE, config_hash, differing_keys, read_config

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


class MetricsError(ValueError):
    """A metrics.json that cannot be counted: unreadable, without an accuracy, or with non-finite values."""


def load_metrics(path: Path) -> dict:
    """A ``metrics.json``'s payload, refused (MetricsError) when it is not counted as a result."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        accuracy = float(payload["accuracy"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MetricsError(f"unreadable metrics.json ({error!r})") from error
    values = {name: payload.get(name) for name in METRICS}
    bad = [
        f"{name} {value}"
        for name, value in values.items()
        if isinstance(value, float) and not math.isfinite(value)
    ]
    if not math.isfinite(accuracy) or bad:
        raise MetricsError(
            f"metrics.json holds non-finite results ({', '.join(bad) or f'accuracy {accuracy}'}): the run "
            "diverged. Lower OPTIM.LR and train again."
        )
    return payload


def read_metrics_json(path: Path) -> dict[str, float]:
    """The metrics of a ``metrics.json`` that are numbers."""
    payload = load_metrics(path)
    return {name: float(payload[name]) for name in METRICS if isinstance(payload.get(name), int | float)}


def recorded_hash(folder: Path) -> str:
    """The config hash of a seed's run: its metrics.json's, else its config.yaml's; "" when unknown."""
    try:
        payload = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
        if isinstance(payload, dict) and payload.get("config_hash"):
            return str(payload["config_hash"])
    except (OSError, ValueError):
        pass
    try:
        config = read_config(str(folder))
    except Exception:  # a damaged config.yaml says nothing about the settings
        return ""
    return "" if config is None else config_hash(config)


def settings_conflict(folders: dict[int, Path]) -> str | None:
    """None when the seeds' runs share one config hash (unknown hashes aside), else a line naming the
    seeds of each setting and the keys that differ (from each seed's config.yaml)."""
    groups: dict[str, list[int]] = {}
    for seed, folder in sorted(folders.items()):
        digest = recorded_hash(folder)
        if digest:
            groups.setdefault(digest, []).append(seed)
    if len(groups) < 2:
        return None
    described = "; ".join(
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} (config {digest})"
        for digest, seeds in groups.items()
    )
    first, *others = [seeds[0] for seeds in groups.values()]
    keys = []
    for other in others:
        try:
            old, new = read_config(str(folders[first])), read_config(str(folders[other]))
        except Exception:
            old = new = None
        if old is None or new is None or config_hash(old) == config_hash(new):
            keys.append(f"keys unknown for seeds {first} and {other} ({CONFIG_FILE} missing or rewritten)")
            continue
        keys += [
            f"{key} {a!r} (seed {first}) vs {b!r} (seed {other})" for key, a, b in differing_keys(old, new)
        ]
    return f"not averaged, the seeds ran with different settings: {described}. Differing: {'; '.join(keys)}"


def read_seed(
    folder: Path, test_log: bool = False, split: str = "test"
) -> tuple[Path, dict[str, float]] | str | None:
    """The file a seed's results come from and its metrics; a reason (str) when its metrics.json is not
    counted; None when it has neither file."""
    metrics_file = folder / METRICS_FILE
    if metrics_file.is_file() and not test_log:
        try:
            payload = load_metrics(metrics_file)
        except MetricsError as error:
            return str(error)
        if payload.get("split", "test") != split:
            return f"a {payload['split']}-split result (--split {payload['split']} reads it)"
        return metrics_file, read_metrics_json(metrics_file)
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


def parse_directory(
    path: str | Path, ci95: bool = False, test_log: bool = False, split: str = "test"
) -> dict:
    """Per-seed results and their summary for one experiment directory.

    Returns ``{"directory", "spread": "std"|"ci95", "runs": [{"folder", "file", <metric>: value}],
    "missing": [folders with no file to read], "failed": [(folder, reason)], "conflict": a line when
    the seeds ran with different settings (then no summary), "summary": {<metric>: {"mean", "spread",
    "n"}}}``; a metric is summarized over the seeds that report it.
    """
    directory = Path(path)
    runs, missing, failed = [], [], []
    for folder in seed_folders(directory):
        found = read_seed(folder, test_log, split)
        if found is None:
            missing.append(str(folder))
        elif isinstance(found, str):
            failed.append((str(folder), found))
        else:
            source, metrics = found
            runs.append({"folder": str(folder), "file": str(source), **metrics})
    counted = {int(Path(run["folder"]).name[4:]): Path(run["folder"]) for run in runs}
    conflict = settings_conflict(counted)
    summary = {}
    for name in METRICS if conflict is None else ():
        values = [run[name] for run in runs if name in run]
        if values:
            summary[name] = summarize(values, ci95)
    return {
        "directory": str(directory),
        "spread": "ci95" if ci95 else "std",
        "runs": runs,
        "missing": missing,
        "failed": failed,
        "conflict": conflict,
        "summary": summary,
    }


def format_result(result: dict) -> str:
    """CoOp-style text: one line per seed file, then the mean +- spread of each metric."""
    lines = [f"Parsing files in {result['directory']}"]
    for run in result["runs"]:
        values = "".join(f" {name}: {run[name]:.2f}%." for name in METRICS if name in run)
        lines.append(f"file: {run['file']}.{values or ' no result lines.'}")
    lines.extend(f"no result file to read in {folder}" for folder in result["missing"])
    lines.extend(f"not counted: {folder}: {reason}" for folder, reason in result.get("failed", []))
    lines.append("===")
    lines.append(f"Summary of directory: {result['directory']} ({result['spread']} over seeds)")
    for name, stats in result["summary"].items():
        lines.append(f"* {name}: {stats['mean']:.2f}% +- {stats['spread']:.2f}% (n={stats['n']})")
    if result.get("conflict"):
        lines.append(result["conflict"])
    elif not result["summary"]:
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
    parser.add_argument("--split", default="test", help="the evaluated split to read (test, or val)")
    parser.add_argument("--harmonic-with", metavar="NEW_DIR", help="the new-class experiment of a base one")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if not directory.is_dir():
        parser.error(f"not a directory: {directory}")
    if args.harmonic_with:
        if args.multi_exp:
            parser.error("--harmonic-with takes one base experiment, not --multi-exp")
        base, new = (
            parse_directory(path, args.ci95, args.test_log, args.split)
            for path in (directory, args.harmonic_with)
        )
        print(format_result(base), format_result(new), format_harmonic(base, new), sep="\n")
        return 0 if base["summary"] and new["summary"] else 1
    experiments = [directory]
    if args.multi_exp:
        experiments = sorted(path for path in directory.iterdir() if path.is_dir())
    found = False
    for experiment in experiments:
        result = parse_directory(experiment, ci95=args.ci95, test_log=args.test_log, split=args.split)
        print(format_result(result))
        found = found or bool(result["summary"])
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main())
