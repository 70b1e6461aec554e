"""Download the benchmark datasets and unpack them under a data root.

Usage: ``python -m datasets.download NAME [NAME ...] --root data`` (NAME may be ``all``, ``biomedical``
or ``natural``). A BiomedCoOp archive ends up as ``<root>/<NAME>/split_<NAME>.json`` plus images in
``<root>/<NAME>/<NAME>/``; its sources are Google Drive first, then the Hugging Face mirror (override its
base with ``--base-url`` or the ``BIOMEDVR_DATA_URL`` environment variable). A natural-image dataset is
assembled in CoOp's layout from its own sources and CoOp's split file (``datasets.download_coop``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from datasets.catalog import CATALOG, DOMAINS, NATURAL, DatasetEntry, find_dataset

MIRROR_URL = "https://huggingface.co/datasets/TahaKoleilat/BiomedCoOp/resolve/main"
MIRROR_ENV = "BIOMEDVR_DATA_URL"
SPLIT_KEYS = ("train", "val", "test")
CHUNK_SIZE = 1 << 20
TIMEOUT_S = 60.0
# The archives hold JPEG/PNG images, which barely compress: more than this ratio is a zip bomb or damage.
MAX_COMPRESSION_RATIO = 100
FREE_SPACE_MARGIN = 1.05


@dataclass(frozen=True)
class Archive:
    """The published archive of one catalog dataset."""

    entry: DatasetEntry

    @property
    def name(self) -> str:
        """Registry and folder name, e.g. ``BTMRI``."""
        return self.entry.folder

    @property
    def config_name(self) -> str:
        return self.entry.config_name

    @property
    def drive_id(self) -> str:
        return self.entry.drive_id

    @property
    def filename(self) -> str:
        """Name of the zip file, e.g. ``BTMRI.zip``."""
        return f"{self.name}.zip"

    @property
    def split_file(self) -> str:
        """Name of the split file, e.g. ``split_BTMRI.json``."""
        return f"split_{self.name}.json"

    @property
    def drive_url(self) -> str:
        """Google Drive page of the archive, for downloading by hand."""
        return f"https://drive.google.com/file/d/{self.drive_id}/view"

    def mirror_url(self, base_url: str = MIRROR_URL) -> str:
        """URL of the archive under a mirror base URL."""
        return f"{base_url.rstrip('/')}/{self.filename}"


ARCHIVES: dict[str, Archive] = {entry.folder: Archive(entry) for entry in CATALOG.values()}


class DownloadError(RuntimeError):
    """A dataset could not be downloaded, extracted or checked."""


class OfflineError(DownloadError):
    """Every source failed because no server could be reached."""


class UnsafeArchiveError(DownloadError):
    """A zip member would be written outside the extraction folder."""


class InsufficientSpaceError(DownloadError):
    """The disk cannot hold the extracted archive (the archive itself is kept)."""


class _Unreachable(Exception):
    """A source could not be contacted at all (DNS, refused connection, timeout)."""


def find_archive(name: str) -> Archive:
    """Look up an archive by registry name or config name, ignoring case."""
    return ARCHIVES[find_dataset(name).folder]


def expand_names(names: Sequence[str]) -> list[Archive]:
    """Resolve names (``all``: every dataset; ``biomedical``, ``natural``: a domain's), no duplicates."""
    archives: list[Archive] = []
    for name in names:
        key = name.casefold()
        if key == "all":
            found = list(ARCHIVES.values())
        elif key in DOMAINS:
            found = [archive for archive in ARCHIVES.values() if archive.entry.domain == key]
        else:
            found = [find_archive(name)]
        archives += [archive for archive in found if archive not in archives]
    return archives


def is_complete(root: str | os.PathLike[str], name: str) -> bool:
    """True when the split file exists and the images folder is non-empty."""
    entry = find_archive(name).entry
    dataset_dir = Path(root) / entry.dataset_dir
    images = dataset_dir / entry.image_dir
    return (dataset_dir / entry.split_file).is_file() and images.is_dir() and any(images.iterdir())


def safe_extract(zip_path: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Extract a zip into ``target`` after checking that no member escapes it.

    Absolute paths, ``..`` components, symbolic links and implausible uncompressed sizes are refused
    before anything is written, as is an archive larger than the free space; a corrupt archive
    raises DownloadError.
    """
    target = Path(target)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            for member in members:
                _check_member(member)
            _check_size(Path(zip_path), members, target)
            target.mkdir(parents=True, exist_ok=True)
            for member in tqdm(members, desc=f"extracting {Path(zip_path).name}", unit="file"):
                archive.extract(member, target)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{zip_path} is not a valid zip archive: {exc}") from exc


def _check_size(zip_path: Path, members: Sequence[zipfile.ZipInfo], target: Path) -> None:
    """Refuse an archive whose members claim an implausible size, or that the disk cannot hold."""
    total = sum(member.file_size for member in members)
    compressed = max(1, zip_path.stat().st_size)
    if total > MAX_COMPRESSION_RATIO * compressed:
        raise DownloadError(
            f"{zip_path} claims to unpack {compressed:,} bytes into {total:,} bytes (more than "
            f"{MAX_COMPRESSION_RATIO}x): it is damaged or not a dataset archive"
        )
    _check_free_space(zip_path, total, target)


def _check_free_space(zip_path: Path, total: int, target: Path) -> None:
    """Refuse to unpack ``total`` bytes where the disk has less free space (the archive is kept)."""
    existing = next(folder for folder in (target, *target.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    if total * FREE_SPACE_MARGIN > free:
        raise InsufficientSpaceError(
            f"not enough free space to extract {zip_path}: it needs {total / 2**30:.2f} GiB and "
            f"{existing} has {free / 2**30:.2f} GiB free. Free some space or choose another --root "
            "(DATA); the archive is kept and reused by the next run"
        )


def _check_member(member: zipfile.ZipInfo) -> None:
    """Raise UnsafeArchiveError if the member is a link or its path leaves the target."""
    name = member.filename
    if stat.S_ISLNK(member.external_attr >> 16):
        raise UnsafeArchiveError(f"refusing zip member {name!r}: it is a symbolic link")
    check_member_path("zip", name)


def check_member_path(kind: str, name: str) -> None:
    """Raise UnsafeArchiveError when an archive member's path is absolute or leaves the target folder."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(name).drive:
        raise UnsafeArchiveError(f"refusing {kind} member {name!r}: absolute path")
    if ".." in PurePosixPath(posix).parts:
        raise UnsafeArchiveError(f"refusing {kind} member {name!r}: path escapes the target folder")


def download_dataset(
    name: str,
    root: str | os.PathLike[str],
    base_url: str | None = None,
    use_drive: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Make ``<root>/<NAME>`` hold a complete dataset, downloading it if needed; return that path.

    ``base_url`` overrides the mirror (default: ``$BIOMEDVR_DATA_URL`` or the Hugging Face one).
    Raises OfflineError when no source can be reached and DownloadError for any other failure.
    """
    archive = find_archive(name)
    if archive.entry.domain == NATURAL:
        from datasets.download_coop import download_natural  # it builds on this module's helpers

        return download_natural(archive.entry, root, use_drive, keep_archive)
    root = Path(root)
    target = root / archive.name
    if (root / archive.split_file).is_file():
        raise DownloadError(
            f"{root} is itself the {archive.name} dataset folder (it holds {archive.split_file}): point "
            f"DATA (--root) at its parent, {root.parent}"
        )
    if is_complete(root, archive.name):
        print(f"{archive.name} is already complete in {target}; skipping.")
        return target
    _clear_incomplete(target, archive)
    zip_path = _obtain_archive(archive, root, base_url, use_drive)
    staging = root / f".{archive.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(zip_path, staging)
        dataset_dir = _locate_dataset(staging, archive)
        _check_layout(dataset_dir, archive)
        os.replace(dataset_dir, target)
    except InsufficientSpaceError:
        raise
    except Exception as exc:
        zip_path.unlink(missing_ok=True)  # a bad archive must not be reused by the next run
        known = isinstance(exc, DownloadError)
        what = str(exc) if known else f"{type(exc).__name__}: {exc}"
        raise (type(exc) if known else DownloadError)(
            f"extracting {zip_path} failed: {what}. The archive was deleted; run again to download it afresh"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not keep_archive:
        zip_path.unlink()
    print(f"{archive.name} is ready in {target}.")
    return target


def _clear_incomplete(target: Path, archive: Archive) -> None:
    """Remove an empty leftover folder; refuse to overwrite one that holds something."""
    if not target.exists():
        return
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
        return
    raise DownloadError(
        f"{target} exists but is incomplete (needs {archive.split_file} and a non-empty "
        f"{archive.name}/ folder); move it away and run again"
    )


def _obtain_archive(archive: Archive, root: Path, base_url: str | None, use_drive: bool) -> Path:
    """Return a complete zip in ``<root>/.downloads``, reusing one from an earlier run."""
    downloads = root / ".downloads"
    zip_path = downloads / archive.filename
    if zipfile.is_zipfile(zip_path):
        print(f"{archive.name}: reusing {zip_path}")
        return zip_path
    downloads.mkdir(parents=True, exist_ok=True)
    part = downloads / f"{archive.filename}.part"
    mirror = archive.mirror_url(base_url or os.environ.get(MIRROR_ENV) or MIRROR_URL)
    sources: list[Callable[[], None]] = [lambda: _fetch_url(mirror, part, archive.name)]
    if use_drive:
        sources.insert(0, lambda: _fetch_drive(archive, part))
    failures: list[str] = []
    offline = True
    for fetch in sources:
        _remove_partials(downloads, archive)
        try:
            fetch()
            if not zipfile.is_zipfile(part):
                raise DownloadError("the server did not send a zip archive")
        except _Unreachable as exc:
            failures.append(str(exc))
        except DownloadError as exc:
            offline = False
            failures.append(str(exc))
        else:
            part.replace(zip_path)
            return zip_path
    _remove_partials(downloads, archive)
    by_hand = (
        f"Download {archive.filename} by hand from {archive.drive_url} or {archive.mirror_url()}, "
        f"and unzip it so that {root / archive.name / archive.split_file} exists."
    )
    if offline:
        raise OfflineError(
            f"cannot download {archive.name}: no internet connection ({failures[-1]}). {by_hand}"
        )
    raise DownloadError(f"cannot download {archive.name}: {'; '.join(failures)}. {by_hand}")


def _remove_partials(downloads: Path, archive: Archive) -> None:
    """Delete partial downloads of this archive, ours and gdown's temporary files."""
    for partial in downloads.glob(f"{archive.filename}.part*"):
        partial.unlink()


def _fetch_drive(archive: Archive, part: Path) -> None:
    """Download the archive from Google Drive into ``part``."""
    _fetch_drive_id(archive.drive_id, part)


def _fetch_drive_id(drive_id: str, part: Path) -> None:
    """Download a Google Drive file into ``part``."""
    # Imported here: gdown pulls in requests, which the dataset classes importing ARCHIVES skip.
    import gdown
    import requests

    try:
        gdown.download(id=drive_id, output=str(part), quiet=False)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Unreachable(f"drive.google.com: {type(exc).__name__}") from exc
    except (gdown.exceptions.FileURLRetrievalError, gdown.exceptions.DownloadError, OSError) as exc:
        raise DownloadError(f"Google Drive: {' '.join(str(exc).split())}") from exc


def _fetch_url(url: str, part: Path, label: str) -> None:
    """Stream ``url`` into ``part`` with a progress bar, checking the size announced."""
    host = urllib.parse.urlsplit(url).netloc
    request = urllib.request.Request(url, headers={"User-Agent": "BioMedVR-for-Dassl"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise _Unreachable(f"{host}: {reason}") from exc
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    received = 0
    with (
        response,
        open(part, "wb") as out,
        tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024) as bar,
    ):
        try:
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"transfer from {url} broke after {received} bytes: {exc}") from exc
    if total is not None and received != total:
        raise DownloadError(f"transfer from {url} stopped after {received} of {total} bytes")


def _locate_dataset(staging: Path, archive: Archive) -> Path:
    """Find the extracted folder holding the split file: the top level or one folder down."""
    candidates = [staging, *sorted(p for p in staging.iterdir() if p.is_dir())]
    for candidate in candidates:
        if (candidate / archive.split_file).is_file():
            return candidate
    raise DownloadError(f"missing {archive.split_file} (looked at the top and one folder down)")


def _check_layout(dataset_dir: Path, archive: Archive) -> None:
    """Check the split file parses with train/val/test keys and the images folder is filled."""
    try:
        split = json.loads((dataset_dir / archive.split_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DownloadError(f"{archive.split_file} is not readable JSON: {exc}") from exc
    missing = [key for key in SPLIT_KEYS if not isinstance(split, dict) or key not in split]
    if missing:
        raise DownloadError(f"{archive.split_file} lacks the keys {', '.join(missing)}")
    images = dataset_dir / archive.name
    if not images.is_dir() or not any(images.iterdir()):
        raise DownloadError(f"missing or empty images folder {archive.name}/")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 when offline or on a bad name)."""
    parser = argparse.ArgumentParser(
        prog="python -m datasets.download",
        description="Download and unpack the benchmark datasets (BiomedCoOp's archives, CoOp's layouts).",
    )
    parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="dataset name (e.g. BTMRI, btmri or oxford_pets), or all, biomedical, natural",
    )
    parser.add_argument("--root", type=Path, default=Path("data"), help="data root (default: data)")
    parser.add_argument(
        "--base-url",
        help=f"mirror base URL (default: ${MIRROR_ENV}, else {MIRROR_URL})",
    )
    parser.add_argument("--no-drive", action="store_true", help="skip Google Drive")
    parser.add_argument("--keep-archive", action="store_true", help="keep the zip in <root>/.downloads")
    args = parser.parse_args(argv)
    try:
        archives = expand_names(args.names)
    except ValueError as exc:
        print(f"error: {exc}, or all, biomedical, natural", file=sys.stderr)
        return 2
    status = 0
    for archive in archives:
        try:
            download_dataset(
                archive.name,
                args.root,
                base_url=args.base_url,
                use_drive=not args.no_drive,
                keep_archive=args.keep_archive,
            )
        except OfflineError as exc:
            print(exc, file=sys.stderr)
            return 2
        except DownloadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
