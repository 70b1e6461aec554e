"""Writing a file so that readers see the old content or the new one, never a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any


def umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary file of a unique name next to ``path``, renamed onto ``path`` when the block ends.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), so that a
    data folder shared by a lab stays readable; on any error the temporary file is removed.
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
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
