"""The outer layer of every request (pure ASGI, so streaming and cancellation behave).

For each HTTP request it: assigns a request id (a sane incoming ``X-Request-ID`` or a new one) and
returns it in the ``X-Request-ID`` header; reads a body completely *before* the app sees it, refusing
more than ``max_body_bytes`` (from ``Content-Length`` when given, else while streaming) with 413 and
a body that does not arrive within the timeout with 408; turns any exception that escaped the app into
a 500 error without details; counts the request in the metrics and writes one JSON access log line
with the route template, status, milliseconds and what the handler noted (labels, tenant, error code).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import LOG_KEY, REQUEST_ID_KEY, error_bytes
from serving.logging import stack_without_message
from serving.metrics import Metrics

access_log = logging.getLogger("triage.serving.access")
log = logging.getLogger("triage.serving")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _BodyProblem(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RequestMiddleware:
    """See the module docstring."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, body_timeout_s: float, router: Router | None = None
    ) -> None:
        self.app = app
        self.router = router
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        note: dict[str, Any] = {}
        scope[LOG_KEY] = note
        response: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["started"] = True
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if scope["method"] in _BODY_METHODS:
                try:
                    body = await self._read_body(headers, receive)
                except _BodyProblem as problem:
                    await self._send_error(scope, send_with_id, problem.status, problem.code, problem.message)
                    return
                if body is None:  # the client went away
                    response["status"] = 499
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Logged by type and stack only: the message of an unexpected error may quote the request.
            log.error(
                "unhandled error",
                extra={"request_id": request_id, "exc_type": type(exc).__name__, "stack": stack_without_message(exc)},
            )
            if not response["started"]:
                await self._send_error(
                    scope, send_with_id, 500, "internal_error",
                    "internal error; report the request id to the service's operators",
                )
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, request_id, note, response["status"], time.perf_counter() - start)

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise _BodyProblem(400, "invalid_content_length", "Content-Length is not a number") from None
            if declared > self.max_body_bytes:
                raise self._too_large()
        try:
            return await asyncio.wait_for(self._collect(receive), self.body_timeout_s)
        except TimeoutError:
            raise _BodyProblem(
                408, "body_timeout", f"the request body did not arrive within {self.body_timeout_s:g} s"
            ) from None

    async def _collect(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> _BodyProblem:
        return _BodyProblem(
            413, "body_too_large",
            f"the body is larger than {self.max_body_bytes} bytes; send fewer or shorter posts per request",
        )

    async def _send_error(self, scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        body = error_bytes(scope, code, message)
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})

    def _template(self, scope: Scope) -> str:
        """The matched route's path template (bounded label values), also for requests refused before routing."""
        route = scope.get("route")
        if route is None and self.router is not None:
            for candidate in self.router.routes:
                if candidate.matches(scope)[0] is Match.FULL:
                    route = candidate
                    break
        return getattr(route, "path", None) or "unmatched"

    def _record(self, scope: Scope, request_id: str, note: dict[str, Any], status: int, seconds: float) -> None:
        template = self._template(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(template, method, str(status)).inc()
        self.metrics.latency.labels(template).observe(seconds)
        if "error_code" in note:
            self.metrics.errors.labels(note["error_code"]).inc()
        elif status >= 500:
            self.metrics.errors.labels("internal_error").inc()
        line = {"request_id": request_id, "method": method, "route": template, "status": status,
                "ms": round(seconds * 1000, 2), **note}
        level = logging.ERROR if status >= 500 else logging.INFO
        access_log.log(level, "request", extra=line)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the app, then passes on later messages (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
