"""Run the service under uvicorn: ``serve(settings)`` (what ``triage serve`` calls).

- Workers: one process per core by default, each with one inference thread (``TRIAGE_THREADS=1``) and
  adaptive micro-batching. On a 2-core machine that beat one process with two threads and per-request
  scoring (docs/SERVING.md has the measurements). Each worker loads the model once, in its lifespan.
- Binding: without API keys the server is unauthenticated, so it binds to 127.0.0.1 only, whatever host
  was asked for, and logs one line saying so.
- Processes: a supervisor (``serving.supervisor``) starts the workers, spreads connections over them
  (a SO_REUSEPORT socket per worker on Linux), replaces workers that die or restart themselves after a
  stuck inference call, and stops the server with one error line when workers cannot start.
- Malformed HTTP gets the API's JSON errors (``serving.protocol``), not uvicorn's plain text.
- Shutdown: on SIGTERM each worker stops accepting connections and waits up to ``graceful_timeout_s`` for
  in-flight requests to finish, then stops its inference pool without waiting on a stuck call; the
  supervisor kills a worker still running ``STOP_MARGIN_S`` after that.
- Metrics: with several workers, ``PROMETHEUS_MULTIPROC_DIR`` points at a fresh folder so /metrics
  merges the counts of every worker.
"""

from __future__ import annotations

import ipaddress
import logging
import logging.config
import os
import shutil
import tempfile
from typing import Any

import uvicorn

from serving.logging import log_config
from serving.metrics import MULTIPROC_ENV
from serving.protocol import MAX_HEAD_BYTES, JsonErrorH11Protocol
from serving.settings import ServeSettings, export_for_workers
from triage.artifact import read_manifest
from triage.errors import ConfigError
from triage.resources import default_model_dir, resolve_model_dir

log = logging.getLogger("triage.serving")

DEFAULT_FACTORY = "serving.app:create_app_from_env"
LOOPBACK = "127.0.0.1"
WORKER_HEALTHCHECK_S = 60
# After the graceful timeout a worker stops its inference pool (at most serving.lifecycle.STOP_WAIT_S) and
# exits; the supervisor kills one that is still there this much later.
STOP_MARGIN_S = 3.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_host(settings: ServeSettings) -> str:
    """The host to bind: the one asked for, or 127.0.0.1 when that would expose an unauthenticated server."""
    if settings.auth_enabled or is_loopback(settings.host):
        if not settings.auth_enabled:
            log.warning(
                "no API keys configured: authentication is off; serving on the loopback interface only",
                extra={"host": settings.host},
            )
        return settings.host
    log.warning(
        f"no API keys configured: refusing to bind to {settings.host}; binding to {LOOPBACK} only. "
        "Set TRIAGE_API_KEYS or TRIAGE_API_KEYS_FILE (see docs/SERVING.md) to serve other hosts.",
        extra={"requested_host": settings.host, "host": LOOPBACK},
    )
    return LOOPBACK


def check_model(settings: ServeSettings) -> None:
    """Fail before starting any worker when there is no model (ModelNotInstalledError, one clear line)."""
    read_manifest(resolve_model_dir(settings.model_dir) if settings.model_dir else default_model_dir())


def uvicorn_config(settings: ServeSettings, *, factory: str, host: str,
                   logging_config: dict[str, Any]) -> uvicorn.Config:
    """What every worker runs: the app factory under uvicorn, with the API's HTTP protocol and timeouts."""
    return uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=settings.port,
        workers=settings.resolved_workers(),
        lifespan="on",
        log_config=logging_config,
        access_log=False,  # the app writes its own request lines, without client addresses
        server_header=False,
        http=JsonErrorH11Protocol,  # malformed requests get the API's JSON errors, not plain text
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        # The supervisor kills a worker that does not answer its ping in time. Loading the model and the
        # language detector holds the GIL for seconds on a busy small machine; 5 s (uvicorn's default)
        # killed every worker in a loop there.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


def run_uvicorn(config: uvicorn.Config, *, reuse_port: bool = True) -> None:
    """Run the workers under ``serving.supervisor`` until SIGTERM / SIGINT; ConfigError when it gave up.

    With ``reuse_port`` (Linux) each worker listens on its own SO_REUSEPORT socket and the kernel spreads
    connections over them; otherwise the workers share one socket. Either way the parent binds the port
    first, so a port in use is one clear error before any worker starts.
    """
    from serving.supervisor import Supervisor, reuse_port_supported, tcp_socket

    spread = reuse_port and reuse_port_supported()
    try:
        sock = tcp_socket(config.host, config.port, reuse_port=spread)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}", code="bind_failed") from None
    port = sock.getsockname()[1]
    log.info(
        f"listening on http://{config.host}:{port} with {config.workers} worker(s)",
        extra={"connections": "SO_REUSEPORT socket per worker" if spread else "one shared socket"},
    )
    grace = config.timeout_graceful_shutdown or 0
    supervisor = Supervisor(
        config, [] if spread else [sock], listen=(config.host, port) if spread else None,
        stop_timeout_s=grace + STOP_MARGIN_S,
    )
    try:
        supervisor.run()
    finally:
        sock.close()
    if supervisor.failure is not None:
        raise ConfigError(supervisor.failure, code="worker_failed")


def serve(settings: ServeSettings, *, factory: str = DEFAULT_FACTORY, preflight: bool = True) -> None:
    """Run uvicorn until SIGTERM / SIGINT. ``factory``: import string of the app factory the workers call."""
    config = log_config(settings.log_level)
    logging.config.dictConfig(config)
    host = bind_host(settings)
    workers = settings.resolved_workers()
    if preflight:
        check_model(settings)

    # Workers are fresh processes that read their settings from the environment (serving.app's factory).
    export_for_workers(settings, os.environ)
    os.environ["TRIAGE_HOST"] = host
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        # numpy's BLAS must not start a thread per core in every worker either.
        os.environ.setdefault(var, str(settings.threads))
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="triage-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir

    log.info(
        "starting",
        extra={
            "host": host, "port": settings.port, "workers": workers, "threads": settings.threads,
            "auth": settings.auth_enabled, "keys": len(settings.api_keys), "microbatch": settings.microbatch,
        },
    )
    try:
        run_uvicorn(
            uvicorn_config(settings, factory=factory, host=host, logging_config=config), reuse_port=settings.reuse_port
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
