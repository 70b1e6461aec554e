"""Command line validator of an attribute set: `python -m attributes.check`.

Besides the format checks, confusion-aware sentences go through the direction check
(`attributes.files.direction_issue`, column "dir"), and every sentence through the visibility check
(`attributes.visibility`, column "vis"; `--guide` prints what each dataset's images show). The class
lists are the catalog's, for every domain. A missing file is a problem for the datasets of
`REQUIRED_DOMAINS`; files of the other datasets are checked when present and listed as "absent"
otherwise (the natural-image sets are being written).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from attributes.files import (
    DATASETS,
    KINDS,
    SETS_ROOT,
    AttributeSetError,
    Problem,
    attribute_file,
    check_attributes,
    dataset_key,
    match_keys,
    read_attribute_file,
    resolve_set_dir,
)
from attributes.visibility import visibility_note
from datasets.catalog import BIOMEDICAL

# Domains whose datasets must have every attribute file. Once the curated sets of all seven
# natural-image datasets exist, this becomes datasets.catalog.DOMAINS.
REQUIRED_DOMAINS = (BIOMEDICAL,)

COLUMNS = ("dataset", "kind", "classes", "min", "median", "long", "short", "dup", "dir", "vis", "unknown")
WIDTHS = (15, 8, 8, 5, 7, 5, 6, 4, 4, 4, 7)


def parse_min_counts(text: str) -> dict[str, int]:
    """Parse "des=20,dist=20,confuse=10" (any subset of kinds) into a dict."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(
                f"bad --min-count item {part!r}; expected KIND=N with KIND in {KINDS} and N >= 1"
            )
        counts[kind] = int(value)
    return counts


def _row(cells: Sequence[object]) -> str:
    return " ".join(str(cell).ljust(width) for cell, width in zip(cells, WIDTHS, strict=True)).rstrip()


def check_file(set_dir: Path, dataset: str, kind: str, min_count: int) -> tuple[str, list[Problem]]:
    """Table row and problems of one dataset and kind of the set in `set_dir`."""
    classnames = DATASETS[dataset].classnames
    expected = len(classnames)
    path = set_dir
    try:
        path = attribute_file(set_dir, dataset, kind)
        data = read_attribute_file(path)
    except AttributeSetError as err:  # missing or unreadable file
        if not path.is_file() and DATASETS[dataset].domain not in REQUIRED_DOMAINS:
            return _row((dataset, kind, "absent", *"-" * 8)), []
        problem = Problem(dataset, kind, None, path, str(err), "unreadable")
        return _row((dataset, kind, f"0/{expected}", *"-" * 8)), [problem]
    problems = check_attributes(data, classnames, dataset=dataset, kind=kind, file=path, min_count=min_count)
    counts = [len(data[keys[0]]) for keys in match_keys(data, classnames).values() if keys]
    issues = Counter(p.issue for p in problems)
    row = (
        dataset,
        kind,
        f"{len(counts)}/{expected}",
        min(counts) if counts else "-",
        f"{statistics.median(counts):g}" if counts else "-",
        issues["long"],
        issues["short"],
        issues["duplicate"],
        issues["direction"],
        issues["invisible"],
        issues["unknown_key"],
    )
    return _row(row), problems


def build_parser() -> argparse.ArgumentParser:
    """Command line options of the checker."""
    parser = argparse.ArgumentParser(
        prog="python -m attributes.check", description="Validate an attribute set."
    )
    parser.add_argument("--set", default="curated", help="set name under attributes/ or folder path")
    parser.add_argument(
        "--dataset",
        nargs="+",
        action="extend",
        help=f"datasets to check (default: all of {', '.join(DATASETS)})",
    )
    parser.add_argument(
        "--guide",
        action="store_true",
        help="print what each dataset's images show at the model's input size, the standard sentences "
        "are held to (column vis), and exit",
    )
    parser.add_argument(
        "--min-count",
        type=parse_min_counts,
        help="minimum sentences per class, e.g. des=20,dist=20,confuse=10 "
        "(default: for the curated set each dataset's curated minimums, 20/20/12 for the biomedical "
        "and 6/6/6 for the natural-image datasets; 1 otherwise)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print a summary table and every problem; 0 when clean, 1 on problems, 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        set_dir = resolve_set_dir(args.set)
    except AttributeSetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    datasets = [dataset_key(d) for d in args.dataset or DATASETS]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        print(f"error: unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}", file=sys.stderr)
        return 2
    if args.guide:
        for dataset in datasets:
            print(f"{dataset}: {visibility_note(dataset)}")
        return 0
    curated = set_dir.resolve() == (SETS_ROOT / "curated").resolve()

    def min_counts(dataset: str) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 1) | (DATASETS[dataset].min_sentences if curated else {})
        return counts | (args.min_count or {})

    print(f"attribute set: {set_dir}")
    shown = {", ".join(f"{k}={v}" for k, v in min_counts(d).items()) for d in datasets}
    print("minimum sentences per class: " + " or ".join(sorted(shown)) + " (per dataset's domain)")
    print(_row(COLUMNS))
    problems: list[Problem] = []
    for dataset in datasets:
        for kind in KINDS:
            row, found = check_file(set_dir, dataset, kind, min_counts(dataset)[kind])
            print(row)
            problems.extend(found)
    if not problems:
        print("no problems found")
        return 0
    print(f"\n{len(problems)} problem(s) (what the images can show: python -m attributes.check --guide):")
    for problem in problems:
        print(f"- {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
