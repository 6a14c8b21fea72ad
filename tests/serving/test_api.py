"""Every endpoint and every error of the API, through TestClient with the fake classifier."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.errors import ERROR_CODES
from serving.schemas import ENGLISH_CHURN, HEBREW_COMPLAINT
from serving.settings import ServeSettings
from tests.serving.conftest import RecordingRouter, assert_error, engine_with
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.errors import ModelNotInstalledError
from triage.text.validate import TextLimits
from triage.types import TriageResult

JSON = {"content-type": "application/json"}


def test_hebrew_post_gets_a_full_decision(client: TestClient) -> None:
    r = client.post("/v1/triage", json={"text": HEBREW_COMPLAINT, "id": "fb-1", "channel": "facebook"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["post_id"] == "fb-1"
    assert body["language"]["language"] == "he"
    assert body["labels"] == {"intent": "complaint", "sentiment": "negative", "urgency": "normal"}
    assert set(body["heads"]) == {"intent", "sentiment", "urgency"}
    assert abs(sum(body["heads"]["intent"]["probabilities"].values()) - 1.0) < 1e-3
    assert [(e["type"], e["text"]) for e in body["entities"]] == [("order_id", "4471902"), ("phone", "052-3456789")]
    assert body["redacted_text"].endswith("תחזרו אליי [PHONE]")
    assert body["model_version"] == "fake-0" and body["schema_name"] == "default"
    assert r.headers["x-request-id"]


def test_english_post(client: TestClient) -> None:
    r = client.post("/v1/triage", json={"text": ENGLISH_CHURN, "channel": "twitter"})
    assert r.status_code == 200
    assert r.json()["labels"] == {"intent": "churn_risk", "sentiment": "negative", "urgency": "high"}
    assert r.json()["language"]["language"] == "en"


def test_rlm_marks_are_fine(client: TestClient) -> None:
    r = client.post("/v1/triage", json={"text": "\u200fשלום, ההזמנה 4471902 לא הגיעה\u200e"})
    assert r.status_code == 200, r.text


def test_batch_keeps_order_and_equals_single_calls(client: TestClient) -> None:
    texts = [HEBREW_COMPLAINT, "תודה לנציגה שרית, שירות מדהים!", ENGLISH_CHURN, "How do I reset my router?"]
    r = client.post("/v1/triage/batch", json={"posts": [{"text": t, "id": str(i)} for i, t in enumerate(texts)]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["post_id"] for x in results] == ["0", "1", "2", "3"]
    for text, result in zip(texts, results, strict=True):
        single = client.post("/v1/triage", json={"text": text}).json()
        assert single["labels"] == result["labels"]
        assert single["redacted_text"] == result["redacted_text"]


def test_batch_limits_and_field_paths(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_batch=3)
    posts = [{"text": f"post {i}"} for i in range(4)]
    assert_error(client.post("/v1/triage/batch", json={"posts": posts}), 422, "batch_too_large", "posts")
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "ok"}, {"text": "  "}]})
    assert_error(r, 422, "empty_text", "posts[1].text")
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "ok"}, {"text": "x", "channel": "myspace"}]})
    assert_error(r, 422, "unknown_channel", "posts[1].channel")
    assert_error(client.post("/v1/triage/batch", json={"posts": []}), 422, "invalid_request", "posts")
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "ok", "thread": [{"text": "a\u202eb"}]}]})
    assert_error(r, 422, "bidi_control", "posts[0].thread[0].text")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "field"),
    [
        (b'{"text": "\xd7\xa9\xff"}', "application/json", 400, "invalid_utf8", "body"),
        (b'{"text": ', "application/json", 400, "malformed_json", None),
        (b"{'text': 'hi'}", "application/json", 400, "malformed_json", None),
        (b'{"text": "hi"}', "text/plain", 415, "unsupported_media_type", None),
        (b'{"text": "hi"}', "application/x-www-form-urlencoded", 415, "unsupported_media_type", None),
        (b'{"text": "\\ud800 hi"}', "application/json", 400, "invalid_utf8", "text"),
        (b'{"text": "hi", "author": {"name": "\\udfff"}}', "application/json", 400, "invalid_utf8", "author.name"),
        (b'{"text": "hi", "\\ud83d": 1}', "application/json", 400, "invalid_utf8", None),
        (b'{"text": "hi", "metadata": {"\\ud83d": 1}}', "application/json", 400, "invalid_utf8", "metadata"),
        ('{"text": "שלום \u202eםלוע"}'.encode(), "application/json", 422, "bidi_control", "text"),
        ('{"text": "hi \u2066x\u2069"}'.encode(), "application/json", 422, "bidi_control", "text"),
        (b'{"text": "   \\n "}', "application/json", 422, "empty_text", "text"),
        (b'{"text": ""}', "application/json", 422, "empty_text", "text"),
        (b'{"text": "hi", "channel": "myspace"}', "application/json", 422, "unknown_channel", "channel"),
        (b'{"txt": "hi"}', "application/json", 422, "missing_field", "text"),
        (b'{"text": "hi", "mood": 1}', "application/json", 422, "unknown_field", "mood"),
        (b'{"text": 5}', "application/json", 422, "invalid_request", "text"),
        (b"[1, 2]", "application/json", 422, "invalid_request", None),
        (b"", "application/json", 422, "missing_field", None),
        (b'{"text": "hi", "created_at": "yesterday"}', "application/json", 422, "invalid_request", "created_at"),
    ],
)
def test_input_errors(
    client: TestClient, body: bytes, content_type: str, status: int, code: str, field: str | None
) -> None:
    r = client.post("/v1/triage", content=body, headers={"content-type": content_type})
    assert_error(r, status, code, field)
    assert ERROR_CODES[code][0] == status  # the documented table agrees


def test_text_too_long(make_client: Callable[..., TestClient], shared_engine: Engine) -> None:
    short = engine_with(shared_engine, limits=TextLimits(max_chars=20, reject_bidi_overrides=True))
    client = make_client(engine=short, max_chars=20)
    assert_error(client.post("/v1/triage", json={"text": "א" * 21}), 422, "text_too_long", "text")
    assert client.post("/v1/triage", json={"text": "א" * 20}).status_code == 200


def test_body_too_large_by_content_length_and_by_stream(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2048)
    big = json.dumps({"text": "x" * 3000}).encode()
    assert_error(client.post("/v1/triage", content=big, headers=JSON), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for i in range(0, len(big), 500):
            yield big[i : i + 500]

    assert_error(client.post("/v1/triage", content=chunks(), headers=JSON), 413, "body_too_large")
    ok = json.dumps({"text": "x" * 1000}).encode()
    assert client.post("/v1/triage", content=iter([ok[:10], ok[10:]]), headers=JSON).status_code == 200


def test_bad_content_length_is_a_clear_400(client: TestClient) -> None:
    import asyncio

    app = client.app
    sent: list[dict] = []

    async def call() -> None:
        scope = {
            "type": "http", "method": "POST", "path": "/v1/triage", "raw_path": b"/v1/triage", "root_path": "",
            "query_string": b"", "headers": [(b"content-type", b"application/json"), (b"content-length", b"ten")],
            "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
        }

        async def receive() -> dict:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)  # type: ignore[arg-type]

    asyncio.run(call())
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"]["code"] == "invalid_content_length"


def test_not_found_and_method_not_allowed(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    r = client.get("/v1/triage")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"


def test_request_id_is_echoed_when_sane(client: TestClient) -> None:
    r = client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/healthz", headers={"x-request-id": "bad id with spaces and 052-3456789"})
    assert r.headers["x-request-id"] != "bad id with spaces and 052-3456789" and len(r.headers["x-request-id"]) == 32
    body = assert_error(client.post("/v1/triage", json={"text": ""}, headers={"x-request-id": "rid-7"}), 422,
                        "empty_text", "text")
    assert body["request_id"] == "rid-7"


def test_unknown_brand_when_the_engine_routes(make_client: Callable[..., TestClient], shared_engine: Engine) -> None:
    router = RecordingRouter()
    client = make_client(engine=engine_with(shared_engine, router=router))
    r = client.post("/v1/triage", json={"text": "hello", "brand": "acme"})
    assert r.status_code == 200 and r.json()["routing"]["brand"] == "acme"
    assert_error(client.post("/v1/triage", json={"text": "hello", "brand": "initech"}), 422, "unknown_brand", "brand")
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "a"}, {"text": "b", "brand": "initech"}]})
    assert_error(r, 422, "unknown_brand", "posts[1].brand")
    assert router.seen == ["acme"]


def test_engine_brand_errors_map_to_422(make_client: Callable[..., TestClient], shared_engine: Engine) -> None:
    from triage.errors import ConfigError

    class StrictRouter(RecordingRouter):
        def route(self, context, classification, now):  # type: ignore[no-untyped-def]
            raise ConfigError(f"no policy for brand {context.post.brand!r}", code="unknown_brand")

    client = make_client(engine=engine_with(shared_engine, router=StrictRouter()))
    assert_error(client.post("/v1/triage", json={"text": "hi", "brand": "acme"}), 422, "unknown_brand")


class _Failing(FakeClassifier):
    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        raise RuntimeError(f"onnxruntime exploded on {texts[0]!r}")


class _Slow(FakeClassifier):
    delay = 0.6

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        time.sleep(self.delay)
        return super().predict(texts)


def test_model_failure_is_503_and_never_a_guess(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema
) -> None:
    client = make_client(engine=engine_with(shared_engine, classifier=_Failing(default_schema)))
    r = client.post("/v1/triage", json={"text": "Charged twice 052-3456789"})
    body = assert_error(r, 503, "inference_failed")
    assert "labels" not in r.text and "052-3456789" not in r.text and "exploded" not in r.text
    assert body["error"]["message"].startswith("the model failed")
    assert_error(client.post("/v1/triage/batch", json={"posts": [{"text": "a"}]}), 503, "inference_failed")


def test_timeout_is_504_and_the_server_recovers(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema
) -> None:
    client = make_client(engine=engine_with(shared_engine, classifier=_Slow(default_schema)), request_timeout_s=0.2)
    start = time.perf_counter()
    assert_error(client.post("/v1/triage", json={"text": "slow"}), 504, "timeout")
    assert time.perf_counter() - start < 0.55  # answered at the timeout, not when the model finished
    time.sleep(0.5)
    _Slow.delay = 0.0
    try:
        assert client.post("/v1/triage", json={"text": "fast now"}).status_code == 200
    finally:
        _Slow.delay = 0.6


def test_unexpected_error_is_a_bare_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise KeyError("secret 052-3456789")

    monkeypatch.setattr("serving.routes.triage.note_results", boom)
    r = client.post("/v1/triage", json={"text": "hi"})
    assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and "052-3456789" not in r.text and "KeyError" not in r.text


def test_model_unavailable_before_start(make_settings: Callable[..., ServeSettings], shared_engine: Engine) -> None:
    app = create_app(make_settings(), engine=shared_engine)
    client = TestClient(app)  # not entered: the lifespan has not run, nothing is loaded
    assert_error(client.get("/readyz"), 503, "model_unavailable")
    assert_error(client.post("/v1/triage", json={"text": "hi"}), 503, "model_unavailable")
    assert client.get("/healthz").json() == {"status": "ok"}


def test_start_up_fails_clearly_without_a_model(
    make_settings: Callable[..., ServeSettings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(model_dir=tmp_path / "no-model"))  # production path: load the model
    with pytest.raises(ModelNotInstalledError, match="no model is installed"), TestClient(app):
        pass
    assert any(r.getMessage().startswith("start-up failed") for r in caplog.records)


def test_health_readiness_and_model_info(client: TestClient, tmp_path: Path, shared_engine: Engine) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model_version": "fake-0"}
    info = client.get("/v1/model").json()
    assert info["model_version"] == "fake-0" and info["schema_name"] == "default"
    assert [h["name"] for h in info["schema"]["heads"]] == ["intent", "sentiment", "urgency"]
    assert info["limits"] == {"max_batch": 32, "max_chars": 5000, "max_body_bytes": 1048576, "request_timeout_s": 10.0}
    assert info["brands"] is None and info["metrics"] is None and info["microbatch"] is True


def test_model_info_summarises_metrics_json(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema, tmp_path: Path
) -> None:
    from triage.artifact import metrics_summary

    classifier = FakeClassifier(default_schema)
    (tmp_path / "metrics.json").write_text(
        json.dumps({"macro_f1": 0.81, "intent": {"macro_f1": 0.77, "confusion": [[1, 2]]}, "rows": [1, 2]})
    )
    classifier.info = classifier.info.model_copy(update={"metrics": metrics_summary(tmp_path)})
    client = make_client(engine=engine_with(shared_engine, classifier=classifier, router=RecordingRouter()))
    info = client.get("/v1/model").json()
    assert info["metrics"] == {"macro_f1": 0.81, "intent": {"macro_f1": 0.77}}
    assert info["brands"] == ["acme", "default", "globex"]


def test_openapi_documents_examples_errors_and_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/v1/triage", "/v1/triage/batch", "/v1/feedback", "/v1/model", "/healthz", "/readyz",
                                  "/metrics"}
    op = spec["paths"]["/v1/triage"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    assert any("\u05d0" <= c <= "\u05ea" for c in json.dumps(examples, ensure_ascii=False))  # Hebrew
    assert "english_churn" in examples
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TriageResult")
    for status in ("400", "413", "415", "422", "503", "504"):
        assert op["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "securitySchemes" not in spec.get("components", {})  # no keys configured: no auth declared
    fb = spec["paths"]["/v1/feedback"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert {"hebrew_urgency", "english_intent"} <= set(fb)


def test_deeply_nested_json_is_a_clear_400(client: TestClient) -> None:
    body = b'{"text": "hi", "metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert_error(client.post("/v1/triage", content=body, headers=JSON), 400, "malformed_json")


def test_a_body_that_never_arrives_is_408(make_settings: Callable[..., ServeSettings], shared_engine: Engine) -> None:
    import asyncio

    app = create_app(make_settings(request_timeout_s=0.2), engine=shared_engine)
    sent: list[dict] = []

    async def call() -> None:
        scope = {
            "type": "http", "method": "POST", "path": "/v1/triage", "raw_path": b"/v1/triage", "root_path": "",
            "query_string": b"", "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
            "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
        }
        chunks = [{"type": "http.request", "body": b'{"text": ', "more_body": True}]

        async def receive() -> dict:
            if chunks:
                return chunks.pop()
            await asyncio.sleep(10)  # a slow client: the rest never comes
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await asyncio.wait_for(app(scope, receive, send), 3)  # type: ignore[arg-type]

    asyncio.run(call())
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "body_timeout"


def test_the_documented_result_example_is_what_the_engine_returns(client: TestClient) -> None:
    from serving.schemas import RESULT_EXAMPLE

    TriageResult.model_validate(RESULT_EXAMPLE)  # a valid result...
    body = client.post("/v1/triage", json={"text": HEBREW_COMPLAINT, "id": "fb-10001"}).json()
    for key in ("entities", "redacted_text", "normalised_text", "language"):  # ...with the engine's own parts
        assert body[key] == RESULT_EXAMPLE[key], key


# --- Regressions from the serving issue (defects 1 and 4) -----------------------------------------


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_created_at_outside_2000_2100_is_422_with_its_field(client: TestClient, created_at: str) -> None:
    # Year 1 at +14:00 and year 9999 at -12:00 overflowed the SLA arithmetic in the worker: a 500 that,
    # micro-batched, failed the other clients' requests too.
    body = assert_error(client.post("/v1/triage", json={"text": "hi", "created_at": created_at}), 422,
                        "invalid_request", "created_at")
    assert "2000" in body["error"]["message"]
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "ok"}, {"text": "hi", "created_at": created_at}]})
    assert_error(r, 422, "invalid_request", "posts[1].created_at")


def test_a_5000_digit_integer_in_metadata_is_422_with_its_field(client: TestClient) -> None:
    # Python refuses to convert integers over 4,300 digits: json.loads raised ValueError, a bare 500.
    huge = b'{"text": "hi", "metadata": {"vip": ' + b"9" * 5000 + b"}}"
    body = assert_error(client.post("/v1/triage", content=huge, headers=JSON), 422, "invalid_request", "metadata.vip")
    assert "5000 digits" in body["error"]["message"] and "9999" not in body["error"]["message"]
    r = client.post("/v1/triage", json={"text": "hi", "metadata": {"vip": 10**30}})  # converts, but out of range
    assert_error(r, 422, "invalid_request", "metadata")
    batch = b'{"posts": [{"text": "a"}, {"text": "b", "metadata": {"n": -' + b"1" * 200 + b"}}]}"
    assert_error(client.post("/v1/triage/batch", content=batch, headers=JSON), 422, "invalid_request",
                 "posts[1].metadata.n")


@pytest.mark.parametrize("text", ["\u200b\u200b", "\x00", "\x00\u200b\ufeff \u200c", "\u200d\u2060"])
def test_text_of_only_zero_width_or_nul_characters_is_empty(client: TestClient, text: str) -> None:
    assert_error(client.post("/v1/triage", json={"text": text}), 422, "empty_text", "text")
    r = client.post("/v1/triage", json={"text": "hi", "thread": [{"text": text}]})
    assert_error(r, 422, "empty_text", "thread[0].text")
    r = client.post("/v1/feedback", json={"post_id": "p", "head": "intent", "label": "praise", "text": text})
    assert_error(r, 422, "empty_text", "text")


@pytest.mark.parametrize("path", ["/v1/triage/", "/v1/triage/batch/", "/v1/feedback/", "/v1/model/", "/readyz/"])
def test_a_trailing_slash_is_a_json_404_never_a_redirect(client: TestClient, path: str) -> None:
    method = client.post if path.startswith(("/v1/triage", "/v1/feedback")) else client.get
    kwargs = {"json": {"text": "hi"}} if method == client.post else {}
    r = method(path, follow_redirects=False, **kwargs)
    body = assert_error(r, 404, "not_found")
    assert path.rstrip("/") in body["error"]["message"] and "location" not in r.headers
