"""The post store: every triaged post (redacted), helpdesk events, identity links, audit log, detector state.

A shell around the core (like ``serving``): it imports ``triage`` and SQLAlchemy/Alembic; the core never
imports it. SQLite by default, PostgreSQL by URL (``TRIAGE_STORE_URL``), schema by Alembic migrations
(``store.migrate(url)``). See docs/STORE.md.

>>> from store import PostStore
>>> store = PostStore()                       # TRIAGE_STORE_URL, TRIAGE_IDENTITY_KEY
>>> store.save_result(post, engine.triage(post))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are loaded on first use: registering `triage store` (every `triage` command does) must not import
# SQLAlchemy, which the base install does not have.
if TYPE_CHECKING:
    from store.db import DEFAULT_URL, STORE_URL_ENV, make_engine, migrate, store_url
    from store.poststore import PostStore
    from store.provider import StoreContextProvider
    from store.records import AuditEntry, PurgeReport, RetentionReport, StoredEvent, StoredPost
    from store.state import DbStateStore

_WHERE = {
    "DEFAULT_URL": "store.db", "STORE_URL_ENV": "store.db", "make_engine": "store.db", "migrate": "store.db",
    "store_url": "store.db", "PostStore": "store.poststore", "StoreContextProvider": "store.provider",
    "AuditEntry": "store.records", "PurgeReport": "store.records", "RetentionReport": "store.records",
    "StoredEvent": "store.records", "StoredPost": "store.records", "DbStateStore": "store.state",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
