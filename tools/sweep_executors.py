"""Where a sweep's tasks run: on SLURM through submitit, on this machine's GPUs, or in this process.

Every task is a callable: the preparation of a dataset's shared caches (tools/sweep_prepare.py), then
the train jobs (``TrainJob``: the train.py calls of one seed, each skipped, resumed or refused as
tools/run_status.py decides). Each executor reports a live count of pending, running, done and failed
tasks and returns one ``Outcome`` per task.
"""

from __future__ import annotations

import os
import queue
import shlex
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tools.run_status import CONFLICT, DONE, remove_run, status_of_call
from tools.sweep_grid import REPO, Job
from trainers.run_files import METRICS_FILE, record_for_seed
from trainers.run_folder import RunFolderError

SWEEP_ADVICE = "Use another --output, or --overwrite to delete that run folder and train again."
LOG_TAIL_LINES = 20


class JobFailed(RuntimeError):
    """A job that could not run or whose train.py call failed; ``log_path`` holds its output."""

    def __init__(self, message: str, log_path: str = "") -> None:
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True)
class TrainJob:
    """The train.py calls of one job, run one after the other in the repository."""

    job: Job
    overwrite: bool = False

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def log_path(self) -> str:
        return self.job.log_path

    def __call__(self, env: dict[str, str] | None = None) -> str:
        ran = 0
        for step in self.job.steps:
            status = status_of_call(step)
            if status.state == DONE:
                continue
            if status.state == CONFLICT:
                if not self.overwrite:
                    raise JobFailed(status.describe(SWEEP_ADVICE))
                try:
                    remove_run(status.run_dir)
                except RunFolderError as error:
                    raise JobFailed(str(error)) from None
            self._train(step, env or {})
            ran += 1
        for target, seed in self.job.records:  # what the zero-shot script records for its other seeds
            if not os.path.isfile(os.path.join(target, METRICS_FILE)):
                record_for_seed(self.job.run_dir, target, seed)
                ran += 1
        return f"{self.name}: {'done' if ran else 'already done'}"

    def _train(self, step: Sequence[str], env: dict[str, str]) -> None:
        os.makedirs(self.job.run_dir, exist_ok=True)
        command = [sys.executable, "train.py", *step]
        with open(self.log_path, "a") as log:
            devices = env.get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
            log.write(
                f"==> {datetime.now():%Y-%m-%d %H:%M:%S} on {socket.gethostname()}, "
                f"CUDA_VISIBLE_DEVICES={devices}: {shlex.join(command)}\n"
            )
            log.flush()
            returncode = subprocess.run(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}
            ).returncode
        if returncode != 0:
            raise JobFailed(f"train.py exited with status {returncode}", self.log_path)


