"""The learning loop's entries in the post store's append-only audit log (``store``'s ``audit`` table).

Two kinds of entries, each with time, actor, model version, subject and reason:

- **model changes** — ``trained``, ``compared``, ``promoted``, ``promoted_forced``, ``rolled_back``,
  ``shadow_started``, ``shadow_stopped``, ``model_added`` — written by the ``triage`` commands that make
  them (``record_model_event``);
- **automated actions** — ``hide``, ``like``, ``escalate`` decided by the engine for a post
  (``action_entries`` of a triage result; actor ``triage``), and ``reply_accepted`` when an agent sends a
  suggested reply as it was. The server queues them (``AuditQueue``) and one thread writes them, so a
  slow database never slows a request; a full queue drops entries and counts them.

Reasons are redacted by ``PostStore.audit`` before they are written.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from triage.types import REDACTED_TYPES, TriageResult

if TYPE_CHECKING:
    from store.poststore import PostStore

log = logging.getLogger("triage.learning")
AUTOMATED_ACTIONS = ("hide", "like", "escalate")
MODEL_EVENTS = ("trained", "compared", "promoted", "promoted_forced", "rolled_back", "shadow_started",
                "shadow_stopped", "model_added")
ENGINE_ACTOR = "triage"


def configured_store_url(explicit: str | None = None) -> str | None:
    """The post store's URL when one is configured (``explicit``, else ``TRIAGE_STORE_URL``), else None."""
    return explicit or os.environ.get("TRIAGE_STORE_URL", "").strip() or None


def open_store(url: str | None = None) -> PostStore:
    """A post store for audit entries (``url``, else TRIAGE_STORE_URL, else ./triage-store.db)."""
    from store.poststore import PostStore

    return PostStore(url, identity_key=None)


def _scrub(text: str, result: TriageResult) -> str:
    for entity in sorted((e for e in result.entities if e.redacted), key=lambda e: -len(e.text)):
        text = text.replace(entity.text, REDACTED_TYPES[entity.type])
    return text


def action_entries(results: Sequence[TriageResult]) -> list[dict[str, Any]]:
    """One audit entry per automated action (hide, like, escalate) the engine decided for these posts."""
    out = []
    for result in results:
        routing = result.routing
        if routing is None:
            continue
        reasons = "; ".join(_scrub(r, result) for r in routing.reasons)[:1000]
        for action in routing.actions:
            if action in AUTOMATED_ACTIONS:
                out.append({"actor": ENGINE_ACTOR, "action": action, "model_version": result.model_version,
                            "subject": result.post_id,
                            "reason": f"brand {routing.brand}, rule {routing.rule}, queue {routing.queue}: {reasons}"})
    return out


def record_model_event(action: str, *, actor: str, model_version: str | None, reason: str,
                       subject: str | None = None, url: str | None = None) -> dict[str, Any] | None:
    """Append a model change to the audit log; None (and a warning) when the store cannot be written."""
    try:
        store = open_store(url)
        try:
            return store.audit(actor, action, reason, model_version=model_version, subject=subject).to_dict()
        finally:
            store.close()
    except Exception as exc:
        log.warning("could not write the audit log: %s: %s", type(exc).__name__, exc)
        return None


class AuditQueue:
    """Audit entries written by one daemon thread, so that requests never wait on the database."""

    def __init__(self, store: PostStore, size: int = 10_000) -> None:
        self.store = store
        self.dropped = 0
        self.failed = 0
        self.written = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=size)
        self._thread = threading.Thread(target=self._run, name="triage-audit", daemon=True)
        self._thread.start()

    def submit(self, entries: Sequence[dict[str, Any]]) -> None:
        for entry in entries:
            try:
                self._queue.put_nowait(entry)
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        while (entry := self._queue.get()) is not None:
            try:
                self.store.audit(entry["actor"], entry["action"], entry.get("reason", ""),
                                 model_version=entry.get("model_version"), subject=entry.get("subject"))
                self.written += 1
            except Exception as exc:
                self.failed += 1
                log.warning("audit entry not written", extra={"exc_type": type(exc).__name__})
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued entry is written (tests, shutdown); False on timeout."""
        import time

        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def stop(self, timeout_s: float = 2.0) -> None:
        self.flush(timeout_s)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return
        self._thread.join(timeout_s)
