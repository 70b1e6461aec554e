"""Prompt ensembles for BiomedCoOp: per-class sentences from our attributes or from a JSON table.

``TRAINER.BIOMEDCOOP.PROMPTS`` names the source: ``biomedcoop`` (BiomedCoOp's published table,
downloaded and converted on first use, or by ``python -m attributes.fetch biomedcoop``), ``curated``
(our descriptive attributes of the dataset), or the path of a JSON file ``{class name: [sentences]}``.
Class names match as everywhere here: case-insensitive, ``_`` and space alike.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path

from attributes.files import (
    SETS_ROOT,
    AttributeSetError,
    load_attributes,
    match_keys,
    read_attribute_file,
)

CURATED = "curated"
BIOMEDCOOP = "biomedcoop"
# Where `python -m attributes.fetch biomedcoop` writes BiomedCoOp's table (not committed).
BIOMEDCOOP_TABLE = SETS_ROOT / "biomedcoop_prompts.json"
# The variable of BiomedCoOp's trainers/prompt_templates.py that holds the table.
BIOMEDCOOP_VARIABLE = "BIOMEDCOOP_TEMPLATES"


def parse_prompt_table(source: str, variable: str = BIOMEDCOOP_VARIABLE) -> dict[str, list[str]]:
    """The literal ``{class: [sentences]}`` assigned to ``variable`` in Python source, read as data.

    The source is parsed, never executed: the value must be a plain literal (strings, lists, dict).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise AttributeSetError(f"the prompt table is not valid Python source: {err}") from err
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not any(isinstance(t, ast.Name) and t.id == variable for t in targets):
            continue
        try:
            table = ast.literal_eval(node.value)
        except ValueError as err:
            raise AttributeSetError(
                f"{variable} is not a plain literal (refusing to run code): {err}"
            ) from err
        return checked_table(table, variable)
    raise AttributeSetError(f"no assignment to {variable} found in the prompt table source")


def checked_table(table: object, where: str) -> dict[str, list[str]]:
    """``table`` if it is a non-empty mapping of class names to lists of sentences."""
    if not isinstance(table, dict) or not table:
        raise AttributeSetError(f"{where} must be a non-empty mapping of class name -> list of sentences")
    for name, sentences in table.items():
        if not isinstance(name, str) or not isinstance(sentences, list) or not sentences:
            raise AttributeSetError(f"{where}: entry {name!r} must map a class name to a list of sentences")
        if not all(isinstance(s, str) for s in sentences):
            raise AttributeSetError(f"{where}: the sentences of {name!r} must all be strings")
    return table


def write_prompt_table(table: dict[str, list[str]], path: Path) -> None:
    """Write the table as JSON (via a temporary file, so a crash leaves no half-written table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)


def download_biomedcoop_table() -> None:
    """Download BiomedCoOp's table to BIOMEDCOOP_TABLE (first use), or say in one line how to provide it."""
    from attributes.fetch import FetchError, fetch_biomedcoop  # the downloader imports this module

    try:
        fetch_biomedcoop(BIOMEDCOOP_TABLE.parent)
    except FetchError as err:
        raise AttributeSetError(
            f"TRAINER.BIOMEDCOOP.PROMPTS biomedcoop: BiomedCoOp's prompt table could not be downloaded "
            f"({err}); offline, run `python -m attributes.fetch biomedcoop` on a machine with internet and "
            f"copy {BIOMEDCOOP_TABLE.name} to {BIOMEDCOOP_TABLE}, or set PROMPTS to a JSON file "
            "{class name: [sentences]} or to curated"
        ) from None


def table_path(source: str) -> Path:
    """The JSON file of a PROMPTS value other than ``curated``."""
    if source == BIOMEDCOOP:
        if not BIOMEDCOOP_TABLE.is_file():
            download_biomedcoop_table()
        return BIOMEDCOOP_TABLE
    path = Path(source).expanduser()
    if not path.is_file():
        raise AttributeSetError(
            f"TRAINER.BIOMEDCOOP.PROMPTS {source!r}: no such file; use 'curated', 'biomedcoop' or the "
            "path of a JSON file {class name: [sentences]}"
        )
    return path


def load_prompt_ensembles(source: str, dataset: str, classnames: Sequence[str]) -> dict[str, list[str]]:
    """The ensemble sentences of every class, in the file's order."""
    if source == CURATED:
        return load_attributes(CURATED, dataset, "des", classnames)
    path = table_path(source)
    table = read_attribute_file(path)
    keys = match_keys(table, classnames)
    missing = [name for name in classnames if not keys[name] or not table[keys[name][0]]]
    if missing:
        raise AttributeSetError(
            f"prompt table {path} has no sentences for {', '.join(map(repr, missing))} (it has "
            f"{len(table)} classes, e.g. {', '.join(list(table)[:5])}); add them or use PROMPTS curated"
        )
    return {name: [s.strip() for s in table[keys[name][0]]] for name in classnames}
