"""The API's routes, one ``APIRouter`` per concern; ``ROUTERS`` is what ``serving.app`` includes.

- ``triage``    POST /v1/triage, POST /v1/triage/batch
- ``feedback``  POST /v1/feedback
- ``model``     GET /v1/model
- ``ops``       GET /healthz, /readyz, /metrics (no API key: probes and scrapers)

Routes are thin: their dependencies (``serving.deps``) check the caller and the worker's state, the body
is checked by ``serving.bodies.JsonBodyRoute``, posts are admitted by ``serving.admission``, the engine
runs in the inference pool, and the route notes what the access log should say.
"""

from __future__ import annotations

from fastapi import APIRouter

from serving.routes import feedback, model, ops, triage

ROUTERS: tuple[APIRouter, ...] = (triage.router, feedback.router, model.router, ops.router)
