"""The post store: every triaged post (redacted), helpdesk events, identity links, audit log, detector state.

A shell around the core (like ``serving``): it imports ``triage`` and SQLAlchemy/Alembic; the core never
imports it. SQLite by default, PostgreSQL by URL (``TRIAGE_STORE_URL``), schema by Alembic migrations
(``store.migrate(url)``). See docs/STORE.md.

>>> from store import PostStore
>>> store = PostStore()                       # TRIAGE_STORE_URL, TRIAGE_IDENTITY_KEY
>>> store.save_result(post, engine.triage(post))
"""

from store.db import DEFAULT_URL, STORE_URL_ENV, make_engine, migrate, store_url
from store.poststore import PostStore
from store.provider import StoreContextProvider
from store.records import AuditEntry, PurgeReport, RetentionReport, StoredEvent, StoredPost
from store.state import DbStateStore

__all__ = [
    "DEFAULT_URL",
    "STORE_URL_ENV",
    "AuditEntry",
    "DbStateStore",
    "PostStore",
    "PurgeReport",
    "RetentionReport",
    "StoreContextProvider",
    "StoredEvent",
    "StoredPost",
    "make_engine",
    "migrate",
    "store_url",
]
