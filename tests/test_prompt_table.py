"""BiomedCoOp's prompt table: parsed as data (never run), fetched from a local server, loaded per class."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from attributes.fetch import BIOMEDCOOP_FILE, main
from attributes.files import AttributeSetError, load_attributes
from attributes.prompt_table import load_prompt_ensembles, parse_prompt_table
from tests.conftest import local_http_server

TABLE = {
    "glioma tumor": ["An irregular intra-axial mass with surrounding edema.", "A heterogeneous mass."],
    "normal brain": ["Symmetric hemispheres with normal ventricles.", "No mass or edema."],
}
SOURCE = f'''"""Prompt templates."""
import os
CUSTOM_TEMPLATES = {{"BTMRI": "a photo of a {{}}."}}
os.environ["PROMPT_TABLE_WAS_EXECUTED"] = "1"
BIOMEDCOOP_TEMPLATES = {json.dumps(TABLE, indent=4)}
'''


def test_the_table_is_parsed_without_running_the_file(monkeypatch):
    monkeypatch.delenv("PROMPT_TABLE_WAS_EXECUTED", raising=False)
    assert parse_prompt_table(SOURCE) == TABLE
    import os

    assert "PROMPT_TABLE_WAS_EXECUTED" not in os.environ


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("BIOMEDCOOP_TEMPLATES = dict(a=['x'])", "not a plain literal"),
        ("OTHER = {'a': ['x']}", "no assignment to BIOMEDCOOP_TEMPLATES"),
        ("BIOMEDCOOP_TEMPLATES = {'a': 'one sentence'}", "list of sentences"),
        ("BIOMEDCOOP_TEMPLATES = {", "not valid Python"),
    ],
)
def test_bad_tables_are_refused_with_the_reason(source, message):
    with pytest.raises(AttributeSetError, match=message):
        parse_prompt_table(source)


def serve(body: bytes | None, requested: list[str] | None = None) -> type[BaseHTTPRequestHandler]:
    """A handler that serves ``body`` at /repo/<BiomedCoOp's file> (404 elsewhere), noting each path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if requested is not None:
                requested.append(self.path)
            if body is None or self.path != f"/repo/{BIOMEDCOOP_FILE}":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


def test_fetch_converts_the_published_file_to_json(tmp_path, capsys):
    requested: list[str] = []
    out = tmp_path / "prompts.json"
    with local_http_server(serve(SOURCE.encode(), requested)) as url:
        assert main(["biomedcoop", "--base-url", f"{url}/repo/", "--out", str(out)]) == 0
    assert requested == [f"/repo/{BIOMEDCOOP_FILE}"]
    assert json.loads(out.read_text()) == TABLE
    assert "2 classes, 2 to 2 sentences each" in capsys.readouterr().out


def test_fetch_failure_names_the_url_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "prompts.json"
    with local_http_server(serve(None)) as url:
        assert main(["biomedcoop", "--base-url", url, "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert f"{url}/{BIOMEDCOOP_FILE}: HTTP 404" in error and "PROMPTS curated" in error
    assert not out.exists()


def test_ensembles_from_a_json_table_match_class_names(tmp_path):
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"Glioma_Tumor": TABLE["glioma tumor"], **TABLE}))
    ensembles = load_prompt_ensembles(str(path), "BTMRI", ["glioma tumor", "normal brain"])
    assert ensembles == TABLE
    with pytest.raises(AttributeSetError, match="no sentences for 'pituitary tumor'"):
        load_prompt_ensembles(str(path), "BTMRI", ["glioma tumor", "pituitary tumor"])


def test_curated_ensembles_are_our_descriptive_attributes():
    classes = ["glioma tumor", "meningioma tumor", "normal brain", "pituitary tumor"]
    assert load_prompt_ensembles("curated", "BTMRI", classes) == load_attributes(
        "curated", "BTMRI", "des", classes
    )


def test_unknown_sources_say_what_is_accepted(tmp_path):
    with pytest.raises(AttributeSetError, match="'curated', 'biomedcoop' or the path"):
        load_prompt_ensembles(str(tmp_path / "missing.json"), "BTMRI", ["normal brain"])
