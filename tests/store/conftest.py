"""Fixtures: one fake-classifier engine per session, a fresh SQLite store per test, a fixed identity key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store import PostStore
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.fake import FakeClassifier
from triage.context import IdentityKey
from triage.engine import Engine
from triage.schema import LabelSchema
from triage.types import Author, Post, RoutingDecision, TriageResult

KEY = IdentityKey.from_text("test-identity-key-not-a-real-secret")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def engine(default_schema: LabelSchema) -> Engine:
    return Engine(FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK))


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture()
def store(db_path: Path, engine: Engine) -> Iterator[PostStore]:
    s = PostStore(f"sqlite:///{db_path}", identity_key=KEY, redact=engine.redact)
    yield s
    s.close()


def routed(result: TriageResult, brand: str = "acme", **changes: Any) -> TriageResult:
    """``result`` with a routing decision (the tests do not depend on the brand policies)."""
    decision = RoutingDecision(
        brand=brand, queue=changes.pop("queue", "care"), priority=changes.pop("priority", "P2"), rule="r1",
        first_response_due=T0, sla_minutes=60, around_the_clock=False, reply_mode="private",
        actions=changes.pop("actions", ["reply"]), needs_human=changes.pop("needs_human", True),
        reasons=changes.pop("reasons", ["rule 'r1' matched"]),
    )
    return result.model_copy(update={"routing": decision, **changes})


def make_post(text: str, *, post_id: str | None = None, channel: str = "facebook", handle: str | None = "dana_k",
              when: datetime = T0, brand: str = "acme", **metadata: Any) -> Post:
    author = Author(name="Dana Katz", first_name="Dana", handle=handle) if handle else None
    return Post(text=text, id=post_id, channel=channel, brand=brand, author=author, created_at=when,
                metadata=metadata)


def triage_and_save(store: PostStore, engine: Engine, text: str, **kw: Any):
    post = make_post(text, **kw)
    result = routed(engine.triage(post), brand=post.brand or "acme")
    return post, result, store.save_result(post, result)
