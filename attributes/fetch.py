"""Download attribute sets that others published, for like-for-like comparisons: `python -m attributes.fetch`.

``published``: the attribute files released with the BioMedVR paper, as its code reads them
(``attributes/gpt3/gpt3/<dataset>_{des,dist,confuse}.json`` of the authors' repository), saved under
``attributes/published/`` with this project's file names, so that ``TRAINER.BIOMEDVR.ATTRIBUTE_SET
published`` uses them. Of the natural-image datasets only Caltech101 has a published confusion-aware
file; the others are skipped and named (the published code runs BioMedVR there without a negative
expert, as ``TRAINER.BIOMEDVR.MISSING_CONFUSE zero`` and PRESET=reference_code do).
``published_attrvr``: the des/dist files the same repository's AttrVR baseline reads
(``attributes/gpt3/``), under ``attributes/published_attrvr/``. AttrVR's own repository holds attributes
of natural-image datasets only. The files are the authors' work: they are downloaded by each user and
never shipped with this project. Each file is parsed as JSON data and checked like any attribute set.

``biomedcoop``: BiomedCoOp's per-class prompt ensembles (its ``trainers/prompt_templates.py``), read as
data (parsed, never executed) and written as JSON to ``<root>/biomedcoop_prompts.json``, which
``TRAINER.BIOMEDCOOP.PROMPTS biomedcoop`` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from attributes.files import (
    DATASETS,
    SETS_ROOT,
    AttributeSetError,
    check_attributes,
    dataset_key,
    read_attribute_file,
)
from attributes.prompt_table import BIOMEDCOOP_TABLE, parse_prompt_table, write_prompt_table
from datasets.atomic import write_json
from datasets.catalog import NATURAL

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Source:
    """Where a published attribute set lies: a repository's raw-file URL and the folder inside it."""

    base_url: str
    folder: str
    kinds: tuple[str, ...]


BIOMEDVR_RAW = "https://raw.githubusercontent.com/JXLiu-AI/BioMedVR/main"
SOURCES = {
    "published": Source(BIOMEDVR_RAW, "attributes/gpt3/gpt3", ("des", "dist", "confuse")),
    "published_attrvr": Source(BIOMEDVR_RAW, "attributes/gpt3", ("des", "dist")),
}


BIOMEDCOOP_RAW = "https://raw.githubusercontent.com/TahaKoleilat/BiomedCoOp/main"
BIOMEDCOOP_FILE = "trainers/prompt_templates.py"
BIOMEDCOOP = "biomedcoop"


class FetchError(RuntimeError):
    """A published file that could not be downloaded or read."""


class NotPublishedError(FetchError):
    """The server has no such file (HTTP 404)."""


def remote_name(dataset: str) -> str:
    """The authors' file-name key of a dataset (``covid`` -> ``covid_19``): its first alias, else its key."""
    info = DATASETS[dataset]
    return info.aliases[0] if info.aliases else dataset


