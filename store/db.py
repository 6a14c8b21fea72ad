"""Database URL, engine and schema migrations (Alembic, driven from Python: no alembic.ini needed).

SQLite by default (``sqlite:///./triage-store.db``); PostgreSQL with
``TRIAGE_STORE_URL=postgresql+psycopg://user:password@host:5432/triage`` and ``pip install "psycopg[binary]"``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from triage.errors import ConfigError

STORE_URL_ENV = "TRIAGE_STORE_URL"
DEFAULT_URL = "sqlite:///./triage-store.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "store_alembic_version"  # its own name, so the store can share a database with other tools


def store_url(url: str | None = None) -> str:
    """``url``, else ``TRIAGE_STORE_URL``, else the SQLite file ``./triage-store.db``."""
    return url or os.environ.get(STORE_URL_ENV, "").strip() or DEFAULT_URL


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers do not block the writer; busy_timeout: concurrent writers wait instead of failing;
    # foreign_keys: events and identity rows go with their post.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | None = None) -> SqlEngine:
    """An engine for ``url`` (see ``store_url``); ConfigError for a malformed URL or a missing driver."""
    url = store_url(url)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"not an SQLAlchemy URL ({exc}); e.g. {DEFAULT_URL}", code="invalid_store_url") from None
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"no database driver for {safe_url(url)} ({exc}); for PostgreSQL: pip install \"psycopg[binary]\"",
            code="missing_driver",
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: SqlEngine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def migrate(url: str | SqlEngine | None = None, revision: str = "head") -> str | None:
    """Upgrade the store's schema to ``revision`` (default: the newest) and return the revision reached.

    Safe to call from several workers at once: a worker that loses the race to create a table waits and
    finds the schema already upgraded.
    """
    engine = url if isinstance(url, SqlEngine) else make_engine(url)
    try:
        for attempt in range(4):
            try:
                with engine.begin() as connection:
                    config = alembic_config()
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                break
            except DBAPIError:
                if revision == "head" and current_revision(engine) == head_revision():
                    break  # another worker upgraded it meanwhile
                if attempt == 3:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return current_revision(engine)
    finally:
        if not isinstance(url, SqlEngine):
            engine.dispose()
