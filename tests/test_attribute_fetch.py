"""`python -m attributes.fetch`: published attribute sets, fetched from a local stand-in of the repository."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from attributes.fetch import main as fetch_main
from tests.conftest import local_http_server

# The authors' files use their own names: covid_19 for COVID_19, underscores in class names.
COVID = {
    "covid_lungs": ["Bilateral peripheral ground-glass opacities.", "short one"],
    "lung_opacity_lungs": ["A patchy consolidation in one lower zone."],
    "viral_pneumonia_lungs": ["Diffuse bilateral interstitial markings."],
    "normal_lungs": ["Clear lung fields with sharp costophrenic angles."],
}
KINDS = ("des", "dist", "confuse")


def serve(files: dict[str, bytes], requested: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            if self.path not in files:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[self.path])))
            self.end_headers()
            self.wfile.write(files[self.path])

        def log_message(self, *args) -> None:
            pass

    return Handler


def fetch(files: dict[str, bytes], root: Path) -> tuple[int, list[str]]:
    requested: list[str] = []
    with local_http_server(serve(files, requested)) as url:
        code = fetch_main(["published", "--root", str(root), "--base-url", url, "--dataset", "covid"])
    return code, requested


def test_a_published_set_is_saved_under_the_project_names_and_checked(tmp_path: Path, capsys):
    files = {f"/attributes/gpt3/gpt3/covid_19_{kind}.json": json.dumps(COVID).encode() for kind in KINDS}
    code, requested = fetch(files, tmp_path)
    assert code == 0
    assert requested == list(files)
    folder = tmp_path / "published"
    assert sorted(p.name for p in folder.iterdir()) == [f"covid_{kind}.json" for kind in sorted(KINDS)]
    assert json.loads((folder / "covid_dist.json").read_text()) == COVID
    out = capsys.readouterr().out
    assert "'short one'" in out  # reported as a problem of the published file, not fatal
    assert f"TRAINER.BIOMEDVR.ATTRIBUTE_SET {folder}" in out


def test_a_reply_that_is_not_json_names_the_url(tmp_path: Path, capsys):
    files = {f"/attributes/gpt3/gpt3/covid_19_{kind}.json": json.dumps(COVID).encode() for kind in KINDS}
    files["/attributes/gpt3/gpt3/covid_19_dist.json"] = b"<html>rate limited</html>"
    code, _ = fetch(files, tmp_path)
    assert code == 1
    assert "covid_19_dist.json is not JSON" in capsys.readouterr().err


def test_an_unreachable_repository_is_one_clear_error(tmp_path: Path, capsys):
    argv = ["published", "--root", str(tmp_path), "--base-url", "http://127.0.0.1:9", "--dataset", "busi"]
    assert fetch_main(argv) == 1
    err = capsys.readouterr().err
    assert "http://127.0.0.1:9/attributes/gpt3/gpt3/busi_des.json" in err and "--base-url" in err
