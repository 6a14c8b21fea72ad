"""Fuzzing the HTTP input path: whatever arrives, never a 500 and always the JSON error shape.

Hypothesis builds requests the OpenAPI document does not describe (schemathesis covers those it does):
random JSON and raw bytes as bodies, posts with wrong types, huge and non-finite numbers, dates out of
range, odd Unicode (lone surrogates, NUL, zero-width and bidi characters, combining marks, emoji ZWJ
sequences), broken or missing Content-Type and Content-Length, junk request ids and API keys. They go
straight to the ASGI app, so headers arrive exactly as generated. ``FUZZ_EXAMPLES`` (default 250, about
20 s) raises the count.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.app import create_app, text_limits
from serving.errors import ERROR_CODES
from serving.keys import make_entry
from serving.settings import ServeSettings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES, ROOT
from tests.serving.conftest import RecordingRouter
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import load_schema
from triage.types import CHANNELS

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
KEY, ENTRY = make_entry("ops", "*")


@dataclass
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class LiveApp:
    """The app with its lifespan started, on an event loop in a thread; ``call`` sends one raw request."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._stop: asyncio.Event | None = None
        ready: Future[None] = Future()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(ready), self.loop)
        ready.result(60)

    async def _hold(self, ready: Future[None]) -> None:
        self._stop = asyncio.Event()
        async with self.app.router.lifespan_context(self.app):
            ready.set_result(None)
            await self._stop.wait()

    def call(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Reply:
        return asyncio.run_coroutine_threadsafe(self._call(method, path, headers, body), self.loop).result(60)

    async def _call(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Reply:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
            "server": ("fuzz", 80), "client": ("fuzz", 1),
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.sleep(3600)  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(start["status"], dict(start.get("headers", [])), content)

    def close(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._held.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    db: Path = tmp_path_factory.mktemp("fuzz") / "feedback.db"
    serve = ServeSettings(api_keys=[ENTRY], database_url=f"sqlite:///{db}", warm_up=False, max_batch=8, max_chars=300)
    schema = load_schema(ROOT / "data" / "schemas" / "default.yaml")
    classifier = FakeClassifier(schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    engine = Engine(classifier, router=RecordingRouter(), limits=text_limits(serve))
    engine.warm_up()
    app = LiveApp(create_app(serve, engine=engine))
    yield app
    app.close()


# --- what clients send ------------------------------------------------------------------------------

ODD = [
    "\x00", "\u200b", "\u200c\u200d", "\ufeff", "\u200f", "\u202e", "\u2066", "\u0301", "\u05b7", "\ud800", "\udfff",
    "👩\u200d💻", "🇮🇱", "\U0010ffff", "\x7f", "\u2028", "ـ", "ﷺ", "Ⅻ", "İ", "ß", "\t", "\n", " ", "\\", '"',
]
odd_text = st.lists(st.sampled_from(ODD) | st.text(max_size=6), max_size=12).map("".join)
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True) | odd_text
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4), max_leaves=12
)
dates = st.sampled_from([
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2025-11-23T09:15:00+02:00", "2025-11-23T09:15:00",
    "2025-13-45T99:99:99Z", "1999-12-31T23:59:59Z", "2100-01-01T00:00:01Z", "", "now",
])
posts = st.fixed_dictionaries(
    {"text": odd_text | json_values},
    optional={
        "id": odd_text | json_values,
        "channel": st.sampled_from([*CHANNELS, "myspace", ""]) | json_values,
        "brand": st.sampled_from(["acme", "default", "globex", "initech", ""]) | json_values,
        "author": st.fixed_dictionaries({}, optional={"name": odd_text, "handle": json_values}) | json_values,
        "created_at": dates | json_values,
        "thread": st.lists(st.fixed_dictionaries({"text": odd_text}, optional={"role": odd_text}),
                           max_size=3) | json_values,
        "metadata": st.dictionaries(odd_text, scalars, max_size=5) | json_values,
        "extra": json_values,
    },
)
feedback = st.fixed_dictionaries(
    {"post_id": odd_text | json_values, "head": st.sampled_from(["intent", "urgency", "mood"]) | json_values,
     "label": st.sampled_from(["praise", "high", "nope"]) | json_values, "text": odd_text | json_values},
    optional={"note": odd_text | json_values, "model_version": odd_text | json_values},
)


def _encoded(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON text of ``values``, escaped to ASCII or raw UTF-8 (lone surrogates then become broken bytes)."""
    return st.tuples(values, st.booleans()).map(
        lambda v: json.dumps(v[0], ensure_ascii=v[1]).encode("utf-8", "surrogatepass")
    )


huge_ints = st.integers(min_value=18, max_value=6000).map(lambda n: b'{"text": "hi", "metadata": {"n": -' + b"7" * n
                                                          + b"}}")
deep = st.integers(min_value=30, max_value=3000).map(lambda n: b'{"text": "hi", "metadata": ' + b"[" * n + b"]" * n
                                                     + b"}")
bodies = st.one_of(
    _encoded(posts), _encoded(st.fixed_dictionaries({"posts": st.lists(posts, max_size=10)})),
    _encoded(feedback), _encoded(json_values), st.binary(max_size=300), huge_ints, deep,
    st.sampled_from([b"", b"{", b"[1, 2]", b"NaN", b'{"text": NaN}', b'{"text": "a", "text": 5}', b"\xef\xbb\xbf{}"]),
)
routes = st.sampled_from([
    ("POST", "/v1/triage"), ("POST", "/v1/triage"), ("POST", "/v1/triage/batch"), ("POST", "/v1/feedback"),
    ("GET", "/v1/model"), ("GET", "/readyz"), ("POST", "/v1/triage/"), ("GET", "/v1/triage"), ("PUT", "/v1/feedback"),
    ("POST", "/nowhere"),
])
header_bytes = st.binary(min_size=0, max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)
content_types = st.sampled_from([
    b"application/json", b"application/json; charset=utf-8", b"application/problem+json", b"text/plain", b"",
    b"APPLICATION/JSON", b"multipart/form-data; boundary=x",
]) | header_bytes
keys = st.sampled_from([KEY.encode(), b"trk_wrong", b""]) | header_bytes


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[bytes, bytes]], bytes]:
    method, path = draw(routes)
    body = draw(bodies) if method in ("POST", "PUT") else b""
    headers: list[tuple[bytes, bytes]] = [(b"host", b"fuzz")]
    if draw(st.booleans()):
        headers.append((b"content-type", draw(content_types)))
    length = draw(st.sampled_from(["right", "absent", "junk"]))
    if length == "right":
        headers.append((b"content-length", str(len(body)).encode()))
    elif length == "junk":
        headers.append((b"content-length", draw(st.sampled_from([b"abc", b"-1", b"1e3", b" 12", b"+5",
                                                                 b"1_0"]) | header_bytes)))
    auth = draw(st.sampled_from(["x-api-key", "bearer", "junk", "none"]))
    if auth == "x-api-key":
        headers.append((b"x-api-key", draw(keys)))
    elif auth == "bearer":
        headers.append((b"authorization", b"Bearer " + draw(keys)))
    elif auth == "junk":
        headers.append((b"authorization", draw(header_bytes)))
    if draw(st.booleans()):
        headers.append((b"x-request-id", draw(header_bytes)))
    return method, path, headers, body


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(request=requests())
def test_no_request_gets_a_500_or_leaves_the_error_shape(live: LiveApp, request: tuple) -> None:
    method, path, headers, body = request
    reply = live.call(method, path, headers, body)
    assert reply.status != 500, reply.body
    assert reply.headers[b"content-type"].startswith(b"application/json"), reply.headers
    data = json.loads(reply.body)
    if reply.status >= 400:
        assert set(data) == {"error", "request_id"}, data
        error = data["error"]
        assert {"code", "message", "field"} <= set(error) and error["message"], data
        assert ERROR_CODES[error["code"]][0] == reply.status, data
        assert data["request_id"] == reply.headers[b"x-request-id"].decode()
        assert "Traceback" not in error["message"]
    else:
        assert reply.status in (200, 201), data
