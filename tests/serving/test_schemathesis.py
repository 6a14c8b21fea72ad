"""Property-based checks of the whole API against its own OpenAPI document (schemathesis, bounded).

Every operation gets up to ``SCHEMATHESIS_EXAMPLES`` (default 25) generated requests, valid and invalid,
sent with an API key; responses must match the documented status codes, media types and schemas, and
invalid requests must be refused. About 20 s in CI; raise the variable to search harder locally.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from serving.app import create_app, text_limits
from serving.keys import make_entry
from serving.settings import ServeSettings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES, ROOT
from tests.serving.conftest import RecordingRouter
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import load_schema

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
KEY, ENTRY = make_entry("ops", "*")
_TMP = tempfile.TemporaryDirectory(prefix="triage-schemathesis-")


def _app() -> FastAPI:
    schema = load_schema(ROOT / "data" / "schemas" / "default.yaml")
    db = Path(_TMP.name) / "feedback.db"
    settings = ServeSettings(api_keys=[ENTRY], database_url=f"sqlite:///{db}", warm_up=False, max_batch=8,
                             store_url=f"sqlite:///{Path(_TMP.name) / 'store.db'}")  # /v1/events, posts, incidents
    classifier = FakeClassifier(schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    engine = Engine(classifier, router=RecordingRouter(), limits=text_limits(settings))
    engine.warm_up()
    return create_app(settings, engine=engine)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan; stop it and its threads
    _TMP.cleanup()


# Data valid by the schema may still be refused on purpose (empty or bidi text, unknown labels and
# brands, more than TRIAGE_MAX_BATCH posts), so "valid data must be accepted" does not hold here.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


# derandomize: the same examples on every run, so CI is reproducible. At random seeds schemathesis 4.32.5 now and
# then reports a false "schema-violating request accepted" on GET /v1/incidents: it mutates the nullable `brand`
# query into an object, which goes on the wire as a plain string (`?brand=how_n`), and adds a malformed
# Authorization header beside the valid X-API-Key (the API takes either). Raise SCHEMATHESIS_EXAMPLES to search
# harder locally and read such reports with that in mind.
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"X-API-Key": KEY}, excluded_checks=EXCLUDED)
