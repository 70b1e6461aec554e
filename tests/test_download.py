"""Tests for datasets.download against archives served from a local HTTP server."""

from __future__ import annotations

import json
import re
import socket
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from datasets import download
from datasets.download import (
    ARCHIVES,
    DownloadError,
    UnsafeArchiveError,
    download_dataset,
    expand_names,
    find_archive,
    is_complete,
    main,
    safe_extract,
)
from tests.conftest import local_http_server

NAME = "BTMRI"


def _png() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def make_zip(
    path: Path,
    name: str = NAME,
    top_folder: bool = True,
    split: object | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write a dataset zip in the published layout (split file + 3 PNGs)."""
    prefix = f"{name}/" if top_folder else ""
    images = [f"{name}/class{i}/img{i}.png" for i in range(3)]
    if split is None:
        split = {
            "train": [[images[0], 0, "class0"]],
            "val": [[images[1], 1, "class1"]],
            "test": [[images[2], 2, "class2"]],
        }
    with zipfile.ZipFile(path, "w") as zf:
        if top_folder:
            zf.writestr(prefix, b"")
        zf.writestr(f"{prefix}split_{name}.json", json.dumps(split))
        for image in images:
            zf.writestr(prefix + image, _png())
        for member, data in (extra or {}).items():
            zf.writestr(member, data)
    return path


class Server:
    """Files served over HTTP, with a request log and optional truncated replies."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        self.base_url = ""


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            key = self.path.lstrip("/")
            body = state.files.get(key)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if key in state.truncated else body)

        def log_message(self, *args: object) -> None:
            pass

    with local_http_server(Handler) as url:
        state.base_url = url
        yield state


