"""Download a natural-image dataset in CoOp's layout: its own sources plus CoOp's split file.

Each catalog entry lists the files that make its folder (``DatasetEntry.downloads``: archives from the
dataset's site or Google Drive, plain files); CoOp's ``split_zhou_<Name>.json`` comes from Google Drive
(the ids of CoOp's DATASETS.md). A part already in place is skipped and a complete download of an
earlier run is reused, so the command can be rerun after any failure. Archives are checked as the
biomedical ones are (no member outside the folder, no links, plausible sizes, enough free space).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from datasets.catalog import DatasetEntry, Download
from datasets.download import (
    MAX_COMPRESSION_RATIO,
    DownloadError,
    OfflineError,
    UnsafeArchiveError,
    _check_free_space,
    _fetch_drive_id,
    _fetch_url,
    _Unreachable,
    check_member_path,
    safe_extract,
)

SPLIT_KEYS = ("train", "val", "test")


def split_download(entry: DatasetEntry) -> Download:
    """CoOp's split file of a natural dataset, from Google Drive."""
    return Download(entry.split_file, entry.split_file, drive_id=entry.drive_id)


def parts(entry: DatasetEntry) -> tuple[Download, ...]:
    """Every file that makes the dataset folder: the dataset's own, then CoOp's split file."""
    return (*entry.downloads, split_download(entry))


def source_of(part: Download) -> str:
    """Where a part comes from, for messages and for downloading by hand."""
    return part.url or f"https://drive.google.com/file/d/{part.drive_id}/view"


def is_complete(root: str | os.PathLike[str], entry: DatasetEntry) -> bool:
    """True when the split file exists and the image folder is non-empty."""
    folder = Path(root) / entry.dataset_dir
    images = folder / entry.image_dir
    return (folder / entry.split_file).is_file() and images.is_dir() and any(images.iterdir())


