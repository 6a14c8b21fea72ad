"""Run the service under uvicorn: ``serve(settings)`` (what ``triage serve`` calls).

- Workers: one process per core by default, each with one inference thread (``TRIAGE_THREADS=1``) and
  adaptive micro-batching. On a 2-core machine that beat one process with two threads and per-request
  scoring (docs/SERVING.md has the measurements). Each worker loads the model once, in its lifespan.
- Binding: without API keys the server is unauthenticated, so it binds to 127.0.0.1 only, whatever host
  was asked for, and logs one line saying so.
- Shutdown: on SIGTERM uvicorn stops accepting connections and waits up to ``graceful_timeout_s`` for
  in-flight requests to finish before the lifespan closes the engine.
- Metrics: with several workers, ``PROMETHEUS_MULTIPROC_DIR`` points at a fresh folder so /metrics
  merges the counts of every worker.
"""

from __future__ import annotations

import ipaddress
import logging
import logging.config
import os
import shutil
import socket
import sys
import tempfile

import uvicorn

from serving.logging import log_config
from serving.metrics import MULTIPROC_ENV
from serving.settings import ServeSettings
from triage.artifact import read_manifest
from triage.resources import default_model_dir

log = logging.getLogger("triage.serving")

DEFAULT_FACTORY = "serving.app:create_app_from_env"
LOOPBACK = "127.0.0.1"
WORKER_HEALTHCHECK_S = 60


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
    read_manifest(settings.model_dir or default_model_dir())


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket for the worker processes to share.

    Created with ``IPPROTO_TCP`` as its protocol, unlike uvicorn's own multi-worker socket: asyncio sets
    TCP_NODELAY on accepted connections only when the listening socket says it is TCP. Without it,
    Nagle's algorithm and the client's delayed ACK added ~40 ms to every response with 2 workers
    (measured: /healthz 0.8 ms with 1 worker, 44 ms with 2 before this).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


def run_uvicorn(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does, with our socket for several workers; exits 3 when start-up failed."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        sock = bind_tcp(config.host, config.port)
        log.info(f"listening on http://{config.host}:{sock.getsockname()[1]} with {config.workers} workers")
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            sys.exit(STARTUP_FAILURE)
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def serve(settings: ServeSettings, *, factory: str = DEFAULT_FACTORY, preflight: bool = True) -> None:
    """Run uvicorn until SIGTERM / SIGINT. ``factory``: import string of the app factory the workers call."""
    config = log_config(settings.log_level)
    logging.config.dictConfig(config)
    host = bind_host(settings)
    workers = settings.resolved_workers()
    if preflight:
        check_model(settings)

    # Workers are fresh processes that read their settings from the environment (serving.app's factory).
    os.environ.update(settings.to_env())
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
            uvicorn.Config(
                factory,
                factory=True,
                host=host,
                port=settings.port,
                workers=workers,
                lifespan="on",
                log_config=config,
                access_log=False,  # the app writes its own request lines, without client addresses
                server_header=False,
                timeout_graceful_shutdown=int(settings.graceful_timeout_s),
                # The supervisor kills a worker that does not answer its ping in time. Loading the model
                # and the language detector holds the GIL for seconds on a busy small machine; 5 s
                # (uvicorn's default) killed every worker in a loop there.
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            )
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
