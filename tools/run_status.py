"""Whether a run folder already holds the run that a train.py call would make (skip-if-done).

The call's config is built exactly as train.py builds it (``train.setup_cfg``) and compared with
what the folder holds (``metrics.json``'s ``config_hash``, ``config.yaml`` for the keys):

- ``absent``: nothing to reuse (no folder, or a start that left no checkpoint): train.
- ``resumable``: an interrupted run with these settings (a checkpoint, no metrics.json): train
  resumes it from its checkpoint.
- ``done``: a finished run with these settings (same config hash): skip.
- ``conflict``: a finished or interrupted run with other settings: stop and say which keys differ.

scripts/common.sh (``run_seed``) and ``tools.sweep`` both decide with this module:
``python -m tools.run_status [--overwrite] -- TRAIN_PY_ARGS`` exits 0 (train), 3 (skip) or 2 (a
conflict, explained on stderr); ``--overwrite`` deletes a conflicting run folder and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from yacs.config import CfgNode

from trainers.checkpoints import has_checkpoint
from trainers.run_files import CONFIG_FILE, METRICS_FILE, config_hash, differing_keys, read_config
from trainers.run_folder import RunFolderError, remove_run

ABSENT, RESUMABLE, DONE, CONFLICT = "absent", "resumable", "done", "conflict"
EXIT_TRAIN, EXIT_CONFLICT, EXIT_SKIP = 0, 2, 3
SCRIPT_ADVICE = (
    "Write to another folder (e.g. OUTPUT=output_new), or set OVERWRITE=1 to delete that run folder "
    "and train again."
)


@dataclass
class RunStatus:
    """What a run folder holds compared with the run a call would make."""

    state: str
    run_dir: str
    wanted_hash: str = ""
    recorded_hash: str = ""
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    note: str = ""

    def describe(self, advice: str = SCRIPT_ADVICE) -> str:
        """One message for a user: what is there and, on a conflict, which keys differ and what to do."""
        if self.state == DONE:
            return f"results exist at {self.run_dir} with the same settings (skipping this seed)"
        if self.state == RESUMABLE:
            return f"{self.run_dir} holds an interrupted run with these settings: resuming it"
        if self.state == ABSENT:
            return f"{self.run_dir}: no run yet"
        kind = "an interrupted" if self.recorded_hash == "" else "a finished"
        lines = [f"{self.run_dir} holds {kind} run with other settings than this call's:"]
        lines += [f"  {key}: {old!r} there, {new!r} now" for key, old, new in self.differences]
        if self.note:
            lines.append(f"  ({self.note})")
        lines.append(f"Its results are not the ones asked for. {advice}")
        return "\n".join(lines)


class CallError(ValueError):
    """train.py would refuse these arguments (an unknown key, a value of the wrong type, ...)."""


def would_be_config(train_args: Sequence[str]) -> CfgNode:
    """The config train.py would run with these arguments (Dassl defaults, our keys, files, overrides)."""
    import train

    try:
        return train.setup_cfg(train.parse_args(list(train_args)))
    except (ValueError, KeyError, AssertionError, OSError) as error:
        raise CallError(f"train.py {' '.join(train_args)}\nis refused: {error}") from error


def output_dir_of(train_args: Sequence[str]) -> str:
    """The ``--output-dir`` of a train.py call, without building its config."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--output-dir", default="")
    return parser.parse_known_args(list(train_args))[0].output_dir


def _differences(recorded: CfgNode | None, wanted: CfgNode) -> tuple[list[tuple[str, Any, Any]], str]:
    if recorded is None:
        return [], "the run predates config.yaml, so the keys that differ cannot be named"
    return differing_keys(recorded, wanted), ""


def _recorded_hash(run_dir: str) -> str:
    """metrics.json's config hash ("" when it is unreadable or has none)."""
    try:
        with open(os.path.join(run_dir, METRICS_FILE)) as file:
            return str(json.load(file).get("config_hash", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _read_config(run_dir: str) -> CfgNode | None:
    try:
        return read_config(run_dir)
    except Exception:  # a damaged config.yaml names no keys, but must not hide the comparison
        return None


def run_status(run_dir: str, wanted: CfgNode) -> RunStatus:
    """Compare the run folder with the config a call would run (see the module docstring)."""
    wanted_hash = config_hash(wanted)
    recorded = _read_config(run_dir)
    if os.path.isfile(os.path.join(run_dir, METRICS_FILE)):
        recorded_hash = _recorded_hash(run_dir) or "unknown"
        if recorded_hash == wanted_hash:
            return RunStatus(DONE, run_dir, wanted_hash, recorded_hash)
        if recorded is not None and config_hash(recorded) != recorded_hash:
            note = (
                f"{CONFIG_FILE} was rewritten after the run finished, so the keys that differ cannot be "
                f"named: config hash {recorded_hash} in its metrics.json, {wanted_hash} now"
            )
            return RunStatus(CONFLICT, run_dir, wanted_hash, recorded_hash, [], note)
        differences, note = _differences(recorded, wanted)
        if not differences and not note:
            note = f"config hash {recorded_hash} there, {wanted_hash} now"
        return RunStatus(CONFLICT, run_dir, wanted_hash, recorded_hash, differences, note)
    if has_checkpoint(run_dir):
        if recorded is not None and config_hash(recorded) != wanted_hash:
            differences, note = _differences(recorded, wanted)
            return RunStatus(CONFLICT, run_dir, wanted_hash, "", differences, note)
        return RunStatus(RESUMABLE, run_dir, wanted_hash)
    return RunStatus(ABSENT, run_dir, wanted_hash)


def status_of_call(train_args: Sequence[str], cfg: CfgNode | None = None) -> RunStatus:
    """The status of the run folder of a train.py call whose config is ``cfg`` (built when needed)."""
    run_dir = output_dir_of(train_args)
    if not run_dir or not os.path.isdir(run_dir):
        return RunStatus(ABSENT, run_dir)
    return run_status(run_dir, would_be_config(train_args) if cfg is None else cfg)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, train_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else ([], argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overwrite", action="store_true", help="delete a conflicting run folder")
    args = parser.parse_args(own)
    try:
        status = status_of_call(train_args)
    except CallError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFLICT
    if status.state == CONFLICT:
        if not args.overwrite:
            print(status.describe(), file=sys.stderr)
            return EXIT_CONFLICT
        try:
            remove_run(status.run_dir)
        except RunFolderError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_CONFLICT
        print(f"deleted the run in {status.run_dir} (it held other settings; OVERWRITE=1)")
        return EXIT_TRAIN
    if status.state in (DONE, RESUMABLE):
        print(status.describe())
    return EXIT_SKIP if status.state == DONE else EXIT_TRAIN


if __name__ == "__main__":
    raise SystemExit(main())
