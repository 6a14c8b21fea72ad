"""Agents' corrections, stored in a real database for the next ``triage train``.

The table and its store live in ``learning.feedback`` (the learning loop's package: exports, imports and
warm-start retraining read the same rows); this module keeps the names the service has always used.
SQLite by default; any SQLAlchemy URL by setting ``TRIAGE_DATABASE_URL`` (PostgreSQL:
``postgresql+psycopg://user:pass@host/db`` with ``pip install "psycopg[binary]"``).

The post's text, the agent's note and an edited reply are stored only after redaction by the engine's
entity stage (phones, emails, Israeli IDs and cards replaced by ``[PHONE]`` etc.): nothing that is
redacted in a result may sit in the database. ``export_feedback(url)`` returns the rows as plain dicts.
"""

from __future__ import annotations

from learning.feedback import (
    DECISION_FIELDS,
    FeedbackQuery,
    FeedbackRow,
    FeedbackStore,
    check_correction,
    check_head_label,
    export_feedback,
)

__all__ = [
    "DECISION_FIELDS",
    "FeedbackQuery",
    "FeedbackRow",
    "FeedbackStore",
    "check_correction",
    "check_head_label",
    "export_feedback",
]
