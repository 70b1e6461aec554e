"""Write attribute files with an OpenAI-compatible chat model: `python -m attributes.generate`."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import openai

from attributes.files import (
    CURATED_MIN_COUNTS,
    DATASETS,
    KINDS,
    AttributeSetError,
    attribute_file,
    candidate_files,
    dataset_key,
    direction_issue,
    match_keys,
    read_attribute_file,
    sentence_issue,
    set_path,
)
from attributes.visibility import visibility_issue, visibility_note
from datasets.atomic import write_json
from datasets.catalog import MIN_SENTENCES, NATURAL

API_KEY_ENV = "OPENAI_API_KEY"
RETRY_DELAY_ENV = "ATTRIBUTES_RETRY_DELAY"
MAX_RETRY_DELAY = 60.0
RETRYABLE = (
    openai.RateLimitError,
    openai.APIConnectionError,  # includes APITimeoutError
    openai.InternalServerError,
    openai.APIResponseValidationError,
    json.JSONDecodeError,
)

SYSTEM_PROMPT = (
    "You are an expert in medical image interpretation. You write short visual descriptions "
    "that serve as text prompts for a CLIP image-text model. Each description is one plain "
    "sentence of at most 30 words about what can be seen in the image; no patient history, "
    "no treatment, no numbering or labels inside the sentence."
)
TASKS = {
    "des": (
        "Describe the visual appearance of a {modality} image of {classname}. "
        "Give {num} different visual cues, one cue per line."
    ),
    "dist": (
        "A {modality} dataset has these classes: {classes}. Describe what visually "
        "distinguishes {classname} from the other classes ({others}). Give {num} different "
        "distinguishing visual features, one per line, each saying how {classname} looks."
    ),
    "confuse": (
        "Generate the most visually confusing negative descriptions for class {classname}.\n"
        "Context: the images are {modality} images; the dataset's other classes are: {others}.\n"
        "Each description states the typical visual appearance of one of these other classes, "
        "chosen among those an image of {classname} is most easily confused with: most "
        "descriptions for the nearest confusers and at least one for every other class. Describe "
        "how that class looks in its own right (you may name it); never describe {classname} "
        "itself, never say the image mimics, resembles or looks like {classname}, and avoid "
        'contrasts such as "unlike" or "rather than". Give {num} descriptions.'
    ),
}
MODEL_SET_PREFIX = "llm-"  # the set a model's sentences go to by default: llm-<model name, slugged>
_UNSAFE = re.compile(r"[^a-z0-9.]+")
_ITEM = re.compile(r"^(?:\(?\d{1,3}[.)]|[-*•])\s+(?P<text>.+)$")
_QUOTES = "\"'“”‘’`"


class GenerationError(RuntimeError):
    """The model could not be reached or gave no usable answer."""


class MalformedReply(ValueError):
    """A reply without a message text."""


@dataclass(frozen=True)
class RequestConfig:
    """How to query the model: name, retry policy and number of asks per class."""

    model: str
    max_attempts: int = 5
    base_delay: float = 2.0
    max_rounds: int = 3


def default_set_name(model: str) -> str:
    """The attribute set a model writes to without ``--set``: ``llm-`` and the model name, lower-case,
    every run of other characters than letters, digits and dots made one ``-`` (``llm-gpt-4.1``)."""
    return MODEL_SET_PREFIX + _UNSAFE.sub("-", model.lower()).strip("-")


def build_messages(
    dataset: str, classname: str, kind: str, num: int, avoid: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Chat messages asking for `num` sentences of `kind` about `classname`."""
    info = DATASETS[dataset_key(dataset)]
    others = [name for name in info.classnames if name != classname]
    task = TASKS[kind].format(
        modality=info.modality,
        classname=classname,
        classes=", ".join(info.classnames),
        others=", ".join(others),
        num=num,
    )
    parts = [
        task,
        visibility_note(info.config_name),
        f"Answer with a numbered list of exactly {num} items and nothing else.",
    ]
    if avoid:
        listed = "\n".join(f"- {s.strip()}" for s in avoid)
        parts.append(f"Do not repeat or closely paraphrase these existing descriptions:\n{listed}")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _clean_item(item: str) -> str:
    item = item.replace("**", "").strip()
    if item[:1] in _QUOTES:
        item = re.sub(f"[{_QUOTES}]+(?=[.]?$)", "", item.lstrip(_QUOTES))
    return item.strip()


