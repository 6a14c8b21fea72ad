"""Every error the API returns has one shape: ``{"error": {"code", "message", "field"}, "request_id"}``.

``code`` is stable (clients switch on it; docs/SERVING.md lists them), ``field`` is the offending
request field as a path (``posts[2].text``) or null, ``message`` says what to do. No stack trace and no
echo of the request's content ever reaches a response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import Scope

from serving.requestlog import request_log
from triage.errors import ConfigError, InferenceError, InputError, ModelArtifactError, TriageError
from triage.types import CHANNELS

log = logging.getLogger("triage.serving")

# Input errors whose problem is the bytes rather than the meaning: 400. Every other input error is 422.
_BAD_REQUEST_CODES = frozenset({"invalid_utf8", "malformed_json", "invalid_content_length", "bad_request"})

# code -> (status, when): the reference for docs/SERVING.md and the OpenAPI descriptions.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "the body is not valid JSON"),
    "invalid_utf8": (400, "the body or a text is not valid UTF-8 (or holds lone surrogates)"),
    "invalid_content_length": (400, "the Content-Length header is not a number"),
    "bad_request": (400, "the HTTP request itself is malformed (request line, headers, framing)"),
    "missing_api_key": (401, "no X-API-Key or Authorization: Bearer header"),
    "invalid_api_key": (401, "the key matches no configured key"),
    "forbidden_brand": (403, "the key may not triage posts for this brand"),
    "not_found": (404, "no such path"),
    "unknown_post": (404, "no stored post with this id (for this key's brands)"),
    "unknown_incident": (404, "no incident with this id (for this key's brands)"),
    "event_id_conflict": (409, "the event id already records another event"),
    "method_not_allowed": (405, "the path exists, the method does not"),
    "body_timeout": (408, "the body did not arrive within the request timeout"),
    "body_too_large": (413, "the body is larger than TRIAGE_MAX_BODY_BYTES"),
    "unsupported_media_type": (415, "the body is not sent as Content-Type: application/json"),
    "headers_too_large": (431, "the request line and headers are larger than 32 KiB"),
    "invalid_request": (422, "a field has the wrong type or value"),
    "missing_field": (422, "a required field is absent"),
    "unknown_field": (422, "a field that the API does not know"),
    "unknown_channel": (422, "channel is not one of the supported channels"),
    "empty_text": (422, "text is empty or only whitespace"),
    "text_too_long": (422, "text is longer than TRIAGE_MAX_CHARS"),
    "bidi_control": (422, "text holds bidi embedding/override/isolate controls (RLM/LRM marks are fine)"),
    "unknown_brand": (422, "no policy for this brand"),
    "brand_required": (422, "the key is scoped to several brands and the post names none"),
    "batch_too_large": (422, "more posts than TRIAGE_MAX_BATCH"),
    "unknown_event_kind": (422, "an event kind other than replied, assigned, resolved, hidden"),
    "unknown_head": (422, "feedback names a head the model does not have"),
    "unknown_label": (422, "feedback names a label the head does not have"),
    "internal_error": (500, "a bug: reported with the request id, never with details"),
    "config_error": (500, "the server is misconfigured (a policy or reply library); see its log"),
    "model_unavailable": (503, "the model is not loaded (starting, stopping, or missing)"),
    "inference_stuck": (503, "readiness only: an inference call has run far past the request timeout"),
    "inference_failed": (503, "the model failed on this request; no result is guessed"),
    "storage_unavailable": (503, "the feedback database cannot be reached"),
    "store_not_configured": (503, "the post store (events, posts, incidents) is off: TRIAGE_STORE_URL is not set"),
    "timeout": (504, "inference took longer than TRIAGE_REQUEST_TIMEOUT_S"),
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What was wrong and how to fix it.")
    field: str | None = Field(default=None, description="The offending request field, e.g. posts[2].text.")


class ErrorBody(ErrorDetail):
    details: list[ErrorDetail] | None = Field(default=None, description="Every problem, when there are several.")


class ErrorResponse(BaseModel):
    error: ErrorBody
    request_id: str | None = Field(description="Also in the X-Request-ID response header; quote it in bug reports.")


class ApiError(Exception):
    """An error with its HTTP status, raised anywhere in serving and rendered by the handlers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def loc_to_field(loc: Sequence[Any]) -> str | None:
    """``("body", "posts", 2, "text")`` -> ``posts[2].text``; the leading ``body`` is dropped."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


def error_payload(scope: Scope, code: str, message: str, field: str | None,
                  details: list[ErrorDetail] | None = None) -> dict[str, Any]:
    """The JSON error body; also notes the code in the request's log record (for logs and metrics)."""
    record = request_log(scope)
    if record is not None:
        record.error_code = code
    body = ErrorBody(code=code, message=message, field=field, details=details)
    request_id = record.request_id if record is not None else None
    return {"error": body.model_dump(exclude_none=True) | {"field": field}, "request_id": request_id}


