"""Tests of `attributes.generate` against a local server speaking the chat-completions format."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from attributes import check
from attributes.files import DATASETS, KINDS, check_attributes, read_attribute_file
from attributes.generate import (
    GenerationError,
    build_messages,
    make_client,
    parse_numbered_list,
)
from attributes.generate import main as generate_main
from datasets.atomic import write_json
from tests.conftest import local_http_server

BTMRI = DATASETS["btmri"].classnames
Reply = tuple[int, str, bytes]  # status, content type, body


def completion(content: str, model: str = "gpt-4.1") -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def json_reply(payload: object, status: int = 200) -> Reply:
    return status, "application/json", json.dumps(payload).encode()


def task_of(request: dict) -> str:
    """The task paragraph of a request's user message."""
    return request["messages"][-1]["content"].split("\n\n")[0]


def target_class(request: dict) -> str:
    """The class a request asks about: the one its task paragraph names most often."""
    task = task_of(request)
    return max(BTMRI, key=task.count)


def list_reply(request: dict, number: int) -> Reply:
    """Five sentences about the requested class, or, for a confuse request, about another class."""
    name = target_class(request)
    if "confusing negative" in task_of(request):
        name = next(other for other in BTMRI if other != name)
    lines = [f'{i}. "A brain MRI of {name} with visual cue {i} (call {number})."' for i in range(5)]
    return json_reply(completion("Here are the descriptions:\n\n" + "\n".join(lines)))