def fetch_url(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "BioMedVR-for-Dassl"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        error = NotPublishedError if exc.code == 404 else FetchError
        raise error(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{url}: {getattr(exc, 'reason', exc)}. Use --base-url for a mirror") from exc


def may_be_unpublished(dataset: str, kind: str) -> bool:
    """A natural-image dataset's confusion-aware file: the paper's release has it for Caltech101 only."""
    return kind == "confuse" and DATASETS[dataset].domain == NATURAL


def fetch_set(
    name: str,
    root: Path,
    base_url: str | None = None,
    datasets: Sequence[str] = (),
    kinds: Sequence[str] = (),
) -> Path:
    """Download one published set into ``root/name``; returns the folder. Raises FetchError."""
    source = SOURCES[name]
    base = (base_url or source.base_url).rstrip("/")
    target = root / name
    jobs = [(d, kind) for d in datasets or DATASETS for kind in kinds or source.kinds]
    unpublished = []
    for dataset, kind in tqdm(jobs, desc=f"Fetching {name}", unit="file"):
        url = f"{base}/{source.folder}/{remote_name(dataset)}_{kind}.json"
        try:
            data = json.loads(fetch_url(url))
        except NotPublishedError:
            if not may_be_unpublished(dataset, kind):
                raise
            unpublished.append(dataset)
            continue
        except json.JSONDecodeError as exc:
            raise FetchError(f"{url} is not JSON ({exc}); is --base-url right?") from exc
        path = target / f"{dataset}_{kind}.json"
        write_json(str(path), data)
        try:
            read_attribute_file(path)
        except AttributeSetError as exc:
            path.unlink()
            raise FetchError(f"{url}: {exc}") from exc
    if unpublished:
        print(
            f"No confusion-aware file is published for {', '.join(unpublished)}: the published code runs "
            "BioMedVR there without a negative expert (s- = 0), as TRAINER.BIOMEDVR.MISSING_CONFUSE zero "
            "(PRESET=reference_code) does; the default refuses to run without one."
        )
    return target


def ensure_fetched(set_name: str, dataset: str, kinds: Sequence[str], root: Path = SETS_ROOT) -> None:
    """Download a published set's files of one dataset on first use; they stay under ``root/set_name``.

    Any other set name is left alone. Raises AttributeSetError naming the files to provide when they
    are missing and cannot be downloaded.
    """
    if set_name not in SOURCES:
        return
    key = dataset_key(dataset)
    target = root / set_name
    missing = [kind for kind in kinds if not (target / f"{key}_{kind}.json").is_file()]
    if not missing:
        return
    print(f"Fetching the {set_name} attribute files of {key} (first use; kept under {target})")
    try:
        fetch_set(set_name, root, datasets=[key], kinds=missing)
    except FetchError as exc:
        files = ", ".join(str(target / f"{key}_{kind}.json") for kind in missing)
        raise AttributeSetError(
            f"the {set_name} attribute files are not here and could not be downloaded ({exc}). Provide "
            f"{files}: run `python -m attributes.fetch {set_name} --dataset {key}` on a machine with "
            "internet and copy them here, or choose another set with TRAINER.BIOMEDVR.ATTRIBUTE_SET"
        ) from None


def fetch_biomedcoop(root: Path, base_url: str | None = None) -> Path:
    """Download BiomedCoOp's prompt table and write it as JSON under ``root``; returns the file."""
    url = f"{(base_url or BIOMEDCOOP_RAW).rstrip('/')}/{BIOMEDCOOP_FILE}"
    print(f"Downloading {url}")
    try:
        table = parse_prompt_table(fetch_url(url).decode("utf-8"))
    except (UnicodeDecodeError, AttributeSetError) as exc:
        raise FetchError(f"{url}: {exc}") from exc
    path = root / BIOMEDCOOP_TABLE.name
    write_prompt_table(table, path)
    counts = sorted(len(sentences) for sentences in table.values())
    print(f"Wrote {path}: {len(table)} classes, {counts[0]} to {counts[-1]} sentences each")
    return path


def report_problems(folder: Path, name: str, datasets: Sequence[str] = ()) -> int:
    """Check every fetched file like a user's own set; print a line per problem; return their count."""
    source = SOURCES[name]
    count = 0
    for dataset in datasets or DATASETS:
        for kind in source.kinds:
            path = folder / f"{dataset}_{kind}.json"
            if not path.is_file() and may_be_unpublished(dataset, kind):
                continue
            classnames = DATASETS[dataset].classnames
            problems = check_attributes(
                read_attribute_file(path), classnames, dataset=dataset, kind=kind, file=path
            )
            for problem in problems:
                print(f"- {problem}")
            count += len(problems)
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attributes.fetch", description=__doc__.split("\n")[0])
    parser.add_argument("set", choices=sorted([*SOURCES, BIOMEDCOOP]), help="which published set")
    parser.add_argument("--root", type=Path, default=SETS_ROOT, help="folder of attribute sets")
    parser.add_argument("--base-url", help="a mirror of the repository's raw files")
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=[], help="default: all")
    args = parser.parse_args(argv)
    if args.set == BIOMEDCOOP:
        try:
            path = fetch_biomedcoop(args.root, args.base_url)
        except FetchError as exc:
            print(
                f"error: {exc}\nOr use TRAINER.BIOMEDCOOP.PROMPTS curated (our attributes).", file=sys.stderr
            )
            return 1
        print(f"Use it with TRAINER.BIOMEDCOOP.PROMPTS {'biomedcoop' if args.root == SETS_ROOT else path}")
        return 0
    try:
        folder = fetch_set(args.set, args.root, args.base_url, args.dataset)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"saved under {folder}; checking it as an attribute set")
    problems = report_problems(folder, args.set, args.dataset)
    note = f"{problems} problem(s) above: the files are used as published" if problems else "no problems"
    print(f"{note}. Use it with TRAINER.BIOMEDVR.ATTRIBUTE_SET {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