def _present(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def safe_extract_tar(tar_path: Path, target: Path) -> None:
    """Extract a tar archive into ``target`` after checking every member, as ``safe_extract`` does a zip."""
    try:
        with tarfile.open(tar_path) as archive:
            members = archive.getmembers()
            for member in members:
                _check_tar_member(member)
            total = sum(member.size for member in members)
            if total > MAX_COMPRESSION_RATIO * max(1, tar_path.stat().st_size):
                raise DownloadError(
                    f"{tar_path} claims to unpack {tar_path.stat().st_size:,} bytes into {total:,} bytes "
                    f"(more than {MAX_COMPRESSION_RATIO}x): it is damaged or not a dataset archive"
                )
            _check_free_space(tar_path, total, target)
            target.mkdir(parents=True, exist_ok=True)
            for member in tqdm(members, desc=f"extracting {tar_path.name}", unit="file"):
                archive.extract(member, target, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, DownloadError):
            raise
        raise DownloadError(f"{tar_path} is not a valid tar archive: {exc}") from exc


def _check_tar_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchiveError for links, devices and paths that leave the target."""
    name = member.name
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"refusing tar member {name!r}: it is a link or special file")
    check_member_path("tar", name)


def _extract(archive: Path, target: Path) -> None:
    if zipfile.is_zipfile(archive):
        safe_extract(archive, target)
    elif tarfile.is_tarfile(archive):
        safe_extract_tar(archive, target)
    else:
        raise DownloadError(f"{archive} is neither a zip nor a tar archive")


def _locate(staging: Path, member: str) -> Path | None:
    """The extracted ``member`` at the top of ``staging`` or one or two folders down."""
    for depth in ("", "*/", "*/*/"):
        found = sorted(path for path in staging.glob(depth + member) if _present(path))
        if found:
            return found[0]
    return None


def _locate_or_unpack_nested(staging: Path, member: str) -> Path:
    """The member, unpacking an archive named after it that the outer archive holds (Caltech101's)."""
    found = _locate(staging, member)
    if found is not None:
        return found
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        for depth in ("", "*/", "*/*/"):
            for nested in sorted(staging.glob(f"{depth}{member}{suffix}")):
                inner = staging / ".nested"
                _extract(nested, inner)
                found = _locate(inner, member)
                if found is not None:
                    return found
    raise DownloadError(f"the archive holds no {member}/ (looked at the top and two folders down)")


def _obtain(part: Download, downloads: Path, use_drive: bool) -> Path:
    """A complete download of ``part`` in ``downloads``, reusing one from an earlier run."""
    path = downloads / part.filename
    if path.is_file():
        print(f"{part.filename}: reusing {path}")
        return path
    downloads.mkdir(parents=True, exist_ok=True)
    partial = downloads / f"{part.filename}.part"
    partial.unlink(missing_ok=True)
    by_hand = f"Download it by hand from {source_of(part)}"
    try:
        if part.url:
            _fetch_url(part.url, partial, part.filename)
        elif use_drive:
            _fetch_drive_id(part.drive_id, partial)
        else:
            raise DownloadError(f"{part.filename} is on Google Drive only, and --no-drive was given")
    except _Unreachable as exc:
        partial.unlink(missing_ok=True)
        raise OfflineError(
            f"cannot download {part.filename}: no internet connection ({exc}). {by_hand}"
        ) from exc
    except DownloadError as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"cannot download {part.filename}: {exc}. {by_hand}") from exc
    partial.replace(path)
    return path


def _install_archive(archive: Path, part: Download, root: Path, target: Path) -> None:
    """Unpack an archive and move its ``member`` folder into the dataset folder; a bad archive is deleted."""
    staging = root / f".{target.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _extract(archive, staging)
        found = _locate_or_unpack_nested(staging, part.member)
        os.replace(found, target / part.member)
    except Exception as exc:
        archive.unlink(missing_ok=True)
        what = str(exc) if isinstance(exc, DownloadError) else f"{type(exc).__name__}: {exc}"
        raise (type(exc) if isinstance(exc, DownloadError) else DownloadError)(
            f"installing {archive.name} failed: {what}. The archive was deleted; run again to download "
            "it afresh"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_split(path: Path) -> None:
    """A split file must parse as JSON with train, val and test lists; a bad one is deleted."""
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
        missing = [key for key in SPLIT_KEYS if not isinstance(split, dict) or key not in split]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        path.unlink(missing_ok=True)
        raise DownloadError(f"{path.name} is not readable JSON ({exc}); it was deleted, run again") from exc
    if missing:
        path.unlink(missing_ok=True)
        raise DownloadError(f"{path.name} lacks the keys {', '.join(missing)}; it was deleted, run again")


def download_natural(
    entry: DatasetEntry, root: str | os.PathLike[str], use_drive: bool = True, keep_archive: bool = False
) -> Path:
    """Make ``<root>/<dataset dir>`` hold the dataset in CoOp's layout; return that folder."""
    root = Path(root)
    target = root / entry.dataset_dir
    if (root / entry.split_file).is_file():
        raise DownloadError(
            f"{root} is itself the {entry.folder} dataset folder (it holds {entry.split_file}): point "
            f"DATA (--root) at its parent, {root.parent}"
        )
    if is_complete(root, entry):
        print(f"{entry.folder} is already complete in {target}; skipping.")
        return target
    target.mkdir(parents=True, exist_ok=True)
    downloads = root / ".downloads" / entry.dataset_dir
    todo: Sequence[Download] = [part for part in parts(entry) if not _present(target / part.member)]
    for part in tqdm(todo, desc=entry.folder, unit="part"):
        path = _obtain(part, downloads, use_drive)
        if part.is_archive:
            _install_archive(path, part, root, target)
            if not keep_archive:
                path.unlink(missing_ok=True)
        else:
            os.replace(path, target / part.member)
            if part.member == entry.split_file:
                _check_split(target / part.member)
    if not is_complete(root, entry):
        raise DownloadError(
            f"{target} lacks {entry.split_file} or a non-empty {entry.image_dir}/ after download"
        )
    print(f"{entry.folder} is ready in {target}.")
    return target
