"""The outer layer of every request (pure ASGI, so streaming and cancellation behave).

For each HTTP request it: assigns a request id (a sane incoming ``X-Request-ID`` or a new one) and
returns it in the ``X-Request-ID`` header; starts the request's typed ``RequestLog``; reads a body
completely *before* the app sees it (``serving.bodies.read_body``: 400 / 408 / 413); turns any exception
that escaped the app into a 500 error without details; counts the request in the metrics and writes one
JSON access log line with the route template, status, milliseconds and what the handlers noted.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.bodies import BODY_METHODS, BodyProblem, read_body
from serving.errors import error_bytes
from serving.logging import stack_without_message
from serving.metrics import Metrics
from serving.requestlog import RequestLog, attach

access_log = logging.getLogger("triage.serving.access")
log = logging.getLogger("triage.serving")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass
class _Response:
    status: int = 500
    started: bool = False


class RequestMiddleware:
    """See the module docstring."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, body_timeout_s: float,
        routes: Sequence[Route] = (),
    ) -> None:
        self.app = app
        self.routes = tuple(routes)  # to name the route of requests answered before routing (413, 408...)
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
        record = attach(scope, incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex)
        response = _Response()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.started = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", record.request_id.encode())]}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if scope["method"] in BODY_METHODS:
                try:
                    body = await read_body(headers, receive, max_bytes=self.max_body_bytes,
                                           timeout_s=self.body_timeout_s)
                except BodyProblem as problem:
                    await self._send_error(scope, send_with_id, problem.status, problem.code, problem.message)
                    return
                if body is None:  # the client went away
                    response.status = 499
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Logged by type and stack only: the message of an unexpected error may quote the request.
            log.error(
                "unhandled error",
                extra={"request_id": record.request_id, "exc_type": type(exc).__name__,
                       "stack": stack_without_message(exc)},
            )
            if not response.started:
                await self._send_error(
                    scope, send_with_id, 500, "internal_error",
                    "internal error; report the request id to the service's operators",
                )
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, record, response.status, time.perf_counter() - start)

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
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        return route.path if isinstance(route, Route) else "unmatched"

    def _record(self, scope: Scope, record: RequestLog, status: int, seconds: float) -> None:
        template = self._template(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(template, method, str(status)).inc()
        self.metrics.latency.labels(template).observe(seconds)
        self.metrics.worker_requests.inc()
        if record.error_code is not None:
            self.metrics.errors.labels(record.error_code).inc()
        elif status >= 500:
            self.metrics.errors.labels("internal_error").inc()
        line = {"request_id": record.request_id, "method": method, "route": template, "status": status,
                "ms": round(seconds * 1000, 2), **record.fields()}
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
