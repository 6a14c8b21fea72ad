"""The REST scoring service around ``triage.engine.Engine`` (needs the ``serve`` extra).

Modules:

- ``settings``   pydantic-settings from ``TRIAGE_*`` environment variables
- ``keys``       API keys: generation, hashing, ``tenant:sha256hex[:brands]`` entries
- ``app``        ``create_app(settings, engine=None)``: the FastAPI factory with its lifespan
- ``schemas``    request / response models with Hebrew and English OpenAPI examples
- ``errors``     every error as ``{"error": {"code", "message", "field"}, "request_id"}``
- ``auth``       API-key checks and brand scoping
- ``middleware`` request ids, body limits, access logs and request metrics (pure ASGI)
- ``inference``  the inference thread pool with its concurrency limit and request timeout
- ``microbatch`` the optional asyncio micro-batcher
- ``feedback``   the SQLAlchemy feedback store and ``export_feedback`` for training
- ``metrics``    Prometheus metrics, one registry per app
- ``logging``    structured JSON log lines without personal data
- ``server``     ``serve(settings)``: uvicorn with N workers, loopback-only without API keys


Importing this package imports nothing heavy; FastAPI is loaded by ``serving.app``.
"""
