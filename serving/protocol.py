"""Uvicorn's h11 HTTP/1.1 protocol, answering malformed requests with the API's JSON errors.

Requests that h11 cannot parse never reach the application, so uvicorn answers them itself with a plain
text ``400 Invalid HTTP request received.`` and closes the socket at once; a client still sending (a
200 KB header) then gets a connection reset instead of any answer. This protocol instead:

- answers with the API's error shape and an ``X-Request-ID``: ``400 invalid_content_length`` for a
  ``Content-Length`` that is not a number, ``431 headers_too_large`` for a request line and headers over
  ``MAX_HEAD_BYTES`` (however they arrive), ``400 bad_request`` for anything else h11 refuses;
- then closes gently: it stops writing, keeps reading (and discarding) what the client still sends for
  up to ``LINGER_S`` seconds or ``LINGER_BYTES`` bytes, so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("triage.serving")

MAX_HEAD_BYTES = 32 * 1024  # request line and headers
LINGER_S = 2.0
LINGER_BYTES = 1 << 20


class _Connection(h11.Connection):
    """An h11 connection that remembers why it refused a request and limits complete heads too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        if isinstance(event, h11.Request):
            # h11 bounds only a head that is still incomplete; one that arrived whole can be any size.
            size = len(event.method) + len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
            if size > MAX_HEAD_BYTES:
                self.refusal = h11.RemoteProtocolError("request head too large", error_status_hint=431)
                raise self.refusal
        return event


def _classify(refusal: h11.RemoteProtocolError | None) -> tuple[int, str, str]:
    """(status, code, message) for the error response to a request h11 refused."""
    status = refusal.error_status_hint if refusal is not None else 400
    reason = str(refusal) if refusal is not None else ""
    if status == 431:
        return 431, "headers_too_large", f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes"
    if "content-length" in reason.lower():
        return 400, "invalid_content_length", "Content-Length is not a number"
    return 400, "bad_request", "the HTTP request is malformed (request line, headers or framing); nothing was read"


class JsonErrorH11Protocol(H11Protocol):
    """``H11Protocol`` with JSON error answers and a gentle close; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked = _Connection(h11.SERVER, self.config.h11_max_incomplete_event_size or MAX_HEAD_BYTES)
        self.conn = self._checked
        self._lingering = False
        self._discarded = 0

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn for every request h11 refuses (whatever the status)."""
        status, code, message = _classify(self._checked.refusal)
        request_id = uuid.uuid4().hex
        # The API's error shape (serving.errors.ErrorResponse), built by hand: this module runs in the
        # supervisor process too, which should not import FastAPI.
        body = json.dumps({"error": {"code": code, "message": message, "field": None},
                           "request_id": request_id}).encode()
        log.warning("refused a malformed HTTP request", extra={"status": status, "error_code": code,
                                                               "request_id": request_id})
        headers = [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()), (b"connection", b"close"),
        ]
        try:
            output = self.conn.send(h11.Response(status_code=status, headers=headers))
            output = (output or b"") + (self.conn.send(h11.Data(data=body)) or b"")
            output += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # a response had started already: nothing sane can follow it
            self.transport.close()
            return
        self.transport.write(output)
        self._linger()

    def _linger(self) -> None:
        """Stop writing, read and discard what the client still sends, then close (no reset)."""
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_S, self.transport.close)
