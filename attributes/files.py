"""Locate, read and validate attribute files (`<dataset>_<kind>.json`, class name -> sentences)."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from attributes.visibility import visibility_issue
from datasets.catalog import BIOMEDICAL, CATALOG, MIN_SENTENCES

KINDS = ("des", "dist", "confuse")
# The curated minimums of the biomedical sets; each dataset's own are its catalog entry's min_sentences.
CURATED_MIN_COUNTS = MIN_SENTENCES[BIOMEDICAL]
MIN_CHARS = 20
# Problems of a published file that its code lives with (it drops short sentences and keeps repeats).
PUBLISHED_TOLERATED = ("short", "duplicate")
MAX_TOKENS = 77
SETS_ROOT = Path(__file__).resolve().parent
# Words by which a confusion-aware sentence describes a look-alike of its class or contrasts with it.
LOOK_ALIKE = re.compile(
    r"\b(?:mimic\w*|resembl\w*|simulat\w*|imitat\w*|masquerad\w*"
    r"|look(?:s|ing|ed)? like|(?:mistaken|misread|misinterpreted|misclassified) (?:for|as)"
    r"|confused with|pass(?:es|ing)? (?:for|as)|taken for)\b",
    re.IGNORECASE,
)
CONTRAST = re.compile(r"\b(?:unlike|rather than|instead of)\b", re.IGNORECASE)


# Config name -> the catalog entry (modality, class names, attribute-file aliases).
DATASETS = CATALOG


class AttributeSetError(ValueError):
    """An attribute set, file or its content cannot be used."""


@dataclass(frozen=True)
class Problem:
    """One defect found in an attribute file; `issue` is a short machine-readable category."""

    dataset: str
    kind: str
    classname: str | None
    file: Path
    message: str
    issue: str = "other"

    def __str__(self) -> str:
        where = f" class {self.classname!r}:" if self.classname is not None else ""
        return f"{self.file} [{self.dataset}/{self.kind}]{where} {self.message}"


def normalize_key(name: str) -> str:
    """Lower-case `name`, treat `_` as a space and collapse whitespace."""
    return " ".join(name.replace("_", " ").split()).lower()


def dataset_key(dataset: str) -> str:
    """Canonical key of a config name or alias ("COVID_19" -> "covid"); unknown names pass."""
    key = dataset.strip().lower()
    for name, info in DATASETS.items():
        if key in info.aliases:
            return name
    return key


def available_sets() -> list[str]:
    """Names of the attribute sets shipped under the package folder."""
    return sorted(p.name for p in SETS_ROOT.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def set_path(set_name_or_path: str) -> Path:
    """Folder of a set, existing or not.

    A plain name (no slash, not starting with "." or "~") is a folder under `attributes/`;
    anything else is a path.
    """
    if not set_name_or_path.strip():
        raise AttributeSetError("empty attribute set name; give a set name or a folder path")
    if any(c in set_name_or_path for c in "/\\") or set_name_or_path.startswith((".", "~")):
        return Path(set_name_or_path).expanduser()
    return SETS_ROOT / set_name_or_path


def resolve_set_dir(set_name_or_path: str) -> Path:
    """Existing folder of a set given by name (under `attributes/`) or by path."""
    folder = set_path(set_name_or_path)
    if folder.is_dir():
        return folder
    raise AttributeSetError(
        f"attribute set {set_name_or_path!r} not found (looked for folder {folder}); "
        f"available sets: {', '.join(available_sets()) or 'none'}; "
        "or give the path of a folder holding <dataset>_<kind>.json files"
    )


def candidate_files(set_dir: Path, dataset: str, kind: str) -> list[Path]:
    """Paths that may hold the `kind` attributes of `dataset`, preferred name first."""
    if kind not in KINDS:
        raise AttributeSetError(f"unknown attribute kind {kind!r}; expected one of {KINDS}")
    key = dataset_key(dataset)
    info = DATASETS.get(key)
    names = (key, *info.aliases) if info else (key,)
    return [set_dir / f"{name}_{kind}.json" for name in names]


def attribute_file(set_dir: Path, dataset: str, kind: str) -> Path:
    """The existing attribute file of `dataset` and `kind` in `set_dir` (aliases accepted)."""
    candidates = candidate_files(set_dir, dataset, kind)
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise AttributeSetError(
        f"no {kind!r} attribute file for dataset {dataset!r}; tried: {tried}. "
        f"Create {candidates[0].name} (JSON object: class name -> list of sentences), e.g. with "
        f"`python -m attributes.generate --dataset {dataset_key(dataset)} --kind {kind} "
        f"--set {set_dir}`, or choose another set with TRAINER.BIOMEDVR.ATTRIBUTE_SET"
    )


def has_attribute_file(set_name_or_path: str, dataset: str, kind: str) -> bool:
    """Whether an existing set holds a `kind` file for `dataset` (under any accepted name)."""
    return any(path.is_file() for path in candidate_files(resolve_set_dir(set_name_or_path), dataset, kind))


def read_attribute_file(path: Path) -> dict[str, list[str]]:
    """Parse an attribute file, checking it is a JSON object of string lists."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise AttributeSetError(f"cannot read attribute file {path}: {err}") from err
    except json.JSONDecodeError as err:
        raise AttributeSetError(f"invalid JSON in attribute file {path}: {err}") from err
    if not isinstance(data, dict):
        raise AttributeSetError(
            f"attribute file {path} must hold a JSON object (class name -> list of sentences), "
            f"found {type(data).__name__}"
        )
    for key, value in data.items():
        if not isinstance(value, list):
            raise AttributeSetError(
                f"attribute file {path}: value of {key!r} must be a list of sentences, "
                f"found {type(value).__name__}"
            )
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise AttributeSetError(
                    f"attribute file {path}: item {i} of {key!r} must be a string, "
                    f"found {type(item).__name__}"
                )
    return data


