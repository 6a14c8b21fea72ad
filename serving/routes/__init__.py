"""The API's routes, one ``APIRouter`` per concern; ``ROUTERS`` is what ``serving.app`` includes.

- ``triage``    POST /v1/triage, POST /v1/triage/batch
- ``feedback``  POST /v1/feedback, GET /v1/feedback
- ``review``    GET /v1/review-queue (active learning)
- ``model``     GET /v1/model
- ``models``    GET /v1/models, GET /v1/models/shadow (registry, shadow mode)
- ``audit``     GET /v1/audit
- ``events``    POST /v1/events, GET /v1/posts/{post_id} (the post store: serving.streaming)
- ``incidents`` GET /v1/incidents, GET /v1/incidents/{incident_id} (the crisis detector)
- ``ops``       GET /healthz, /readyz, /metrics (no API key: probes and scrapers)

Routes are thin: their dependencies (``serving.deps``) check the caller and the worker's state, the body
is checked by ``serving.bodies.JsonBodyRoute``, posts are admitted by ``serving.admission``, the engine
runs in the inference pool, and the route notes what the access log should say.
"""

from __future__ import annotations

from fastapi import APIRouter

from serving.routes import audit, events, feedback, incidents, model, models, ops, review, triage

ROUTERS: tuple[APIRouter, ...] = (
    triage.router, feedback.router, review.router, model.router, models.router, audit.router,
    events.router, incidents.router, ops.router,
)
