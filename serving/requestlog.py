"""The typed record of one request, kept in the ASGI scope and written as its access log line.

``RequestMiddleware`` attaches a ``RequestLog`` to every HTTP request's scope before anything else runs;
the authentication dependency notes the tenant, the routes note the labels or the stored feedback, and the
error handlers note the error code. When the response is sent the middleware writes the record as one JSON
line (and counts the error code in the metrics). Only these typed fields exist, so nothing else (a text, an
author, a post id) can slip into a log line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import Scope

SCOPE_KEY = "triage.log"

Labels = dict[str, str]


@dataclass
class FeedbackNote:
    """What the access log says about a stored correction (never its text or note)."""

    head: str
    label: str
    id: int


@dataclass
class RequestLog:
    """One request's log fields besides method, route, status and time (which the middleware adds)."""

    request_id: str
    tenant: str | None = None
    labels: Labels | list[Labels] | None = None
    model_version: str | None = None
    error_code: str | None = None
    feedback: FeedbackNote | None = None

    def note_labels(self, labels: list[Labels], model_version: str | None) -> None:
        """One request's predicted labels: a mapping for one post, a list for a batch."""
        self.labels = labels[0] if len(labels) == 1 else labels
        self.model_version = model_version

    def fields(self) -> dict[str, Any]:
        """The noted fields, for the access log line (unset ones left out)."""
        noted: dict[str, Any] = {
            "tenant": self.tenant, "labels": self.labels, "model_version": self.model_version,
            "error_code": self.error_code,
        }
        out = {name: value for name, value in noted.items() if value is not None}
        if self.feedback is not None:
            out["feedback"] = asdict(self.feedback)
        return out


def attach(scope: Scope, request_id: str) -> RequestLog:
    """Start the record of the request in ``scope``."""
    record = RequestLog(request_id=request_id)
    scope[SCOPE_KEY] = record
    return record


def request_log(scope: Scope) -> RequestLog | None:
    """The request's record, or None outside ``RequestMiddleware`` (an app used without it)."""
    record = scope.get(SCOPE_KEY)
    return record if isinstance(record, RequestLog) else None
