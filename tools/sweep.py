"""Run a grid of experiments (the paper's tables) on SLURM, on this machine's GPUs, or in this process.

``python -m tools.sweep --grid table1 [--executor local|slurm|debug] [--dry-run] [KEY VALUE ...]``

Each job is one seed of one experiment, exactly the train.py calls of the method scripts
(tools/sweep_grid.py); a finished job with the same config is skipped, an interrupted one resumes, a
folder holding other settings stops the sweep before anything is submitted (tools/run_status.py).
Shared caches are built once per dataset first (tools/sweep_prepare.py); then the jobs fan out with a
live count; failed jobs are listed with the end of their logs and the command that reruns only them;
finally ``tools.results`` prints the tables of the output tree.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import yaml

from tools.run_status import (
    ABSENT,
    CONFLICT,
    DONE,
    RESUMABLE,
    CallError,
    RunStatus,
    status_of_call,
    would_be_config,
)
from tools.sweep_executors import (
    Outcome,
    SlurmRunner,
    SlurmSettings,
    TrainJob,
    job_ids,
    run_inline,
    run_local,
    submitit_log_folder,
)
from tools.sweep_grid import (
    GRIDS_FILE,
    Grid,
    GridError,
    Job,
    expand,
    load_grids,
    narrow,
    select,
    variant_root,
    variants_of,
)
from trainers.run_files import METRICS_FILE

CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")
STATE_LABELS = {DONE: "done", RESUMABLE: "resume", ABSENT: "to run", CONFLICT: "CONFLICT"}
SLURM_KEYS = ("partition", "account", "time_min", "gpus", "cpus", "mem_gb", "array_parallelism")


@dataclass
class JobState:
    """A job and the status of each of its run folders."""

    job: Job
    statuses: list[RunStatus]

    @property
    def state(self) -> str:
        states = {status.state for status in self.statuses}
        for state in (CONFLICT, RESUMABLE):
            if state in states:
                return state
        recorded = all(os.path.isfile(os.path.join(target, METRICS_FILE)) for target, _ in self.job.records)
        return DONE if states == {DONE} and recorded else ABSENT


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Flags, and the trailing ``KEY VALUE`` config overrides (from the first ``A.B`` key on)."""
    for index, token in enumerate(argv):
        if CONFIG_KEY.match(token):
            return list(argv[:index]), list(argv[index:])
    return list(argv), []


def job_states(jobs: Sequence[Job]) -> tuple[list[JobState], dict]:
    """Every job's status, and the config of every train.py call (built as train.py builds it)."""
    configs = {step: would_be_config(step) for job in jobs for step in job.steps}
    states = [JobState(job, [status_of_call(step, configs[step]) for step in job.steps]) for job in jobs]
    return states, configs


def print_plan(states: Sequence[JobState], verbose: bool) -> None:
    counts = {label: 0 for label in STATE_LABELS.values()}
    for item in states:
        counts[STATE_LABELS[item.state]] += 1
        if verbose:
            print(f"{STATE_LABELS[item.state]:>8}  {item.job.name}")
    summary = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
    print(f"{len(states)} jobs: {summary or 'none'}")


def build_grid(args: argparse.Namespace, overrides: list[str]) -> Grid:
    if args.grid:
        grids = load_grids()
        if args.grid not in grids:
            raise GridError(f"unknown grid {args.grid!r}; {GRIDS_FILE} defines {', '.join(grids)}")
        grid = grids[args.grid]
    elif args.methods:
        grid = Grid(methods=tuple(args.methods))
    else:
        raise GridError("name a grid (--grid table1, ...) or the methods to run (--methods BioMedVR ...)")
    grid = narrow(
        grid,
        methods=args.methods,
        datasets=args.datasets,
        shots=args.shots,
        seeds=args.seeds,
        backbones=args.backbones,
    )
    protocol = "base2new" if args.base2new else grid.protocol
    return replace(grid, overrides=(*grid.overrides, *overrides), protocol=protocol)


def slurm_settings(args: argparse.Namespace) -> SlurmSettings:
    """Defaults, then the YAML file, then the flags."""
    values = {}
    if args.slurm_config:
        with open(args.slurm_config) as file:
            values = yaml.safe_load(file) or {}
        unknown = set(values) - set(SLURM_KEYS) - {"prepare_time_min"}
        if unknown:
            raise GridError(f"{args.slurm_config}: unknown keys {sorted(unknown)}; known: {SLURM_KEYS}")
    values |= {key: getattr(args, key) for key in SLURM_KEYS if getattr(args, key) is not None}
    return SlurmSettings(**values)


