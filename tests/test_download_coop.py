"""datasets.download for the natural-image datasets: CoOp's layout assembled from local stand-ins of the
publishers' files and of CoOp's split file on Google Drive."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from datasets import download_coop
from datasets.catalog import CATALOG, Download
from datasets.download import DownloadError, UnsafeArchiveError, download_dataset
from datasets.layout import load_items
from tests.conftest import local_http_server

SPLIT = {
    "train": [["Abyssinian_1.jpg", 0, "abyssinian"], ["beagle_1.jpg", 1, "beagle"]],
    "val": [["Abyssinian_2.jpg", 0, "abyssinian"], ["beagle_2.jpg", 1, "beagle"]],
    "test": [["Abyssinian_3.jpg", 0, "abyssinian"], ["beagle_3.jpg", 1, "beagle"]],
}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PETS_IMAGES = tar_gz({f"images/{p}": b"jpeg" for items in SPLIT.values() for p, _, _ in items})
PETS_ANNOTATIONS = tar_gz({"annotations/trainval.txt": b"Abyssinian_1 1 1 1\n"})


class Files:
    """What the stand-in servers hold, and what was asked of them."""

    def __init__(self) -> None:
        self.http: dict[str, bytes] = {}
        self.drive: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.base_url = ""


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> Iterator[Files]:
    state = Files()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.http.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    def fake_drive(drive_id: str, part: Path) -> None:
        state.requests.append(f"drive:{drive_id}")
        if drive_id not in state.drive:
            raise DownloadError(f"Google Drive: no file {drive_id}")
        part.write_bytes(state.drive[drive_id])

    monkeypatch.setattr(download_coop, "_fetch_drive_id", fake_drive)
    with local_http_server(Handler) as url:
        state.base_url = url
        yield state


def pets(files: Files):
    """Oxford Pets with its two archives served locally and CoOp's split on the stand-in Drive."""
    entry = CATALOG["oxford_pets"]
    files.http.update({"images.tar.gz": PETS_IMAGES, "annotations.tar.gz": PETS_ANNOTATIONS})
    files.drive[entry.drive_id] = json.dumps(SPLIT).encode()
    downloads = (
        Download("images.tar.gz", "images", url=f"{files.base_url}/images.tar.gz"),
        Download("annotations.tar.gz", "annotations", url=f"{files.base_url}/annotations.tar.gz"),
    )
    return replace(entry, downloads=downloads)


def test_the_layout_is_assembled_and_a_second_call_downloads_nothing(files, tmp_path, capsys):
    entry = pets(files)
    root = tmp_path / "data"
    target = download_coop.download_natural(entry, root)
    assert target == root / "oxford_pets"
    assert sorted(p.name for p in target.iterdir()) == ["annotations", "images", "split_zhou_OxfordPets.json"]
    assert (target / "annotations" / "trainval.txt").is_file()
    assert not list((root / ".downloads").rglob("*.part")) and not list(root.glob(".*.extracting"))
    items = load_items(str(root), "OxfordPets")
    assert [item.impath for item in items["test"]] == [
        str(target / "images" / p) for p, _, _ in SPLIT["test"]
    ]
    asked = list(files.requests)
    assert asked == ["/images.tar.gz", "/annotations.tar.gz", f"drive:{entry.drive_id}"]
    download_coop.download_natural(entry, root)
    assert files.requests == asked  # nothing asked again
    assert "already complete" in capsys.readouterr().out


def test_after_a_failure_only_the_missing_parts_are_fetched(files, tmp_path):
    entry = pets(files)
    del files.http["annotations.tar.gz"]
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=r"annotations\.tar\.gz.*HTTP 404.*by hand from http"):
        download_coop.download_natural(entry, root)
    assert (root / "oxford_pets" / "images").is_dir()
    files.http["annotations.tar.gz"] = PETS_ANNOTATIONS
    files.requests.clear()
    download_coop.download_natural(entry, root)
    assert files.requests == ["/annotations.tar.gz", f"drive:{entry.drive_id}"]


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/absolute.txt"])
def test_an_archive_whose_member_leaves_the_folder_is_refused_and_deleted(files, tmp_path, member):
    entry = pets(files)
    files.http["images.tar.gz"] = tar_gz({"images/a.jpg": b"x", member: b"evil"})
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="refusing tar member"):
        download_coop.download_natural(entry, root)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (root / ".downloads" / "oxford_pets" / "images.tar.gz").exists()  # fetched afresh next time


def test_a_tar_holding_a_link_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("images/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
    path = tmp_path / "links.tar.gz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeArchiveError, match="link or special file"):
        download_coop.safe_extract_tar(path, tmp_path / "out")


def test_caltechs_inner_archive_is_unpacked(files, tmp_path):
    entry = CATALOG["caltech101"]
    inner = tar_gz({"101_ObjectCategories/Faces/image_0001.jpg": b"jpeg"})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("caltech-101/101_ObjectCategories.tar.gz", inner)
        archive.writestr("caltech-101/show_annotation.m", b"%")
    files.http["caltech-101.zip"] = buffer.getvalue()
    split = {key: [["Faces/image_0001.jpg", 0, "face"]] for key in ("train", "val", "test")}
    files.drive[entry.drive_id] = json.dumps(split).encode()
    (part,) = entry.downloads
    entry = replace(entry, downloads=(replace(part, url=f"{files.base_url}/caltech-101.zip"),))
    target = download_coop.download_natural(entry, tmp_path)
    assert (target / "101_ObjectCategories" / "Faces" / "image_0001.jpg").is_file()
    assert load_items(str(tmp_path), "Caltech101")["train"][0].classname == "face"


def test_a_split_file_that_is_not_json_is_deleted_with_a_clear_error(files, tmp_path):
    entry = pets(files)
    files.drive[entry.drive_id] = b"<html>quota exceeded</html>"
    with pytest.raises(DownloadError, match=r"split_zhou_OxfordPets\.json is not readable JSON.*run again"):
        download_coop.download_natural(entry, tmp_path)
    assert not (tmp_path / "oxford_pets" / "split_zhou_OxfordPets.json").exists()


def test_the_download_command_dispatches_a_natural_name_and_refuses_the_dataset_folder_as_root(tmp_path):
    folder = tmp_path / "oxford_pets"
    folder.mkdir()
    (folder / "split_zhou_OxfordPets.json").write_text("{}")
    with pytest.raises(DownloadError, match=r"point DATA \(--root\) at its parent"):
        download_dataset("oxford_pets", folder)
