"""The Alembic migrations build exactly the schema the models describe; upgrades are idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store.db import VERSION_TABLE, alembic_config, current_revision, head_revision, make_engine, migrate
from store.models import Base


def _schema(url: str) -> dict[str, Any]:
    """Tables, columns (name, type, nullability, primary key), indexes, uniques, foreign keys, checks, triggers."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        out: dict[str, Any] = {}
        for table in sorted(t for t in inspector.get_table_names() if t in Base.metadata.tables):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "uniques": sorted((u["name"], tuple(u["column_names"]))
                                  for u in inspector.get_unique_constraints(table)),
                "fks": sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                               (f.get("options") or {}).get("ondelete")) for f in inspector.get_foreign_keys(table)),
                "checks": sorted(c["sqltext"] for c in inspector.get_check_constraints(table)),
            }
        with engine.connect() as connection:
            out["triggers"] = sorted(r[0] for r in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return out
    finally:
        engine.dispose()


def test_the_migration_and_the_models_give_the_same_schema(tmp_path: Path) -> None:
    migrated, created = f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'created.db'}"
    assert migrate(migrated) == head_revision()
    engine = make_engine(created)
    Base.metadata.create_all(engine)
    engine.dispose()
    assert _schema(migrated) == _schema(created)
    assert _schema(migrated)["triggers"] == ["audit_no_delete", "audit_no_update"]
    # And Alembic's own comparison (what `alembic revision --autogenerate` would emit) finds nothing.
    engine = make_engine(migrated)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "version_table": VERSION_TABLE,
            "include_name": lambda name, type_, _p: type_ != "table" or name in Base.metadata.tables,
        })
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_migrate_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert migrate(url) == migrate(url) == head_revision()


def test_downgrade_to_nothing_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert [t for t in inspect(engine).get_table_names() if t in Base.metadata.tables] == []
    engine.dispose()
    assert migrate(url) == head_revision()


def test_the_store_shares_a_database_with_other_tables(tmp_path: Path) -> None:
    """The feedback table (serving) may live in the same file: migrations leave foreign tables alone."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE feedback (id INTEGER PRIMARY KEY)")
    migrate(url)
    assert "feedback" in inspect(engine).get_table_names()
    engine.dispose()