@pytest.fixture
def closed_url() -> str:
    """Base URL of a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def serve(server: Server, tmp_path: Path, **kwargs: object) -> None:
    server.files[f"{NAME}.zip"] = make_zip(tmp_path / "src.zip", **kwargs).read_bytes()


def leftovers(root: Path) -> list[Path]:
    """Partial downloads and extraction folders left under root."""
    return [*root.glob(".downloads/*.part*"), *root.glob(".*.extracting")]


@pytest.mark.parametrize("top_folder", [True, False])
def test_download_extracts_layout_and_removes_zip(server: Server, tmp_path: Path, top_folder: bool) -> None:
    serve(server, tmp_path, top_folder=top_folder)
    root = tmp_path / "data"

    target = download_dataset("btmri", root, base_url=server.base_url, use_drive=False)

    assert target == root / NAME
    split = json.loads((target / f"split_{NAME}.json").read_text())
    assert set(split) == {"train", "val", "test"}
    assert sorted(p.name for p in (target / NAME).rglob("*.png")) == [
        "img0.png",
        "img1.png",
        "img2.png",
    ]
    assert is_complete(root, "btmri")
    assert not (root / ".downloads" / f"{NAME}.zip").exists()
    assert leftovers(root) == []


def test_keep_archive(server: Server, tmp_path: Path) -> None:
    serve(server, tmp_path)
    root = tmp_path / "data"
    download_dataset(NAME, root, base_url=server.base_url, use_drive=False, keep_archive=True)
    assert zipfile.is_zipfile(root / ".downloads" / f"{NAME}.zip")


def test_second_call_makes_no_request(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(server, tmp_path)
    root = tmp_path / "data"
    download_dataset(NAME, root, base_url=server.base_url, use_drive=False)
    assert len(server.requests) == 1
    capsys.readouterr()

    download_dataset(NAME, root, base_url=server.base_url, use_drive=False)

    assert len(server.requests) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "already complete" in out


def test_interrupted_transfer_leaves_nothing_then_retry_works(server: Server, tmp_path: Path) -> None:
    serve(server, tmp_path)
    server.truncated.add(f"{NAME}.zip")
    root = tmp_path / "data"

    with pytest.raises(DownloadError, match="stopped after"):
        download_dataset(NAME, root, base_url=server.base_url, use_drive=False)
    assert not (root / NAME).exists()
    assert not (root / ".downloads" / f"{NAME}.zip").exists()
    assert leftovers(root) == []

    server.truncated.clear()
    download_dataset(NAME, root, base_url=server.base_url, use_drive=False)
    assert is_complete(root, NAME)


def test_stale_partials_from_a_crash_are_redone(server: Server, tmp_path: Path) -> None:
    serve(server, tmp_path)
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / f"{NAME}.zip.part").write_bytes(b"half")
    (root / ".downloads" / f"{NAME}.zip.partabcd1234.part").write_bytes(b"gdown half")
    (root / f".{NAME}.extracting" / NAME).mkdir(parents=True)
    (root / f".{NAME}.extracting" / NAME / "junk.png").write_bytes(b"junk")

    download_dataset(NAME, root, base_url=server.base_url, use_drive=False)

    assert is_complete(root, NAME)
    assert leftovers(root) == []
    assert not (root / NAME / NAME / "junk.png").exists()


def test_complete_zip_from_earlier_run_is_reused(tmp_path: Path, closed_url: str) -> None:
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    make_zip(root / ".downloads" / f"{NAME}.zip")

    download_dataset(NAME, root, base_url=closed_url, use_drive=False)

    assert is_complete(root, NAME)


@pytest.mark.parametrize("bad_member", ["../evil.txt", "ABSOLUTE", "link"])
def test_unsafe_members_are_refused(server: Server, tmp_path: Path, bad_member: str) -> None:
    outside = tmp_path / "evil.txt"
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr(f"{NAME}/split_{NAME}.json", "{}")
        if bad_member == "link":
            info = zipfile.ZipInfo(f"{NAME}/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, str(outside))
        else:
            zf.writestr(str(outside) if bad_member == "ABSOLUTE" else bad_member, b"pwned")
    member = zipfile.ZipFile(zip_path).infolist()[-1].filename
    target = tmp_path / "target"

    with pytest.raises(UnsafeArchiveError, match=re.escape(member)):
        safe_extract(zip_path, target)
    assert not target.exists()

    server.files[f"{NAME}.zip"] = zip_path.read_bytes()
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError):
        download_dataset(NAME, root, base_url=server.base_url, use_drive=False)
    assert not outside.exists()
    assert not (root / "evil.txt").exists()
    assert not (root / NAME).exists()
    assert leftovers(root) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": {"train": [], "test": []}}, "val"),
        ({"name": "OTHER"}, f"split_{NAME}.json"),
    ],
)
def test_bad_layout_is_reported(
    server: Server, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    serve(server, tmp_path, **kwargs)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=message):
        download_dataset(NAME, root, base_url=server.base_url, use_drive=False)
    assert not (root / NAME).exists()


def test_offline_prints_one_line_and_exits_2(
    tmp_path: Path, closed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"

    code = main(["btmri", "--root", str(root), "--base-url", closed_url, "--no-drive"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"cannot download {NAME}: no internet connection (")
    assert "Traceback" not in err
    archive = ARCHIVES[NAME]
    assert f"Download {NAME}.zip by hand from {archive.drive_url} or {archive.mirror_url()}" in err
    assert err.rstrip().endswith(f"so that {root / NAME / f'split_{NAME}.json'} exists.")
    assert not (root / NAME).exists()


def test_drive_is_tried_first(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gdown = pytest.importorskip("gdown")
    zip_bytes = make_zip(tmp_path / "src.zip").read_bytes()
    calls: list[str] = []

    def fake_download(*, id: str, output: str, quiet: bool) -> str:
        calls.append(id)
        Path(output).write_bytes(zip_bytes)
        return output

    monkeypatch.setattr(gdown, "download", fake_download)
    root = tmp_path / "data"
    download_dataset(NAME, root, base_url=server.base_url)

    assert calls == [ARCHIVES[NAME].drive_id]
    assert server.requests == []
    assert is_complete(root, NAME)


def test_drive_html_page_falls_back_to_mirror(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gdown = pytest.importorskip("gdown")

    def quota_page(*, id: str, output: str, quiet: bool) -> str:
        Path(output).write_text("<html>Quota exceeded</html>")
        return output

    monkeypatch.setattr(gdown, "download", quota_page)
    serve(server, tmp_path)
    root = tmp_path / "data"
    download_dataset(NAME, root, base_url=server.base_url)

    assert server.requests == [f"/{NAME}.zip"]
    assert is_complete(root, NAME)


def test_drive_and_mirror_unreachable_is_offline(
    tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gdown = pytest.importorskip("gdown")
    requests = pytest.importorskip("requests")

    def no_network(*, id: str, output: str, quiet: bool) -> str:
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(gdown, "download", no_network)
    with pytest.raises(download.OfflineError, match="no internet connection"):
        download_dataset(NAME, tmp_path / "data", base_url=closed_url)


def test_missing_file_on_mirror_is_not_offline(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([NAME, "--root", str(tmp_path), "--base-url", server.base_url, "--no-drive"])
    assert code == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_env_var_sets_mirror(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(server, tmp_path)
    monkeypatch.setenv(download.MIRROR_ENV, server.base_url)
    assert main([NAME, "--root", str(tmp_path / "data"), "--no-drive"]) == 0
    assert server.requests == [f"/{NAME}.zip"]


BIOMEDICAL = [
    "BTMRI", "BUSI", "CHMNIST", "COVID_19", "CTKidney", "DermaMNIST",
    "KneeXray", "Kvasir", "LungColon", "OCTMNIST", "RETINA",
]  # fmt: skip
NATURAL = ["UCF101", "Caltech101", "Food101", "DescribableTextures", "EuroSAT", "OxfordPets", "OxfordFlowers"]


def test_all_expands_to_every_dataset_and_a_domain_to_its_own() -> None:
    names = [archive.name for archive in expand_names(["all"])]
    assert names == BIOMEDICAL + NATURAL
    assert names == list(ARCHIVES)
    assert [archive.name for archive in expand_names(["biomedical"])] == BIOMEDICAL
    assert [archive.name for archive in expand_names(["natural", "dtd"])] == NATURAL


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("BTMRI", "BTMRI"),
        ("btmri", "BTMRI"),
        ("covid", "COVID_19"),
        ("COVID_19", "COVID_19"),
        ("covid_19", "COVID_19"),
        ("DermaMNIST", "DermaMNIST"),
        ("dermamnist", "DermaMNIST"),
        ("LUNGCOLON", "LungColon"),
        ("retina", "RETINA"),
    ],
)
def test_name_spellings(spelling: str, name: str) -> None:
    assert find_archive(spelling).name == name


def test_config_names() -> None:
    assert [a.config_name for a in ARCHIVES.values()] == [
        "btmri", "busi", "chmnist", "covid", "ctkidney", "dermamnist",
        "kneexray", "kvasir", "lungcolon", "octmnist", "retina",
        "ucf101", "caltech101", "food101", "dtd", "eurosat", "oxford_pets", "oxford_flowers",
    ]  # fmt: skip


def test_duplicates_and_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert [a.name for a in expand_names(["busi", "BUSI", "all"])][:2] == ["BUSI", "BTMRI"]
    with pytest.raises(ValueError, match="valid names: BTMRI \\(btmri\\)"):
        find_archive("mnist")
    assert main(["mnist"]) == 2
    assert "unknown dataset 'mnist'" in capsys.readouterr().err


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match="did you mean 'btmri'"):
        find_archive("btmir")


def test_zip_bomb_is_refused_and_discarded(tmp_path: Path, closed_url: str) -> None:
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    bomb = make_zip(root / ".downloads" / f"{NAME}.zip")
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{NAME}/{NAME}/zeros.bin", bytes(20 << 20))
    with pytest.raises(DownloadError, match="claims to unpack") as caught:
        download_dataset(NAME, root, base_url=closed_url, use_drive=False)
    assert str(bomb) in str(caught.value)
    assert not bomb.exists()
    assert leftovers(root) == []


def test_too_little_free_space_is_refused_and_the_archive_kept(
    tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    archive = make_zip(root / ".downloads" / f"{NAME}.zip")
    monkeypatch.setattr(download.shutil, "disk_usage", lambda _: download.shutil._ntuple_diskusage(1, 1, 10))
    with pytest.raises(download.InsufficientSpaceError, match="not enough free space"):
        download_dataset(NAME, root, base_url=closed_url, use_drive=False)
    assert archive.exists()
    assert not (root / NAME).exists()


def test_any_extraction_failure_discards_the_archive(
    tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    archive = make_zip(root / ".downloads" / f"{NAME}.zip")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "extract", broken)
    with pytest.raises(DownloadError, match=f"{re.escape(str(archive))} failed: OSError"):
        download_dataset(NAME, root, base_url=closed_url, use_drive=False)
    assert not archive.exists()
    assert leftovers(root) == []


def test_root_one_level_too_deep_says_point_at_the_parent(tmp_path: Path, closed_url: str) -> None:
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    make_zip(root / ".downloads" / f"{NAME}.zip")
    download_dataset(NAME, root, base_url=closed_url, use_drive=False)
    with pytest.raises(
        DownloadError, match=f"point DATA \\(--root\\) at its parent, {re.escape(str(root))}$"
    ):
        download_dataset(NAME, root / NAME, base_url=closed_url, use_drive=False)