class FakeOpenAI:
    """Records requests; `respond(request, number)` decides each reply (number counts from 0)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.respond: Callable[[dict, int], Reply] = list_reply
        self.lock = threading.Lock()
        self.url = ""

    def classes_requested(self) -> list[str]:
        return [target_class(r) for r in self.requests]


def make_handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions":
                status, ctype, payload = json_reply({"error": {"message": "not found"}}, 404)
            else:
                with state.lock:
                    state.requests.append(body)
                    number = len(state.requests) - 1
                status, ctype, payload = state.respond(body, number)
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = FakeOpenAI()
    with local_http_server(make_handler(state)) as url:
        state.url = f"{url}/v1"
        yield state


def run(server: FakeOpenAI, set_dir: Path, *extra: str, kind: str = "des") -> int:
    argv = ["--dataset", "btmri", "--kind", kind, "--num", "3", "--set", str(set_dir)]
    argv += ["--base-url", server.url, "--base-delay", "0.001", *extra]
    return generate_main(argv)


def test_normal_run_writes_all_kinds(server: FakeOpenAI, tmp_path: Path) -> None:
    assert run(server, tmp_path / "gen", kind="all") == 0
    assert len(server.requests) == len(KINDS) * len(BTMRI)
    assert {r["model"] for r in server.requests} == {"gpt-4.1"}
    for kind in KINDS:
        path = tmp_path / "gen" / f"btmri_{kind}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        assert list(data) == list(BTMRI)
        assert all(len(v) == 3 for v in data.values())
        assert check_attributes(data, BTMRI, dataset="btmri", kind=kind, file=path, min_count=3) == []
    assert data["glioma tumor"][0] == "A brain MRI of meningioma tumor with visual cue 0 (call 8)."
    argv = ["--set", str(tmp_path / "gen"), "--dataset", "btmri", "--min-count", "confuse=3"]
    assert check.main(argv) == 0


def test_rate_limit_then_success(server: FakeOpenAI, tmp_path: Path) -> None:
    def respond(request: dict, number: int) -> Reply:
        if number == 0:
            return json_reply({"error": {"message": "slow down", "type": "rate_limit"}}, 429)
        return list_reply(request, number)

    server.respond = respond
    assert run(server, tmp_path) == 0
    assert server.classes_requested() == ["glioma tumor", *BTMRI]
    assert len(read_attribute_file(tmp_path / "btmri_des.json")["glioma tumor"]) == 3


def test_timeout_is_retried(server: FakeOpenAI, tmp_path: Path) -> None:
    def respond(request: dict, number: int) -> Reply:
        if number == 0:
            time.sleep(1.0)
        return list_reply(request, number)

    server.respond = respond
    assert run(server, tmp_path, "--timeout", "0.3") == 0
    assert len(server.requests) == len(BTMRI) + 1


@pytest.mark.parametrize(
    "reply",
    [
        (200, "application/json", b"this is not json"),
        (200, "text/plain", b"this is not json either"),
        json_reply({"id": "x", "object": "chat.completion", "choices": []}),
    ],
    ids=["bad-json", "plain-text", "no-choices"],
)
def test_malformed_reply_is_retried_then_fails(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str], reply: Reply
) -> None:
    server.respond = lambda request, number: reply
    assert run(server, tmp_path, "--max-attempts", "3") == 1
    assert len(server.requests) == 3
    assert "no usable reply after 3 attempt(s)" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_client_error_is_not_retried(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.respond = lambda request, number: json_reply({"error": {"message": "bad key"}}, 401)
    assert run(server, tmp_path) == 1
    assert len(server.requests) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_interrupted_run_resumes(server: FakeOpenAI, tmp_path: Path) -> None:
    def failing(request: dict, number: int) -> Reply:
        if target_class(request) != "glioma tumor":
            return json_reply({"error": {"message": "server down"}}, 500)
        return list_reply(request, number)

    server.respond = failing
    assert run(server, tmp_path, "--max-attempts", "2") == 1
    assert server.classes_requested() == ["glioma tumor", "meningioma tumor", "meningioma tumor"]
    path = tmp_path / "btmri_des.json"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    first = read_attribute_file(path)
    assert list(first) == ["glioma tumor"] and len(first["glioma tumor"]) == 3

    server.requests.clear()
    server.respond = list_reply
    assert run(server, tmp_path) == 0
    assert server.classes_requested() == list(BTMRI[1:])
    data = read_attribute_file(path)
    assert data["glioma tumor"] == first["glioma tumor"]
    assert all(len(data[name]) == 3 for name in BTMRI)

    server.requests.clear()
    assert run(server, tmp_path) == 0
    assert server.requests == []


def test_short_reply_asks_again_then_warns(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def poor(request: dict, number: int) -> Reply:
        name = target_class(request)
        good = f"A brain MRI of {name} with one well described cue."
        return json_reply(completion(f"1. {good}\n2. {good}\n3. tiny\n4. {'long ' * 80}"))

    server.respond = poor
    assert run(server, tmp_path, "--max-rounds", "2") == 0
    assert len(server.requests) == 2 * len(BTMRI)
    second = server.requests[1]["messages"][-1]["content"]
    assert "exactly 2 items" in second and "one well described cue" in second
    data = read_attribute_file(tmp_path / "btmri_des.json")
    assert all(len(data[name]) == 1 for name in BTMRI)
    assert "only 1 of 3" in capsys.readouterr().err


def test_missing_api_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(GenerationError, match="OPENAI_API_KEY"):
        make_client(None, 1.0)
    argv = [
        "--dataset",
        "btmri",
        "--set",
        str(tmp_path / "gen"),
        "--base-url",
        "http://127.0.0.1:9",
    ]
    assert generate_main(argv) == 1
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "gen").exists()


def test_parse_numbered_list() -> None:
    text = (
        "Sure! Here are the descriptions:\n\n"
        "1. First item here.\n"
        "2) **Second** item here.\n"
        '  - "Third item, quoted".\n'
        "* Fourth item\n\n"
        "(5) Fifth item\n"
    )
    assert parse_numbered_list(text) == [
        "First item here.",
        "Second item here.",
        "Third item, quoted.",
        "Fourth item",
        "Fifth item",
    ]
    assert parse_numbered_list("Descriptions:\nplain line one\nplain line two") == [
        "plain line one",
        "plain line two",
    ]


def test_confuse_request_carries_query_other_classes_and_modality(server: FakeOpenAI, tmp_path: Path) -> None:
    def respond(request: dict, number: int) -> Reply:
        others = [name for name in BTMRI if name != target_class(request)]
        lines = [
            f"1. A brain MRI of {target_class(request)} that looks like {others[0]}.",
            *(f"{i}. A brain MRI of {name} with its own visual cue {i}." for i, name in enumerate(others, 2)),
        ]
        return json_reply(completion("\n".join(lines)))

    server.respond = respond
    assert run(server, tmp_path, kind="confuse") == 0
    assert server.classes_requested() == list(BTMRI)
    for classname, request in zip(BTMRI, server.requests, strict=True):
        task = task_of(request)
        query = f"Generate the most visually confusing negative descriptions for class {classname}."
        assert task.startswith(query)
        others = [name for name in BTMRI if name != classname]
        assert f"brain MRI images; the dataset's other classes are: {', '.join(others)}." in task
    data = read_attribute_file(tmp_path / "btmri_confuse.json")
    for classname in BTMRI:  # the look-alike sentence naming the class itself is dropped
        others = [name for name in BTMRI if name != classname]
        assert data[classname] == [
            f"A brain MRI of {name} with its own visual cue {i}." for i, name in enumerate(others, 2)
        ]


def test_build_messages() -> None:
    confuse = build_messages("btmri", "glioma tumor", "confuse", 7)[-1]["content"]
    assert "exactly 7 items" in confuse
    dist = build_messages("btmri", "normal brain", "dist", 3, avoid=["Old sentence."])[-1]
    assert "glioma tumor" in dist["content"] and "- Old sentence." in dist["content"]
    des = build_messages("btmri", "normal brain", "des", 3)[-1]["content"]
    assert "visual appearance of a brain MRI image of normal brain" in des


def test_write_json_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "btmri_des.json"
    write_json(path, {"glioma tumor": ["kept sentence of enough length"]})

    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("datasets.atomic.json.dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_json(path, {"x": []})
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert read_attribute_file(path) == {"glioma tumor": ["kept sentence of enough length"]}
