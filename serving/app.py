"""The FastAPI application: ``create_app(settings, engine=None)``.

The factory puts what every request needs on ``app.state`` (settings, metrics, key ring; the engine,
inference runner and feedback store once the worker has started: ``serving.lifecycle``), installs the
request middleware, the error handlers and the routes (``serving.routes``), and completes the OpenAPI
document (``serving.openapi``). Routes read ``app.state`` through the dependencies in ``serving.deps``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from serving import lifecycle
from serving.deps import single_query_values
from serving.errors import install_handlers
from serving.exits import EXIT_CONFIG
from serving.metrics import Metrics
from serving.middleware import RequestMiddleware
from serving.openapi import DESCRIPTION, TAGS, install_openapi
from serving.routes import ROUTERS
from serving.settings import ServeSettings, load_settings
from triage import __version__
from triage.engine import Engine
from triage.errors import ConfigError
from triage.text.validate import TextLimits

log = logging.getLogger("triage.serving")


def text_limits(settings: ServeSettings) -> TextLimits:
    """The limits every text sent to the API is checked against; the engine must be built with them."""
    return TextLimits(max_chars=settings.max_chars, reject_bidi_overrides=True)


def create_app(settings: ServeSettings | None = None, engine: Engine | None = None) -> FastAPI:
    """The application. ``engine``: use this engine instead of loading the model (tests, embedding).

    An injected engine must check texts with the API's limits (build it with
    ``limits=text_limits(settings)``): the service validates each text once, with the engine's check.
    """
    settings = settings if settings is not None else load_settings()
    limits = text_limits(settings)
    if engine is not None and engine.limits != limits:
        raise ValueError(
            f"the engine checks texts with {engine.limits}, the service's settings ask for {limits}; "
            "build the engine with limits=serving.app.text_limits(settings)"
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await lifecycle.start(app, engine)
        try:
            yield
        finally:
            await lifecycle.stop(app)

    # No redirect for a trailing slash (POST clients do not follow a 307): a JSON 404 that names the path.
    app = FastAPI(
        title="triage", version=__version__, description=DESCRIPTION, lifespan=lifespan, openapi_tags=TAGS,
        redirect_slashes=False,
    )
    app.state.settings, app.state.metrics, app.state.limits = settings, metrics, limits
    app.state.keyring = settings.keyring
    app.state.engine = app.state.runner = app.state.store = app.state.watchdog = None
    app.state.ready = app.state.recycling = False

    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    app.add_middleware(
        RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.request_timeout_s, routes=routes,
    )
    install_handlers(app, paths=frozenset(route.path for route in routes))
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(single_query_values)])
    install_openapi(app, auth_on=settings.auth_enabled)
    return app


def worker_settings() -> ServeSettings:
    """A worker process's settings, from TRIAGE_* variables; invalid ones end the worker with one line.

    The parent process validated the same variables before starting workers, so this fails only when a
    worker's environment differs; the supervisor then stops the server instead of restarting in a loop.
    """
    try:
        return load_settings()
    except ConfigError as exc:
        log.error(f"error [{exc.code}]: {exc}")
        raise SystemExit(EXIT_CONFIG) from None


def create_app_from_env() -> FastAPI:
    """The factory uvicorn's workers call (``serving.app:create_app_from_env``): settings from TRIAGE_*."""
    return create_app(worker_settings())
