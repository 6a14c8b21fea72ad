"""Incident webhooks: every lifecycle change (opened, growing, resolved) POSTed as JSON, signed, in the background.

``WebhookSender.send(change)`` only queues the delivery and returns at once; a daemon thread POSTs it to every
configured URL, retrying network errors, timeouts, 408, 429 and 5xx answers with exponential backoff. A
delivery that still fails is logged and dropped: it never fails triage, and the request that caused it never
waits for it. Nothing here is durable: deliveries queued when the process stops (after ``close`` has waited
its timeout) are lost; the incident itself stays in the store (``GET /v1/incidents``).

Each request carries:

- ``X-Triage-Event-Id``: the same id for every attempt and every URL of one change (a uuid5 of the incident
  id, its opening time and the change), so receivers drop repeats;
- ``X-Triage-Event``: ``incident.opened``, ``incident.growing`` or ``incident.resolved``;
- ``X-Triage-Timestamp``: Unix seconds of this attempt;
- ``X-Triage-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` with the shared secret
  (``verify_signature`` checks one; reject timestamps older than a few minutes to stop replays).

The body: ``{"event_id", "type", "occurred_at", "incident": Incident}`` (redacted sample text, counts, ids:
no personal data).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from triage.stream import IncidentChange

log = logging.getLogger("triage.webhooks")
_NAMESPACE = uuid.UUID("6f4b1c2e-8d7a-4e51-9b0c-3a2f1d5e7c90")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def event_id(change: IncidentChange) -> str:
    """The delivery id of one lifecycle change: stable across attempts, URLs and workers."""
    incident = change.incident
    return str(uuid.uuid5(_NAMESPACE, f"{incident.id}|{incident.opened_at.isoformat()}|{change.change}"))


def payload(change: IncidentChange) -> dict[str, Any]:
    return {
        "event_id": event_id(change),
        "type": f"incident.{change.change}",
        "occurred_at": change.incident.updated_at.isoformat(),
        "incident": change.incident.model_dump(mode="json"),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300.0,
                     now: float | None = None) -> bool:
    """Whether ``signature`` is ours for this body and timestamp, and the timestamp is recent."""
    try:
        age = (now if now is not None else time.time()) - int(timestamp)
    except ValueError:
        return False
    return abs(age) <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class Delivery:
    """What happened to one change at one URL (kept for ``WebhookSender.outcomes``)."""

    event_id: str
    type: str
    url: str
    status: int | None
    attempts: int
    delivered: bool
    error: str | None = None


class WebhookSender:
    """Background delivery of incident changes to ``urls``. Thread-safe; one per process."""

    def __init__(self, urls: Sequence[str], secret: str, *, timeout_s: float = 5.0, retries: int = 5,
                 backoff_s: float = 1.0, max_queue: int = 10_000, keep_outcomes: int = 1000) -> None:
        self.urls = list(urls)
        self._secret = secret
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(max_queue)
        self._stopping = threading.Event()
        self._outcomes: list[Delivery] = []
        self._keep = keep_outcomes
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="triage-webhooks", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"WebhookSender({len(self.urls)} URL(s))"  # never the secret

    def send(self, change: IncidentChange) -> None:
        """Queue one change for every URL; never blocks (a full queue drops it, with a log line)."""
        body = json.dumps(payload(change), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for url in self.urls:
            try:
                self._queue.put_nowait((url, f"incident.{change.change}", body))
            except queue.Full:
                log.error("webhook queue full: delivery dropped", extra={"incident": change.incident.id})

    __call__ = send  # a tracker listener

    def outcomes(self) -> list[Delivery]:
        with self._lock:
            return list(self._outcomes)

    def close(self, timeout_s: float = 5.0) -> int:
        """Deliver what is queued for up to ``timeout_s``, then stop; returns how many were left undelivered."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopping.set()  # a delivery still retrying gives up after its current attempt
        left = self._queue.unfinished_tasks
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
        return left

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            except Exception as exc:  # never let the delivery thread die
                log.error("webhook delivery crashed", extra={"exc_type": type(exc).__name__})
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, kind: str, body: bytes) -> None:
        eid = json.loads(body)["event_id"]
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.retries + 2):
            status, error = self._post(url, kind, eid, body)
            if status is not None and 200 <= status < 300:
                break
            if (status is not None and status not in RETRY_STATUSES) or self._stopping.is_set():
                break
            if attempt <= self.retries:
                self._stopping.wait(self.backoff_s * 2 ** (attempt - 1))
        delivered = status is not None and 200 <= status < 300
        if not delivered:
            log.error("webhook not delivered", extra={"event_id": eid, "status": status, "attempts": attempt,
                                                     "error": error})
        with self._lock:
            self._outcomes.append(Delivery(eid, kind, url, status, attempt, delivered, error))
            del self._outcomes[:-self._keep]

    def _post(self, url: str, kind: str, eid: str, body: bytes) -> tuple[int | None, str | None]:
        timestamp = str(int(time.time()))
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "triage-webhooks/1", "X-Triage-Event": kind,
            "X-Triage-Event-Id": eid, "X-Triage-Timestamp": timestamp,
            "X-Triage-Signature": sign(self._secret, timestamp, body),
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            return None, type(exc).__name__
