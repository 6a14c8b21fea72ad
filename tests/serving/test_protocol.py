"""Malformed HTTP on a real socket: uvicorn's h11 protocol answers with the API's JSON errors.

These requests never reach the application, so TestClient cannot send them; a real uvicorn serves the
app (around the fake engine) in a thread, with the protocol ``triage serve`` configures.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from serving.app import create_app
from serving.protocol import MAX_HEAD_BYTES, JsonErrorH11Protocol
from serving.settings import ServeSettings
from triage.engine import Engine


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@pytest.fixture()
def live_port(make_settings: Callable[..., ServeSettings], shared_engine: Engine) -> Iterator[int]:
    app = create_app(make_settings(), engine=shared_engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False,
        http=JsonErrorH11Protocol, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, raw: bytes, chunk: int = 0) -> Reply:
    """Send ``raw`` (in ``chunk``-byte writes when set), read until the server closes, parse the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if chunk:
            for i in range(0, len(raw), chunk):
                sock.sendall(raw[i : i + chunk])
        else:
            sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            part = sock.recv(65536)  # a reset raises ConnectionResetError here
            if not part:
                break
            data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(int(lines[0].split()[1]), headers, body)


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + len(sep) + int(line.split(b":", 1)[1])
    return len(data) + 1


def _assert_json_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"error", "request_id"} and body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == reply.headers["x-request-id"]


def test_content_length_that_is_not_a_number_is_the_json_400(live_port: int) -> None:
    raw = b"POST /v1/triage HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}"
    _assert_json_error(_exchange(live_port, raw), 400, "invalid_content_length")


@pytest.mark.parametrize("chunk", [0, 4096])
def test_a_200_kb_header_is_a_json_431_not_a_reset(live_port: int, chunk: int) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    _assert_json_error(_exchange(live_port, raw, chunk), 431, "headers_too_large")


def test_a_malformed_request_line_is_the_json_400(live_port: int) -> None:
    _assert_json_error(_exchange(live_port, b"GARBAGE\r\n\r\n"), 400, "bad_request")


def test_well_formed_requests_still_work_with_keep_alive(live_port: int) -> None:
    body = json.dumps({"text": "How do I reset my router?"}).encode()
    request = (
        b"POST /v1/triage HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    with socket.create_connection(("127.0.0.1", live_port), timeout=10) as sock:
        for _ in range(2):  # twice on one connection
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 ")
    reply = _exchange(live_port,
                      b"POST /v1/triage/ HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    _assert_json_error(reply, 404, "not_found")
