"""Writing a file so that readers see the old content or the new one, never a half-written file."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any


def umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class NoSpaceError(OSError):
    """A write that does not fit on its file system (refused before it starts where the size is known)."""


def mount_point(path: str) -> str:
    """The mount point of the file system that holds ``path`` (or its nearest existing parent)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def no_space(path: str, needed: int, at_least: bool = False) -> NoSpaceError:
    """The one-line error of a write of ``needed`` bytes to ``path`` that does not fit."""
    megabytes = max(1, -(-needed // 2**20))
    return NoSpaceError(
        f"no space left on {mount_point(path)} (needed {'more than ' if at_least else ''}{megabytes} MB) "
        f"to write {path}. Free space there, or write to another disk."
    )


def ensure_space(path: str | os.PathLike[str], needed: int) -> None:
    """Refuse a write of ``needed`` bytes to ``path`` before it starts when its disk has less free."""
    path = os.fspath(path)
    if needed > shutil.disk_usage(mount_point(path)).free:
        raise no_space(path, needed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary file of a unique name next to ``path``, renamed onto ``path`` when the block ends.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), so that a
    data folder shared by a lab stays readable; on any error the temporary file is removed, and a
    full disk is reported as a NoSpaceError naming the disk.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~umask())
        yield temporary
        os.replace(temporary, path)
    except BaseException as error:
        written = os.path.getsize(temporary) if os.path.isfile(temporary) else 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC and not isinstance(error, NoSpaceError):
            raise no_space(path, written, at_least=True) from error
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = None) -> Iterator[IO]:
    """``open(path, mode)`` that replaces ``path`` only once the block has written everything."""
    if "b" not in mode:
        encoding = encoding or "utf-8"
    with atomic_path(path) as temporary, open(temporary, mode, encoding=encoding) as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write indented JSON (UTF-8, non-ASCII kept) atomically."""
    with atomic_write(path) as file:
        json.dump(payload, file, indent=2, ensure_ascii=False)
        file.write("\n")
