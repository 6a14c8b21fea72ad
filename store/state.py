"""The key-value state table as the crisis detector's ``StateStore`` (``triage.stream.store``).

One row per (namespace, key): a JSON document and a version. ``save`` is compare-and-set:
``UPDATE state SET value = ?, version = version + 1 WHERE namespace = ? AND key = ? AND version = ?``, or an
INSERT for version 0 that fails when another worker inserted first. Several server workers can share it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import StateRow
from triage.stream.store import Snapshot


class DbStateStore:
    """Versioned JSON documents per key in one namespace (default ``crisis``: one document per brand)."""

    def __init__(self, engine: SqlEngine, namespace: str = "crisis") -> None:
        self.engine = engine
        self.namespace = namespace

    def _row(self, session: Session, key: str) -> StateRow | None:
        return session.get(StateRow, (self.namespace, key))

    def version(self, brand: str) -> int:
        with Session(self.engine) as session:
            row = self._row(session, brand)
            return row.version if row is not None else 0

    def load(self, brand: str) -> Snapshot | None:
        with Session(self.engine) as session:
            row = self._row(session, brand)
            return Snapshot(row.version, json.loads(row.value)) if row is not None else None

    def save(self, brand: str, data: dict[str, Any], expected_version: int) -> int | None:
        """Write ``data`` if the stored version is still ``expected_version``: the new version, else None."""
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        now = datetime.now(UTC)
        try:
            with Session(self.engine) as session, session.begin():
                if expected_version == 0:
                    session.add(StateRow(namespace=self.namespace, key=brand, version=1, value=text, updated_at=now))
                    session.flush()
                    return 1
                done = cast(CursorResult[Any], session.execute(
                    update(StateRow)
                    .where(StateRow.namespace == self.namespace, StateRow.key == brand,
                           StateRow.version == expected_version)
                    .values(value=text, version=StateRow.version + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )).rowcount
                return expected_version + 1 if done == 1 else None
        except IntegrityError:
            return None  # another worker created it first

    def brands(self) -> list[str]:
        with Session(self.engine) as session:
            query = select(StateRow.key).where(StateRow.namespace == self.namespace).order_by(StateRow.key)
            return list(session.scalars(query))

    def size_bytes(self, brand: str) -> int:
        with Session(self.engine) as session:
            row = self._row(session, brand)
            return len(row.value.encode("utf-8")) if row is not None else 0

    def delete(self, brand: str) -> bool:
        with Session(self.engine) as session, session.begin():
            row = self._row(session, brand)
            if row is None:
                return False
            session.delete(row)
            return True
