"""The REST scoring service around ``triage.engine.Engine`` (needs the ``serve`` extra).

Modules:

- ``settings``    pydantic-settings from ``TRIAGE_*`` environment variables
- ``keys``        API keys: generation, hashing, ``tenant:sha256hex[:brands]`` entries
- ``app``         ``create_app(settings, engine=None)``: the FastAPI factory
- ``lifecycle``   a worker's start-up, readiness watchdog and bounded shutdown (the app's lifespan)
- ``deps``        FastAPI dependencies reading ``app.state``: ``EngineDep``, ``CallerDep``, ``SettingsDep``...
- ``routes``      one ``APIRouter`` per concern: ``triage``, ``feedback``, ``model``, ``ops``
- ``admission``   a post's one validation (``Engine.check``) and its brand for the caller
- ``bodies``      request bodies: size, time, media type, strict UTF-8, JSON checks (``JsonBodyRoute``)
- ``schemas``     request / response models with Hebrew and English OpenAPI examples
- ``openapi``     description, tags, documented errors, security schemes when keys are configured
- ``errors``      every error as ``{"error": {"code", "message", "field"}, "request_id"}``
- ``requestlog``  the typed per-request log record kept in the ASGI scope
- ``auth``        API-key checks and brand scoping
- ``middleware``  request ids, body limits, access logs and request metrics (pure ASGI)
- ``inference``   the inference runner: concurrency limit, request timeout, stuck-call detection
- ``pool``        the inference thread pool (daemon threads that know how long each call runs)
- ``microbatch``  the asyncio micro-batcher, isolating each post of a batch
- ``feedback``    the SQLAlchemy feedback store and ``export_feedback`` for training
- ``metrics``     Prometheus metrics, one registry per app
- ``logging``     structured JSON log lines without personal data
- ``server``      ``serve(settings)``: uvicorn workers, loopback-only without API keys
- ``supervisor``  the parent process: SO_REUSEPORT per worker, replacing workers, no crash loops
- ``protocol``    uvicorn's h11 protocol with JSON errors for malformed HTTP
- ``exits``       worker exit statuses

Importing this package imports nothing heavy; FastAPI is loaded by ``serving.app``.
"""
