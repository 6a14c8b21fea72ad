"""Structured JSON log lines, one object per line, without personal data.

Request lines carry the request id, route, method, status, milliseconds, tenant, labels and error codes.
They never carry a post's text, its author, its id or the body: serving code passes only those fields as
``extra``, and unexpected exceptions are logged by type and stack frames without their message (a
message may quote the input). Uvicorn's own access log is off (it would log client addresses); the
server's request lines replace it.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}
# uvicorn adds a coloured copy of its messages.
_DROP = frozenset({"color_message"})


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: ts, level, logger, msg, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in _DROP and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # Outside requests (start-up failures) the message is what an operator needs: keep it.
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, ensure_ascii=False, default=str)


def stack_without_message(exc: BaseException) -> str:
    """Where an exception came from, without its message (which may quote request content)."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def log_config(level: str = "info") -> dict[str, Any]:
    """A logging.config dict for uvicorn and the app: JSON lines on stderr from every logger.

    The root logger gets the JSON handler, so the app's loggers (``triage.*``) and any library's
    warnings come out as JSON too; uvicorn's loggers get it directly (uvicorn does not propagate).
    """
    lvl = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "serving.logging.JsonFormatter"}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": lvl},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn.error": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
