"""Download published prompt tables: `python -m attributes.fetch biomedcoop`.

``biomedcoop``: BiomedCoOp's per-class prompt ensembles (its ``trainers/prompt_templates.py``), read
as data (parsed, never executed) and written as JSON to ``attributes/biomedcoop_prompts.json``, which
``TRAINER.BIOMEDCOOP.PROMPTS biomedcoop`` reads. The file is the user's download, not part of this
project.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from attributes.files import AttributeSetError
from attributes.prompt_table import BIOMEDCOOP_TABLE, parse_prompt_table, write_prompt_table

BIOMEDCOOP_BASE_URL = "https://raw.githubusercontent.com/TahaKoleilat/BiomedCoOp/main"
BIOMEDCOOP_FILE = "trainers/prompt_templates.py"
TIMEOUT_S = 60


class FetchError(RuntimeError):
    """A download that failed, with what to do instead."""


def download_text(url: str) -> str:
    """The body of ``url`` as UTF-8 text."""
    request = urllib.request.Request(url, headers={"User-Agent": "BioMedVR-for-Dassl"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        raise FetchError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as err:
        raise FetchError(f"{url}: {getattr(err, 'reason', err)}") from err


def fetch_biomedcoop(
    base_url: str = BIOMEDCOOP_BASE_URL, out: Path = BIOMEDCOOP_TABLE
) -> dict[str, list[str]]:
    """Download BiomedCoOp's prompt table, convert it to JSON at ``out``, and return it."""
    url = f"{base_url.rstrip('/')}/{BIOMEDCOOP_FILE}"
    print(f"Downloading {url}")
    table = parse_prompt_table(download_text(url))
    write_prompt_table(table, out)
    counts = sorted(len(sentences) for sentences in table.values())
    print(f"Wrote {out}: {len(table)} classes, {counts[0]} to {counts[-1]} sentences each")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", choices=["biomedcoop"], help="which published table to download")
    parser.add_argument(
        "--base-url", default=BIOMEDCOOP_BASE_URL, help="repository root for raw files (a mirror)"
    )
    parser.add_argument("--out", type=Path, default=BIOMEDCOOP_TABLE, help="JSON file to write")
    args = parser.parse_args(argv)
    try:
        fetch_biomedcoop(args.base_url, args.out)
    except (FetchError, AttributeSetError) as err:
        print(
            f"error: {err}\nDownload {BIOMEDCOOP_FILE} of BiomedCoOp by hand and give its folder's URL "
            "with --base-url (file:// works), or use TRAINER.BIOMEDCOOP.PROMPTS curated.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
