"""Request bodies, checked before anything parses them, in one place.

Two layers use this module:

- ``RequestMiddleware`` reads every POST/PUT/PATCH body completely with :func:`read_body` *before* the app
  sees it: ``Content-Length`` must be a number, the body may not exceed ``TRIAGE_MAX_BODY_BYTES``
  (checked from the header when given, else while streaming) and must arrive within the request timeout.
- ``JsonBodyRoute`` (the route class of every route that takes a body) then checks what FastAPI would
  otherwise get wrong or answer vaguely: the media type (415), strict UTF-8 (broken bytes are an error,
  never replaced), JSON syntax, nesting depth, lone UTF-16 surrogate escapes (``"\\ud800"``) and integers
  too long to convert. The parsed value is handed to FastAPI, so a body is parsed once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Receive

from serving.errors import ApiError
from triage.text.validate import decode_utf8

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# No request of this API nests deeper than posts[i].thread[j].text; JSON deeper than this is refused.
MAX_DEPTH = 32
# The longest integer any field accepts is 19 digits (metadata: within +-2**63). Longer ones are refused
# before conversion, which Python limits to 4,300 digits (and which costs quadratic time).
MAX_INT_DIGITS = 100


class BodyProblem(Exception):
    """A body refused before parsing: the status, code and message of the error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _too_large(max_bytes: int) -> BodyProblem:
    return BodyProblem(
        413, "body_too_large", f"the body is larger than {max_bytes} bytes; send fewer or shorter posts per request"
    )


def declared_length(headers: Mapping[bytes, bytes]) -> int | None:
    """``Content-Length`` as a number (None when absent); BodyProblem 400 when it is not one."""
    value = headers.get(b"content-length")
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if not text.isascii() or not text.isdigit():
        raise BodyProblem(400, "invalid_content_length", "Content-Length is not a number")
    return int(text)


async def read_body(headers: Mapping[bytes, bytes], receive: Receive, *, max_bytes: int,
                    timeout_s: float) -> bytes | None:
    """The whole body, or None when the client went away; BodyProblem for 400 / 408 / 413."""
    declared = declared_length(headers)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)

    async def collect() -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    try:
        async with asyncio.timeout(timeout_s):
            return await collect()
    except TimeoutError:
        raise BodyProblem(408, "body_timeout", f"the request body did not arrive within {timeout_s:g} s") from None


@dataclass(frozen=True)
class _HugeInt:
    """Stands in for an integer literal too long to convert; reported with its path."""

    digits: int


def _parse_int(text: str) -> int | _HugeInt:
    digits = len(text) - text.startswith("-")
    return _HugeInt(digits) if digits > MAX_INT_DIGITS else int(text)


def parse_json(raw: bytes) -> Any:
    """Decode ``raw`` strictly as UTF-8 and parse it as JSON; ApiError 400 / 422 saying what is wrong."""
    text = decode_utf8(raw, field="body")
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    _check_values(data, "", 0)
    return data


def _too_deep() -> ApiError:
    return ApiError(400, "malformed_json", f"the body's JSON is nested deeper than {MAX_DEPTH} levels")


def _check_values(value: Any, path: str, depth: int) -> None:
    """Refuse lone surrogates in strings and keys, integers too long to convert, and deep nesting."""
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        if _has_surrogate(value):
            raise ApiError(
                400, "invalid_utf8", f"{path or 'the body'} holds a lone UTF-16 surrogate escape", field=path or None
            )
    elif isinstance(value, _HugeInt):
        where = path or "the body"
        raise ApiError(
            422, "invalid_request", f"{where}: an integer with {value.digits} digits is out of range",
            field=path or None
        )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _has_surrogate(key):  # the key itself: report the object holding it ("" is the body)
                raise ApiError(
                    400, "invalid_utf8", f"{path or 'the body'} holds a key with a lone UTF-16 surrogate escape",
                    field=path or None,
                )
            _check_values(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, f"{path}[{i}]", depth + 1)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


async def check_json_request(request: Request) -> None:
    """Media type, then the body as :func:`parse_json` checks it; FastAPI then reuses the parsed value."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    raw = await request.body()
    if not raw:
        return  # FastAPI reports the missing body as missing_field
    # Starlette's Request caches its parsed JSON here; FastAPI's ``await request.json()`` returns it.
    request._json = parse_json(raw)


class JsonBodyRoute(APIRoute):
    """An APIRoute that runs :func:`check_json_request` on bodies before FastAPI parses them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.method in BODY_METHODS:
                await check_json_request(request)
            return await handler(request)

        return checked