def parse_numbered_list(text: str) -> list[str]:
    """Items of a numbered or bulleted list in a model reply, ignoring preamble lines.

    A reply without any list marker is read as one item per non-empty line.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    items = [m["text"] for m in map(_ITEM.match, lines) if m]
    if not items:
        items = [line for line in lines if not line.endswith(":")]
    return [cleaned for cleaned in map(_clean_item, items) if cleaned]


def reply_check(dataset: str, classname: str, kind: str) -> Callable[[str], str | None]:
    """Why a generated sentence is unusable: `sentence_issue`, `direction_issue` for confuse, and
    `visibility_issue`."""
    classnames = DATASETS[dataset_key(dataset)].classnames

    def issue(text: str) -> str | None:
        wrong_way = direction_issue(text, classname, classnames) if kind == "confuse" else None
        return sentence_issue(text) or wrong_way or visibility_issue(text)

    return issue


def select_sentences(
    candidates: Sequence[str],
    avoid: Sequence[str],
    limit: int,
    issue: Callable[[str], str | None] = sentence_issue,
) -> list[str]:
    """Up to `limit` candidates (stripped) without `issue`, skipping duplicates and those in `avoid`."""
    seen = {s.strip() for s in avoid}
    chosen: list[str] = []
    for candidate in candidates:
        text = candidate.strip()
        if len(chosen) >= limit:
            break
        if text in seen or issue(text):
            continue
        seen.add(text)
        chosen.append(text)
    return chosen


def make_client(base_url: str | None, timeout: float) -> openai.OpenAI:
    """OpenAI client without built-in retries; the key comes from OPENAI_API_KEY."""
    api_key = os.environ.get(API_KEY_ENV)
    if not api_key:
        raise GenerationError(
            f"environment variable {API_KEY_ENV} is not set; export {API_KEY_ENV}=<your key> "
            "(any non-empty value for a local server given with --base-url)"
        )
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


def _reply_text(completion: object) -> str:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedReply(f"reply has no choices: {str(completion)[:200]!r}")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        raise MalformedReply("reply has no message content")
    if getattr(choices[0], "finish_reason", None) == "length":
        content = content[: content.rfind("\n") + 1]  # last line was cut off
    return content


def request_completion(client: openai.OpenAI, config: RequestConfig, messages: list[dict[str, str]]) -> str:
    """Reply text of one chat completion, retrying transient failures with backoff."""
    last_error: Exception | None = None
    for attempt in range(config.max_attempts):
        if attempt:
            delay = min(config.base_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY)
            print(f"  retry in {delay:g}s after {type(last_error).__name__}", file=sys.stderr)
            time.sleep(delay)
        try:
            completion = client.chat.completions.create(model=config.model, messages=messages)
            return _reply_text(completion)
        except (*RETRYABLE, MalformedReply) as err:
            last_error = err
        except openai.APIStatusError as err:
            raise GenerationError(f"request rejected with HTTP {err.status_code}: {err.message}") from err
    raise GenerationError(
        f"no usable reply after {config.max_attempts} attempt(s); "
        f"last error: {type(last_error).__name__}: {last_error}"
    ) from last_error


def generate_class(
    client: openai.OpenAI,
    config: RequestConfig,
    *,
    dataset: str,
    classname: str,
    kind: str,
    num: int,
    avoid: Sequence[str] = (),
) -> list[str]:
    """Up to `num` new usable sentences for one class, asking at most `max_rounds` times."""
    chosen: list[str] = []
    issue = reply_check(dataset, classname, kind)
    for _ in range(config.max_rounds):
        if len(chosen) >= num:
            break
        known = [*avoid, *chosen]
        messages = build_messages(dataset, classname, kind, num - len(chosen), avoid=known)
        reply = request_completion(client, config, messages)
        chosen += select_sentences(parse_numbered_list(reply), known, num - len(chosen), issue)
    if len(chosen) < num:
        print(
            f"warning: [{dataset}/{kind}] {classname}: only {len(chosen)} of {num} requested "
            f"sentences after {config.max_rounds} request(s); keeping them",
            file=sys.stderr,
        )
    return chosen


def target_file(set_dir: Path, dataset: str, kind: str) -> Path:
    """The existing file for `dataset` and `kind` (aliases included), else the canonical name."""
    try:
        return attribute_file(set_dir, dataset, kind)
    except AttributeSetError:
        return candidate_files(set_dir, dataset, kind)[0]


def generate_file(
    client: openai.OpenAI, config: RequestConfig, set_dir: Path, dataset: str, kind: str, num: int
) -> Path:
    """Fill one attribute file to `num` usable sentences per class, saving after each class."""
    path = target_file(set_dir, dataset, kind)
    data = read_attribute_file(path) if path.exists() else {}
    for classname in DATASETS[dataset].classnames:
        keys = match_keys(data, [classname])[classname]
        key = keys[0] if keys else classname
        existing = data.get(key, [])
        have = len(select_sentences(existing, (), len(existing)))
        if have >= num:
            print(f"[{dataset}/{kind}] {classname}: {have}/{num} already, skipped")
            continue
        new = generate_class(
            client,
            config,
            dataset=dataset,
            classname=classname,
            kind=kind,
            num=num - have,
            avoid=existing,
        )
        data[key] = [*existing, *new]
        write_json(path, data)
        print(f"[{dataset}/{kind}] {classname}: {have + len(new)}/{num} -> {path}")
    return path


def build_parser() -> argparse.ArgumentParser:
    """Command line options of the generator."""
    parser = argparse.ArgumentParser(
        prog="python -m attributes.generate",
        description="Generate attribute sentences with a chat model (resumable).",
    )
    parser.add_argument("--dataset", nargs="+", required=True, help="dataset key(s), e.g. btmri")
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument(
        "--num",
        type=int,
        help="sentences per class (default: the dataset's curated minimum of the kind: "
        + ", ".join(f"{k}={v}" for k, v in CURATED_MIN_COUNTS.items())
        + " for the biomedical datasets, "
        + ", ".join(f"{k}={v}" for k, v in MIN_SENTENCES[NATURAL].items())
        + " for the natural-image ones)",
    )
    parser.add_argument(
        "--set",
        help=f"set name under attributes/ or folder path (default: {MODEL_SET_PREFIX}<model>, e.g. "
        f"{default_set_name('gpt-4.1')}: one set per model, as Table 4 compares them)",
    )
    parser.add_argument("--base-url", help="OpenAI-compatible API URL, e.g. http://host:8000/v1")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--max-attempts", type=int, default=5, help="tries per request")
    parser.add_argument("--max-rounds", type=int, default=3, help="requests per class at most")
    parser.add_argument(
        "--base-delay",
        type=float,
        default=os.environ.get(RETRY_DELAY_ENV, "2.0"),
        help=f"first retry delay in seconds, doubled each retry (env {RETRY_DELAY_ENV})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; 0 on success, 1 on errors, 130 when interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    datasets = [dataset_key(d) for d in args.dataset]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}")
    if (args.num is not None and args.num < 1) or min(args.max_attempts, args.max_rounds) < 1:
        parser.error("--num, --max-attempts and --max-rounds must be at least 1")
    kinds = KINDS if args.kind == "all" else (args.kind,)
    config = RequestConfig(args.model, args.max_attempts, args.base_delay, args.max_rounds)
    try:
        client = make_client(args.base_url, args.timeout)
        set_dir = set_path(args.set or default_set_name(args.model))
        for dataset in datasets:
            for kind in kinds:
                num = args.num or DATASETS[dataset].min_sentences[kind]
                generate_file(client, config, set_dir, dataset, kind, num)
    except (GenerationError, AttributeSetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished classes are saved, rerun to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
