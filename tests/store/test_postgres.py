"""The store on PostgreSQL: runs only when TRIAGE_TEST_PG_URL is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/triage_test``, with ``pip install "psycopg[binary]"``).

Each test works in a fresh schema of its own, dropped afterwards: the database itself is left as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from store import PostStore
from store.db import VERSION_TABLE, head_revision, make_engine, migrate
from store.models import Base
from tests.store.conftest import KEY, T0, triage_and_save
from triage.engine import Engine

PG_URL = os.environ.get("TRIAGE_TEST_PG_URL", "")
pytestmark = pytest.mark.skipif(not PG_URL, reason="TRIAGE_TEST_PG_URL is not set")


@pytest.fixture()
def pg_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    schema = f"triage_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_postgres_migration_matches_the_models(pg_url: str) -> None:
    assert migrate(pg_url) == head_revision()
    engine = make_engine(pg_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "version_table": VERSION_TABLE,
                "include_name": lambda name, type_, _p: type_ != "table" or name in Base.metadata.tables,
            })
            assert compare_metadata(context, Base.metadata) == []
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_postgres_round_trip(pg_url: str, engine: Engine) -> None:
    store = PostStore(pg_url, identity_key=KEY, redact=engine.redact)
    try:
        _, _, a = triage_and_save(store, engine, "order 4471902, call 052-3456789", post_id="a")
        _, _, b = triage_and_save(store, engine, "still waiting, 0523456789", post_id="b", channel="whatsapp",
                                  handle="x", when=T0 + timedelta(hours=1))
        assert a.customer_key == b.customer_key and store.get_post("a") == a
        assert store.get_post("a").created_at == T0  # type: ignore[union-attr]
        store.add_event("a", "replied", "agent", at=T0 + timedelta(minutes=30))
        assert store.last_brand_reply("a") is not None
        state = store.state_store()
        assert state.save("acme", {"x": 1}, 0) == 1 and state.save("acme", {"x": 2}, 0) is None
        assert state.save("acme", {"x": 2}, 1) == 2
        report = store.purge_customer(channel="facebook", handle="dana_k")
        assert (report.posts, report.events) == (2, 1) and store.get_post("b") is None
        assert store.audit_log()[-1].action == "purge_customer"
        with pytest.raises(DBAPIError, match="append-only"), store.session() as session:
            session.execute(text("DELETE FROM audit"))
    finally:
        store.close()
