"""Fixtures for the service: apps built around an injected Engine with the FakeClassifier.

One warmed-up engine is shared by the whole session (spaCy tokenizers and the language detector load
once); each test gets its own app, settings, metrics registry and SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.keys import make_entry
from serving.settings import ServeSettings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import LabelSchema
from triage.text.validate import TextLimits
from triage.types import Classification, PostContext, RoutingDecision

# Personal data that must never reach logs, metrics or the feedback database.
PHONE = "052-3456789"
EMAIL = "dana.cohen@example.co.il"
IL_ID = "123456782"  # valid check digit
CARD = "4580 4580 4580 4580"
PII = (PHONE, EMAIL, IL_ID, CARD, "0523456789", "4580458045804580")
PII_POST = f"שבועיים מחכה לחבילה ואף אחד לא עונה, תחזרו אליי {PHONE} או {EMAIL}, ת״ז {IL_ID}, כרטיס {CARD}"


class RecordingRouter:
    """A stand-in router that knows two brands and records the brand each post was routed for."""

    brands = ("acme", "default", "globex")
    default_brand: str | None = "default"

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision:
        post = context.post
        self.seen.append(post.brand)
        return RoutingDecision(
            brand=post.brand or "default", queue="care", priority="P3", rule="default", first_response_due=now,
            sla_minutes=60, around_the_clock=False, reply_mode="public", actions=["reply"], needs_human=False,
            reasons=["test router"],
        )


# The limits the service checks texts with under the default settings (serving.app.text_limits); an
# injected engine must be built with the limits of the settings it serves.
API_LIMITS = TextLimits(reject_bidi_overrides=True)


@pytest.fixture(scope="session")
def shared_engine(default_schema: LabelSchema) -> Engine:
    engine = Engine(FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK), limits=API_LIMITS)
    engine.warm_up()
    return engine


def engine_with(engine: Engine, **parts: Any) -> Engine:
    """A new Engine sharing the warmed-up stages (and the limits) of ``engine``, with some parts replaced."""
    kwargs: dict[str, Any] = {
        "classifier": engine.classifier, "language_identifier": engine.language_identifier,
        "entity_extractor": engine.entity_extractor, "limits": engine.limits,
    }
    kwargs.update(parts)
    classifier = kwargs.pop("classifier")
    return Engine(classifier, **kwargs)


@pytest.fixture()
def make_settings(tmp_path: Path) -> Callable[..., ServeSettings]:
    def build(**overrides: Any) -> ServeSettings:
        values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path / 'feedback.db'}", "warm_up": False}
        values.update(overrides)
        return ServeSettings(**values)

    return build


@pytest.fixture()
def make_client(
    make_settings: Callable[..., ServeSettings], shared_engine: Engine
) -> Iterator[Callable[..., TestClient]]:
    """``make_client(engine=None, **settings)`` -> a started TestClient (lifespan run), closed after the test."""
    clients: list[TestClient] = []

    def build(engine: Engine | None = None, **overrides: Any) -> TestClient:
        app: FastAPI = create_app(make_settings(**overrides), engine=engine or shared_engine)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture()
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def acme_key() -> tuple[str, str]:
    """(key, entry) for tenant acme, scoped to brand acme."""
    return make_entry("acme")


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is the API's error shape with this status, code and field; no stack trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["field"] == field, body
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body