def local_gpus(text: str | None) -> list[str]:
    """``--gpus 0,1`` -> ["0", "1"]; ``cpu`` -> []; unset -> every GPU torch sees."""
    if text is None:
        import torch

        return [str(index) for index in range(torch.cuda.device_count())]
    if text.strip().lower() in ("cpu", "none", ""):
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def report_failures(outcomes: Sequence[Outcome], argv: Sequence[str]) -> None:
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if not failed:
        return
    print(f"\n{len(failed)} failed:", file=sys.stderr)
    for outcome in failed:
        print(f"--- {outcome.name}: {outcome.message}", file=sys.stderr)
        if outcome.log_path:
            print(f"    log: {outcome.log_path}", file=sys.stderr)
        tail = outcome.tail.rstrip()
        if tail:
            print("    " + tail.replace("\n", "\n    "), file=sys.stderr)
    names = [outcome.name for outcome in failed if not outcome.name.startswith("prepare ")]
    if names:
        print(f"\nTo rerun only these: {sweep_command(argv, '--only', *names)}", file=sys.stderr)


def sweep_command(argv: Sequence[str], *extra: str) -> str:
    """This command line without its ``--only`` patterns, with ``extra`` flags before the overrides."""
    flags, overrides = split_overrides(argv)
    kept, skipping = [], False
    for token in flags:
        if token == "--only":
            skipping = True
        elif not (skipping and not token.startswith("--")):
            skipping = False
            kept.append(token)
    return "python -m tools.sweep " + shlex.join([*kept, *extra, *overrides])


def show_results(grid: Grid, output: str) -> None:
    """tools.results on each variant's tree: for each backbone of the grid, or once with every backbone
    when methods run on backbones of their own (Table 1: prompt learning on BiomedCLIP)."""
    from tools import results
    from trainers.backbones import backbone_tag

    for variant, _ in variants_of(grid):
        root = variant_root(output, variant)
        methods = grid.methods_of(variant)
        backbones = sorted(
            {backbone for method in methods for backbone in grid.backbones_of(method, variant)}
        )
        if len(backbones) > 1 and (grid.mixed_backbones or variant in dict(grid.variant_backbones)):
            print(f"\n## {root} (each row on its own backbone)\n")
            results.main([root, "--shots", str(max(grid.shots))])
            continue
        for backbone in backbones:
            print(f"\n## {root} ({backbone})\n")
            results.main([root, "--shots", str(max(grid.shots)), "--backbone", backbone_tag(backbone)])