def error_response(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_payload(scope, code, message, field, details), status_code=status,
                        headers=dict(headers or {}))


def error_bytes(scope: Scope, code: str, message: str, field: str | None = None) -> bytes:
    """The error body as bytes, for pure ASGI code that answers before FastAPI runs."""
    return json.dumps(error_payload(scope, code, message, field), ensure_ascii=False).encode("utf-8")


def status_for(exc: TriageError) -> int:
    if isinstance(exc, InputError):
        return 400 if exc.code in _BAD_REQUEST_CODES else 422
    if exc.code == "unknown_brand":
        return 422
    if isinstance(exc, InferenceError | ModelArtifactError):
        return 503
    return 500


def _validation_code(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    loc = err.get("loc", ())
    if kind == "json_invalid":
        return "malformed_json"
    if kind == "missing":
        return "missing_field"
    if kind == "extra_forbidden":
        return "unknown_field"
    if loc and loc[-1] == "channel" and kind in ("literal_error", "enum"):
        return "unknown_channel"
    return "invalid_request"


def _validation_message(code: str, err: Mapping[str, Any], field: str | None) -> str:
    # Built from pydantic's message and the location only: pydantic's "input" would echo the request.
    where = field or "the body"
    if code == "unknown_channel":
        return f"{where} must be one of: {', '.join(CHANNELS)}"
    if code == "missing_field":
        return f"{where} is required"
    if code == "unknown_field":
        return f"{where} is not a field of this request; remove it"
    if code == "malformed_json":
        return "the body is not valid JSON"
    return f"{where}: {str(err.get('msg', 'invalid value')).removeprefix('Value error, ')}"


def install_handlers(app: FastAPI, paths: Collection[str] = frozenset()) -> None:
    """Map every exception FastAPI can see to the error shape. Unexpected ones are handled in middleware.

    ``paths``: the API's route paths, so that a 404 for one of them with a trailing slash names it.
    """

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.scope, exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)

    @app.exception_handler(TriageError)
    async def _triage_error(request: Request, exc: TriageError) -> JSONResponse:
        status = status_for(exc)
        if isinstance(exc, InferenceError):
            # The model's own message may hold anything; say what happened, keep details in the log.
            log.error("inference failed", extra={"code": exc.code, "exc_type": type(exc.__cause__ or exc).__name__})
            message = "the model failed on this request; no result is guessed. Retry, or report the request id"
            return error_response(request.scope, 503, "inference_failed", message)
        if isinstance(exc, ModelArtifactError):
            return error_response(request.scope, 503, "model_unavailable", str(exc))
        if status == 500:
            log.error("configuration error while serving", extra={"code": exc.code})
            kind = "config_error" if isinstance(exc, ConfigError) else "internal_error"
            return error_response(request.scope, 500, kind, "the server is misconfigured; see its log")
        return error_response(request.scope, status, exc.code, str(exc), field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        details = []
        for err in errors:
            field = loc_to_field(err.get("loc", ()))
            code = _validation_code(err)
            details.append(ErrorDetail(code=code, message=_validation_message(code, err, field), field=field))
        first = details[0] if details else ErrorDetail(code="invalid_request", message="invalid request")
        status = 400 if first.code == "malformed_json" else 422
        return error_response(
            request.scope, status, first.code, first.message, field=first.field,
            details=details if len(details) > 1 else None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "missing_api_key"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = _not_found_message(paths, request.url.path)
        return error_response(request.scope, exc.status_code, code, message, headers=exc.headers)


def _not_found_message(paths: Collection[str], path: str) -> str:
    """404's message; for a known path with a trailing slash, the path without it (never a redirect)."""
    trimmed = path.rstrip("/")
    if trimmed != path and trimmed in paths:
        return f"no such path; did you mean {trimmed} (without the trailing slash)?"
    return "no such path; the API's paths are listed at /docs"
