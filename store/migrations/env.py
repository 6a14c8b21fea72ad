"""Alembic environment of the post store. ``store.db.migrate`` passes an open connection in
``config.attributes["connection"]``; the ``alembic`` command line may instead set ``sqlalchemy.url``."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from store.db import VERSION_TABLE, make_engine
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    # The store may share a database with other tools (the feedback table): only its own tables count.
    return type_ != "table" or name in target_metadata.tables


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                          version_table=VERSION_TABLE, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _configure(connection)
    finally:
        engine.dispose()


run()