def run_task(task: Callable[[], str]) -> str:
    """What submitit runs: one task (picklable, so it travels to a SLURM node)."""
    return task()


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log ("" when there is none)."""
    try:
        with open(path, errors="replace") as file:
            return "".join(file.readlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Outcome:
    """How one task ended: ``ok``, a message, and where its log is."""

    name: str
    ok: bool
    message: str
    log_path: str = ""

    @property
    def tail(self) -> str:
        return log_tail(self.log_path) if self.log_path else ""


def outcome_of_error(task: Any, error: BaseException) -> Outcome:
    log_path = getattr(error, "log_path", "") or getattr(task, "log_path", "")
    if isinstance(error, JobFailed):
        return Outcome(task.name, False, str(error), log_path)
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Outcome(task.name, False, text.strip(), log_path)


@dataclass
class Progress:
    """A live count of pending / running / done / failed tasks, printed when it changes."""

    label: str
    total: int
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    last: str = ""

    def show(self, running: int, done: int, failed: int, final: bool = False) -> None:
        pending = self.total - running - done - failed
        line = f"[sweep] {self.label}: {pending} pending, {running} running, {done} done, {failed} failed"
        tty = self.stream.isatty()
        if line != self.last:
            self.last = line
            self.stream.write("\r" + line if tty else line + "\n")
        if final and tty:
            self.stream.write("\n")
        self.stream.flush()


def run_inline(tasks: Sequence[Any], label: str) -> list[Outcome]:
    """Run tasks one after another in this process (the preparation before a local sweep fans out)."""
    progress, outcomes = Progress(label, len(tasks)), []
    for task in tasks:
        progress.show(1, len(outcomes) - _failed(outcomes), _failed(outcomes))
        try:
            outcomes.append(Outcome(task.name, True, task()))
        except Exception as error:
            outcomes.append(outcome_of_error(task, error))
    progress.show(0, len(outcomes) - _failed(outcomes), _failed(outcomes), final=True)
    return outcomes


def _failed(outcomes: Sequence[Outcome]) -> int:
    return sum(not outcome.ok for outcome in outcomes)


def run_local(
    tasks: Sequence[TrainJob], gpus: Sequence[str], per_gpu: int, label: str = "jobs", poll: float = 0.5
) -> list[Outcome]:
    """Run jobs on this machine, ``per_gpu`` at a time on each GPU (``gpus`` empty: on the CPU).

    Each job sees only its GPU (CUDA_VISIBLE_DEVICES) and an equal share of the CPU threads.
    """
    slots: queue.Queue[str | None] = queue.Queue()
    for slot in [gpu for gpu in gpus for _ in range(per_gpu)] or [None] * per_gpu:
        slots.put(slot)
    workers = slots.qsize()
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    lock, running = threading.Lock(), [0]
    outcomes: list[Outcome | None] = [None] * len(tasks)

    def work(index: int) -> None:
        task, slot = tasks[index], slots.get()
        with lock:
            running[0] += 1
        env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads)}
        env["CUDA_VISIBLE_DEVICES"] = "" if slot is None else slot
        try:
            outcomes[index] = Outcome(task.name, True, task(env), task.log_path)
        except Exception as error:
            outcomes[index] = outcome_of_error(task, error)
        finally:
            with lock:
                running[0] -= 1
            slots.put(slot)

    progress = Progress(label, len(tasks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work, index) for index in range(len(tasks))]
        while not all(future.done() for future in futures):
            finished = [o for o in outcomes if o is not None]
            progress.show(running[0], len(finished) - _failed(finished), _failed(finished))
            time.sleep(poll)
    finished = [o for o in outcomes if o is not None]
    progress.show(0, len(finished) - _failed(finished), _failed(finished), final=True)
    return finished


@dataclass
class SlurmSettings:
    """What a SLURM job asks for (flags or a small YAML file; None leaves SLURM's default)."""

    partition: str | None = None
    account: str | None = None
    time_min: int = 240
    gpus: int = 1
    cpus: int = 4
    mem_gb: float | None = 32
    array_parallelism: int = 64
    prepare_time_min: int = 60

    def parameters(self, prepare: bool) -> dict[str, Any]:
        """submitit parameters for the prepare jobs (no GPU) or the train jobs."""
        params: dict[str, Any] = {
            "name": "biomedvr-prepare" if prepare else "biomedvr",
            "timeout_min": self.prepare_time_min if prepare else self.time_min,
            "cpus_per_task": self.cpus,
            "slurm_array_parallelism": self.array_parallelism,
            "slurm_setup": [f"export PYTHONPATH={shlex.quote(str(REPO))}${{PYTHONPATH:+:$PYTHONPATH}}"],
        }
        if not prepare and self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.account:
            params["slurm_account"] = self.account
        return params


def _submitit_outcome(task: Any, job: Any) -> Outcome:
    """A finished submitit job as an Outcome (its own log when the task wrote none)."""
    error = job.exception()
    if error is None:
        return Outcome(task.name, True, str(job.result()), getattr(task, "log_path", ""))
    outcome = outcome_of_error(task, error)
    if not outcome.log_path or not os.path.isfile(outcome.log_path):
        outcome.log_path = str(job.paths.stderr)
    if isinstance(error, JobFailed) or "JobFailed" in str(error):
        outcome.message = remote_failure_message(str(error))
    return outcome


def remote_failure_message(text: str) -> str:
    """Our message from the remote traceback that submitit reports, without its wrapping."""
    lines = text.strip().splitlines()
    for index, line in enumerate(lines):
        if "JobFailed:" in line:
            rest = [line.split("JobFailed:", 1)[1].strip()]
            for following in lines[index + 1 :]:
                if following.strip().strip("-") == "" and following.strip():
                    break
                rest.append(following)
            return "\n".join(rest).strip()
    return text.strip()


class SlurmRunner:
    """Prepare tasks as one SLURM array, train jobs as another that starts when it has succeeded."""

    def __init__(self, folder: str, settings: SlurmSettings) -> None:
        import submitit

        self.settings = settings
        self.executor = submitit.AutoExecutor(folder=os.path.join(folder, "%j"), cluster="slurm")

    def submit(self, tasks: Sequence[Any], prepare: bool, after: Sequence[Any] = ()) -> list[Any]:
        """Submit tasks as one array; submit the prepare tasks first (parameters carry over)."""
        params = self.settings.parameters(prepare)
        if after:  # the train array starts when every prepare job succeeded, and is dropped if one failed
            params["slurm_dependency"] = "afterok:" + ":".join(sorted({str(j.job_id) for j in after}))
            params["slurm_additional_parameters"] = {"kill-on-invalid-dep": "yes"}
        self.executor.update_parameters(**params)
        return list(self.executor.map_array(run_task, list(tasks))) if tasks else []

    def wait(self, tasks: Sequence[Any], jobs: Sequence[Any], label: str, poll: float) -> list[Outcome]:
        """Follow the jobs until each has ended, with a live count; one Outcome per job."""
        progress = Progress(label, len(jobs))
        outcomes: dict[int, Outcome] = {}
        while True:
            running = 0
            for index, job in enumerate(jobs):
                if index in outcomes:
                    continue
                if job.done():
                    outcomes[index] = _submitit_outcome(tasks[index], job)
                elif job.paths.stdout.exists():  # started (read from its log: sacct may be disabled)
                    running += 1
            finished = list(outcomes.values())
            final = len(outcomes) == len(jobs)
            progress.show(running, len(finished) - _failed(finished), _failed(finished), final=final)
            if final:
                return [outcomes[index] for index in range(len(jobs))]
            time.sleep(poll)


def job_ids(jobs: Sequence[Any]) -> str:
    """The SLURM array ids of submitted jobs, for squeue/scancel."""
    return ", ".join(sorted({str(job.job_id).split("_")[0] for job in jobs}))


def submitit_log_folder(output: str) -> str:
    """Where submitit keeps its wrapper logs and pickles (the train logs are next to each run)."""
    return str(Path(output) / ".sweep" / "submitit")
