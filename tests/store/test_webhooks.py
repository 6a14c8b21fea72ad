"""Incident webhooks: signed JSON, one event id per change, retries with backoff, never blocking the caller."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from store.webhooks import WebhookSender, event_id, sign, verify_signature
from triage.stream import Incident, IncidentChange, IncidentTopic

SECRET = "webhook-test-secret"
T = datetime(2026, 6, 7, 6, 0, tzinfo=UTC)


def change(kind: str = "opened", incident_id: str = "default-000001") -> IncidentChange:
    incident = Incident(id=incident_id, brand="default", kind="trigger", state=kind if kind != "opened" else "opened",  # type: ignore[arg-type]
                        topic=IncidentTopic(cluster="t1", label="complaint|technical", sample="אין אינטרנט"),
                        triggers=["outage"], first_seen=T, last_seen=T, opened_at=T, updated_at=T, posts=3,
                        authors=3, score=7.0, first_post_id="fb-1")
    return IncidentChange(kind, incident)  # type: ignore[arg-type]


class Receiver:
    """A local HTTP server answering with the statuses it is given (then 204), recording every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 204)
                self.end_headers()
                outer.event.set()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    r = Receiver(getattr(request, "param", []))
    yield r
    r.close()


def test_a_change_is_posted_signed_with_its_event_id(receiver: Receiver) -> None:
    sender = WebhookSender([receiver.url], SECRET, backoff_s=0.01)
    sender.send(change())
    assert sender.close(5.0) == 0
    (headers, body), = receiver.requests
    assert headers["x-triage-event"] == "incident.opened" and headers["content-type"] == "application/json"
    assert headers["x-triage-event-id"] == event_id(change()) == json.loads(body)["event_id"]
    assert verify_signature(SECRET, headers["x-triage-timestamp"], body, headers["x-triage-signature"])
    assert not verify_signature("another-secret", headers["x-triage-timestamp"], body, headers["x-triage-signature"])
    data = json.loads(body)
    assert data["type"] == "incident.opened" and data["incident"]["id"] == "default-000001"
    assert data["incident"]["topic"]["sample"] == "אין אינטרנט"
    assert [(d.delivered, d.status, d.attempts) for d in sender.outcomes()] == [(True, 204, 1)]


@pytest.mark.parametrize("receiver", [[500, 503]], indirect=True)
def test_server_errors_are_retried_with_the_same_event_id(receiver: Receiver) -> None:
    sender = WebhookSender([receiver.url], SECRET, backoff_s=0.01, retries=3)
    sender.send(change("growing"))
    sender.close(5.0)
    assert len(receiver.requests) == 3
    assert len({h["x-triage-event-id"] for h, _ in receiver.requests}) == 1
    assert [(d.delivered, d.status, d.attempts) for d in sender.outcomes()] == [(True, 204, 3)]


@pytest.mark.parametrize("receiver", [[400]], indirect=True)
def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    sender = WebhookSender([receiver.url], SECRET, backoff_s=0.01, retries=3)
    sender.send(change())
    sender.close(5.0)
    assert len(receiver.requests) == 1
    assert [(d.delivered, d.status) for d in sender.outcomes()] == [(False, 400)]


def test_sending_never_blocks_and_a_dead_url_is_given_up() -> None:
    sender = WebhookSender(["http://127.0.0.1:9/"], SECRET, backoff_s=0.01, retries=2, timeout_s=0.5)
    start = time.monotonic()
    for i in range(5):
        sender.send(change(incident_id=f"default-00000{i}"))
    assert time.monotonic() - start < 0.1  # queued only
    sender.close(10.0)
    outcomes = sender.outcomes()
    assert len(outcomes) == 5 and not any(d.delivered for d in outcomes)
    assert all(d.attempts == 3 and d.status is None for d in outcomes)


def test_event_ids_differ_per_change_and_signatures_expire() -> None:
    assert len({event_id(change(k)) for k in ("opened", "growing", "resolved")}) == 3
    assert event_id(change()) == event_id(change())
    body = b'{"a": 1}'
    stamp = str(int(time.time()))
    assert verify_signature(SECRET, stamp, body, sign(SECRET, stamp, body))
    old = str(int(time.time()) - 3600)
    assert not verify_signature(SECRET, old, body, sign(SECRET, old, body))
    assert not verify_signature(SECRET, "not-a-number", body, sign(SECRET, stamp, body))
    assert SECRET not in repr(WebhookSender([], SECRET))
