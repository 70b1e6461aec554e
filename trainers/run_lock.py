"""One run at a time per output folder: a lock held for the run's lifetime.

The lock is an advisory ``flock`` on ``<output>/.run.lock``, which records who holds it (and is left
empty when the run ends). The operating system releases it when the holding process ends, however it
ends, so the lock of a run that crashed or was killed is taken over by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator

LOCK_FILE = ".run.lock"


class RunLockedError(RuntimeError):
    """Another live run is writing the same output folder."""


def _holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            holder = json.load(file)
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextlib.contextmanager
def output_lock(folder: str) -> Iterator[None]:
    """Hold the lock of ``folder`` (created if needed) for the block; refuse when another run holds it."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            pid, host, since = (holder.get(key, "?") for key in ("pid", "host", "since"))
            who = f"process {pid} on {host}, since {since}"
            raise RunLockedError(
                f"another run ({who}) is writing {folder}. Wait for it to finish, or choose another "
                "--output-dir (OUTPUT for the scripts); two runs in one folder would mix their files."
            ) from None
        previous = _holder(path)
        if previous:
            print(f"Taking over the lock of {folder} from an ended run (process {previous.get('pid', '?')})")
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(handle, 0)  # kept, empty: deleting it could let two later runs lock two files
    finally:
        os.close(handle)