def no_jobs(expanded: Sequence[Job], patterns: Sequence[str]) -> str:
    """Why a sweep has nothing to run: the filters match no job of the grid, or the grid is empty."""
    if not expanded:
        return "the grid and its filters (--methods, --datasets, --shots, --seeds, --base2new) give no job"
    examples = ", ".join(job.name for job in expanded[:3])
    return (
        f"--only {' '.join(patterns)} matches none of the grid's {len(expanded)} jobs "
        f"(names like {examples}; patterns are shell patterns of those names)"
    )


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    flags, overrides = split_overrides(argv)
    parser = argparse.ArgumentParser(
        prog="python -m tools.sweep",
        description=__doc__.split("\n\n")[0],
        epilog="Trailing KEY VALUE pairs (e.g. OPTIM.MAX_EPOCH 100) go to every train.py call.",
    )
    grid = parser.add_argument_group("the grid (flags narrow a named grid)")
    grid.add_argument("--grid", help=f"a named grid of {GRIDS_FILE.name}: table1, base2new, shots, ...")
    grid.add_argument("--methods", nargs="+", help="trainer names, e.g. BioMedVR CoOp")
    grid.add_argument(
        "--datasets", nargs="+", help="config names (btmri busi ...), or all, biomedical, natural"
    )
    grid.add_argument("--shots", nargs="+", type=int)
    grid.add_argument("--seeds", nargs="+", type=int)
    grid.add_argument("--backbones", nargs="+", help="e.g. ViT-B/16 BiomedCLIP")
    grid.add_argument("--base2new", action="store_true", help="the base-to-novel protocol")
    grid.add_argument("--only", nargs="+", default=[], metavar="PATTERN", help="jobs whose names match")
    grid.add_argument("--data", default="data", help="dataset root (DATA of the scripts)")
    grid.add_argument("--output", default="output", help="output tree (OUTPUT of the scripts)")
    run = parser.add_argument_group("running")
    run.add_argument("--dry-run", action="store_true", help="list the jobs and how many are done")
    run.add_argument("--executor", choices=("local", "slurm", "debug"), default="local")
    run.add_argument("--overwrite", action="store_true", help="replace runs made with other settings")
    run.add_argument("--no-results", action="store_true", help="do not print tools.results at the end")
    local = parser.add_argument_group("--executor local")
    local.add_argument("--gpus", help="GPU ids, e.g. 0,1 (default: all; cpu: none)")
    local.add_argument("--per-gpu", type=int, default=1, help="concurrent jobs on each GPU")
    slurm = parser.add_argument_group("--executor slurm (flags override --slurm-config)")
    slurm.add_argument("--slurm-config", help=f"YAML with any of {', '.join(SLURM_KEYS)}")
    slurm.add_argument("--partition")
    slurm.add_argument("--account")
    slurm.add_argument("--time", dest="time_min", type=int, help="minutes per job (default 240)")
    slurm.add_argument("--slurm-gpus", dest="gpus", type=int, help="GPUs per job (default 1)")
    slurm.add_argument("--cpus", type=int, help="CPUs per job (default 4)")
    slurm.add_argument("--mem-gb", type=float, help="memory per job (default 32)")
    slurm.add_argument("--array-parallelism", type=int, help="jobs running at once (default 64)")
    slurm.add_argument("--no-wait", action="store_true", help="submit and return")
    slurm.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
    return parser.parse_args(flags), overrides


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, overrides = parse_args(argv)
    try:
        grid = build_grid(args, overrides)
        expanded = expand(grid, args.output, args.data)
        jobs = select(expanded, args.only)
        if not jobs:
            raise GridError(no_jobs(expanded, args.only))
    except GridError as error:
        print(f"tools.sweep: {error}", file=sys.stderr)
        return 2
    try:
        states, configs = job_states(jobs)
    except CallError as error:
        print(f"tools.sweep: {error}", file=sys.stderr)
        return 2
    print_plan(states, verbose=args.dry_run)
    conflicts = [item for item in states if item.state == CONFLICT]
    if conflicts and not args.overwrite:
        for item in conflicts:
            for status in item.statuses:
                if status.state == CONFLICT:
                    print("\n" + status.describe("Use another --output, or --overwrite."), file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    todo = [item.job for item in states if item.state != DONE]
    outcomes = run(args, argv, todo, [configs[step] for job in todo for step in job.steps])
    if outcomes is None:
        return 0
    report_failures(outcomes, argv)
    if not args.no_results:
        show_results(grid, args.output)
    return 1 if any(not outcome.ok for outcome in outcomes) else 0


def run(
    args: argparse.Namespace, argv: Sequence[str], todo: list[Job], configs: list
) -> list[Outcome] | None:
    """Prepare the shared caches, then run the jobs on the chosen executor (None: submitted, not awaited)."""
    from tools.sweep_prepare import prepare_tasks

    if not todo:
        print("Nothing to run: every job is done.")
        return []
    prepare = prepare_tasks(configs)
    tasks = [TrainJob(job, overwrite=args.overwrite) for job in todo]
    if args.executor == "slurm":
        runner = SlurmRunner(submitit_log_folder(args.output), slurm_settings(args))
        prepared = runner.submit(prepare, prepare=True)
        submitted = runner.submit(tasks, prepare=False, after=prepared)
        print(
            f"Submitted {len(prepared)} prepare jobs ({job_ids(prepared)}) and {len(submitted)} train jobs "
            f"({job_ids(submitted)}); each job's log is job.log in its run folder."
        )
        if args.no_wait:
            print(f"Follow with squeue; count what is done with: {sweep_command(argv, '--dry-run')}")
            return None
        outcomes = runner.wait(prepare, prepared, "prepare", args.poll)
        if any(not outcome.ok for outcome in outcomes):
            for job in submitted:
                job.cancel(check=False)
            print("A prepare job failed: the train jobs were cancelled.", file=sys.stderr)
            return outcomes
        return outcomes + runner.wait(tasks, submitted, "jobs", args.poll)
    outcomes = run_inline(prepare, "prepare")
    if any(not outcome.ok for outcome in outcomes):
        return outcomes
    if args.executor == "debug":
        return outcomes + run_inline(tasks, "jobs")
    return outcomes + run_local(tasks, local_gpus(args.gpus), args.per_gpu)


if __name__ == "__main__":
    raise SystemExit(main())
