"""Log lines are JSON with request ids, routes, labels and timings, and never personal data."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Callable, Sequence
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from serving.logging import JsonFormatter, log_config
from tests.serving.conftest import PII, PII_POST, engine_with
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine


class _Leaky(FakeClassifier):
    """A model whose error message quotes its input, as real libraries' errors sometimes do."""

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        raise ValueError(f"cannot score {texts!r}")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(r) for r in caplog.records]


def test_no_personal_data_in_logs(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    leaky = make_client(engine=engine_with(shared_engine, classifier=_Leaky(default_schema)))
    assert client.post("/v1/triage", json={"text": PII_POST, "id": "fb-77",
                                           "author": {"name": "דנה כהן"}}).status_code == 200
    assert client.post("/v1/triage/batch", json={"posts": [{"text": PII_POST},
                                                           {"text": "hello " + PII[1]}]}).status_code == 200
    assert client.post("/v1/feedback", json={"post_id": "fb-77", "head": "urgency", "label": "high", "text": PII_POST,
                                             "note": PII_POST}).status_code == 201
    assert client.post("/v1/triage", json={"text": PII_POST + "\u202e"}).status_code == 422
    assert client.post("/v1/triage", json={"text": PII_POST, "channel": "fax"}).status_code == 422
    assert client.post("/v1/triage", content=PII_POST.encode(), headers={
        "content-type": "application/json"}).status_code == 400
    assert leaky.post("/v1/triage", json={"text": PII_POST}).status_code == 503
    lines = _lines(caplog)
    text = "\n".join(lines) + caplog.text
    for secret in PII:
        assert secret not in text
    assert "דנה" not in text and "fb-77" not in text and "מחכה" not in text  # no text, author or post id at all
    access = [json.loads(line) for line in lines if json.loads(line)["logger"] == "triage.serving.access"]
    assert len(access) == 7
    first = access[0]
    assert first["route"] == "/v1/triage" and first["status"] == 200 and first["ms"] > 0 and len(first[
        "request_id"]) == 32
    assert first["labels"] == {"intent": "complaint", "sentiment": "negative", "urgency": "normal"}
    assert [a["status"] for a in access] == [200, 200, 201, 422, 422, 400, 503]
    assert [a.get("error_code") for a in access[3:]] == ["bidi_control", "unknown_channel", "malformed_json",
                                                         "inference_failed"]


def test_formatter_writes_one_json_object_with_extras() -> None:
    record = logging.LogRecord("triage.serving", logging.INFO, __file__, 1, "request %s", ("done",), None)
    record.request_id = "r1"
    record.labels = {"intent": "praise"}
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "request done" and out["level"] == "info" and out["request_id"] == "r1"
    assert out["labels"] == {"intent": "praise"} and out["ts"].endswith("+00:00")


def test_log_config_turns_uvicorn_access_log_off() -> None:
    config = log_config("debug")
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["root"]["level"] == "DEBUG"
    with mock.patch.object(logging, "root", logging.RootLogger(logging.WARNING)):
        logging.config.dictConfig({**config, "loggers": {}})  # valid for logging.config
