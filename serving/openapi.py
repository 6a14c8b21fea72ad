"""What the OpenAPI document says beyond the routes themselves: description, tags, errors, security.

Every route lists the error statuses it can return (``error_responses``), each naming its stable codes.
The security schemes (``X-API-Key`` and bearer) and the ``401`` / ``403`` responses are added to the
``/v1`` operations only when API keys are configured, so the document always describes what this
server really does.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from serving.auth import API_KEY_HEADER
from serving.errors import ERROR_CODES, ErrorResponse

DESCRIPTION = """\
NLP triage for social customer care, Hebrew and English first: labels per head (intent, sentiment,
urgency) with calibrated probabilities, language, personal and case data with a redacted text, and,
when the brand's policy is loaded, routing and suggested replies.

Send `Content-Type: application/json` bodies in UTF-8. With API keys configured, send your key as
`X-API-Key: <key>` or `Authorization: Bearer <key>`. Every error has the shape
`{"error": {"code", "message", "field"}, "request_id"}` with a stable `code`; see docs/SERVING.md.
"""

TAGS = [
    {"name": "triage", "description": "Score posts."},
    {"name": "feedback", "description": "Agents' corrections, for retraining."},
    {"name": "model", "description": "What is loaded; the model registry and shadow mode."},
    {"name": "audit", "description": "The append-only audit log: automated actions and model changes."},
    {"name": "operations", "description": "Health, readiness, metrics."},
]

# Statuses any route that takes a JSON body can answer before its own logic runs.
BODY_ERRORS = (400, 408, 413, 415, 422, 500)

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER, "description": "The API key itself."},
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


def _codes_for(status: int) -> str:
    names = [c for c, (s, _) in ERROR_CODES.items() if s == status]
    return "Error codes: " + ", ".join(f"`{n}`" for n in names)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the error statuses a route can return, listing their codes."""
    return {status: {"model": ErrorResponse, "description": _codes_for(status)} for status in statuses}


def install_openapi(app: FastAPI, *, auth_on: bool) -> None:
    """With API keys: declare both schemes and add security and 401 / 403 to every ``/v1`` operation."""
    if not auth_on:
        return
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()  # cached by FastAPI as app.openapi_schema: completed in place below
        spec.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        for path, operations in spec["paths"].items():
            if not path.startswith("/v1/"):
                continue
            for operation in operations.values():
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                for status in (401, 403):
                    operation["responses"][str(status)] = {
                        "description": _codes_for(status),
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    }
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