@lru_cache(maxsize=1)
def _tokenizer():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def token_length(sentence: str) -> int:
    """Number of CLIP tokens of `sentence`, start and end tokens included."""
    return len(_tokenizer().encode(sentence)) + 2


def excerpt(text: str, limit: int = 80) -> str:
    """A sentence as messages quote it: whole when short, else its first ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def sentence_issue(sentence: str) -> str | None:
    """Why `sentence` is unusable as a CLIP prompt ("too short"/"too long"), or None."""
    text = sentence.strip()
    if len(text) < MIN_CHARS:
        return "too short"
    if token_length(text) > MAX_TOKENS:
        return "too long"
    return None


def _words(sentence: str) -> str:
    """`sentence` without punctuation, normalized like a class name."""
    return normalize_key(re.sub(r"[^\w\s]", " ", sentence))


def names_class(sentence: str, classname: str) -> bool:
    """Whether `sentence` names `classname`, both without punctuation and case (plural accepted)."""
    return re.search(rf"\b{re.escape(_words(classname))}(?:e?s)?\b", _words(sentence)) is not None


def direction_issue(sentence: str, classname: str, classnames: Sequence[str]) -> str | None:
    """Why confusion-aware `sentence` under `classname` does not describe another class, or None.

    Flags a look-alike of the class ("mimics", "resembles", "looks like", "mistaken for", "like a
    <class>"), a contrast ("unlike", "rather than", "instead of"), and naming `classname` but none of
    the dataset's other `classnames`.
    """
    own = normalize_key(classname)
    like_own = re.search(rf"\blike (?:an? |the )?{re.escape(own)}\b", _words(sentence))
    found = LOOK_ALIKE.search(sentence) or like_own
    if found:
        return f"describes a look-alike of its class ({found.group(0)!r})"
    found = CONTRAST.search(sentence)
    if found:
        return f"contrasts with its class ({found.group(0)!r})"
    others = [name for name in classnames if normalize_key(name) != own]
    if names_class(sentence, classname) and not any(names_class(sentence, name) for name in others):
        return "names its own class and no other class"
    return None


def match_keys(keys: Iterable[str], classnames: Sequence[str]) -> dict[str, list[str]]:
    """Map each class name to the file keys that normalize to it (usually one or none)."""
    by_norm: dict[str, list[str]] = {}
    for key in keys:
        by_norm.setdefault(normalize_key(key), []).append(key)
    return {name: by_norm.get(normalize_key(name), []) for name in classnames}


def check_attributes(
    data: Mapping[str, Sequence[str]],
    classnames: Sequence[str],
    *,
    dataset: str,
    kind: str,
    file: Path,
    min_count: int = 1,
    also_known: Sequence[str] = (),
) -> list[Problem]:
    """All problems of one attribute file's content against the expected class names.

    Keys matching ``also_known`` (the dataset's other classes, in a base or new subset) are not unknown.
    Confusion-aware sentences also go through `direction_issue` against all those classes.
    """
    problems: list[Problem] = []
    dataset_classes = list(dict.fromkeys((*classnames, *also_known)))

    def add(classname: str | None, issue: str, message: str) -> None:
        problems.append(Problem(dataset, kind, classname, Path(file), message, issue))

    for classname, keys in match_keys(data, classnames).items():
        if not keys:
            add(
                classname,
                "missing",
                f"class {classname!r} missing from {Path(file).name}; keys in file: {list(data)}",
            )
            continue
        if len(keys) > 1:
            add(classname, "ambiguous", f"several keys match this class: {keys}")
        sentences = data[keys[0]]
        if not sentences:
            add(classname, "empty", f"key {keys[0]!r} has an empty list")
            continue
        if len(sentences) < min_count:
            add(classname, "few", f"{len(sentences)} sentences, at least {min_count} required")
        seen: set[str] = set()
        for sentence in sentences:
            text = sentence.strip()
            issue = sentence_issue(text)
            if issue == "too short":
                add(classname, "short", f"sentence under {MIN_CHARS} characters: {text!r}")
            elif issue == "too long":
                add(
                    classname,
                    "long",
                    f"sentence of {token_length(text)} CLIP tokens (max {MAX_TOKENS}): {excerpt(text)}",
                )
            wrong_way = direction_issue(text, classname, dataset_classes) if kind == "confuse" else None
            if wrong_way:
                add(classname, "direction", f"confusion-aware sentence {wrong_way}: {excerpt(text)}")
            invisible = visibility_issue(text)
            if invisible:
                add(classname, "invisible", f"sentence {invisible}: {excerpt(text)}")
            if text in seen:
                add(classname, "duplicate", f"duplicate sentence: {excerpt(text)}")
            seen.add(text)
    known = {normalize_key(name) for name in dataset_classes}
    for key in data:
        if normalize_key(key) not in known:
            add(None, "unknown_key", f"unknown key {key!r} matches no class of {list(classnames)}")
    return problems


def load_attributes(
    set_name_or_path: str, dataset: str, kind: str, classnames: Sequence[str], as_published: bool = False
) -> dict[str, list[str]]:
    """Checked sentences per class name (as given) for one dataset and kind of a set.

    ``as_published`` reads the lists as the published code does (a reference draw): sentences as
    written, duplicates kept and short ones left for the draw to drop, with a warning for each.

    Confusion-aware ("confuse") sentences under class y describe the look of the *other* classes an
    image of y is confused with (paper Fig. 7: under kidney tumor, a cyst's "well-defined,
    fluid-filled lesion"), never an image that looks like y. Sentences that break this direction
    (`direction_issue`) load with a warning; every other problem raises `AttributeSetError`.
    """
    path = attribute_file(resolve_set_dir(set_name_or_path), dataset, kind)
    data = read_attribute_file(path)
    key = dataset_key(dataset)
    dataset_classes = DATASETS[key].classnames if key in DATASETS else ()
    problems = check_attributes(
        data, classnames, dataset=key, kind=kind, file=path, also_known=dataset_classes
    )
    warned = {"direction", "invisible", *(PUBLISHED_TOLERATED if as_published else ())}
    wrong_way = [p for p in problems if p.issue in warned]
    problems = [p for p in problems if p.issue not in warned]
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise AttributeSetError(f"{len(problems)} problem(s) in {path}:\n{lines}")
    if wrong_way:
        lines = "\n".join(f"  - {p}" for p in wrong_way)
        warnings.warn(
            f"{len(wrong_way)} sentence(s) in {path} used as written (see README, Attributes):\n{lines}",
            stacklevel=2,
        )
    keys = match_keys(data, classnames)
    if as_published:
        return {name: list(data[keys[name][0]]) for name in classnames}
    return {name: [s.strip() for s in data[keys[name][0]]] for name in classnames}
