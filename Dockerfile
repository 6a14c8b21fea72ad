# syntax=docker/dockerfile:1
# The triage scoring service: onnxruntime, no torch, the default model inside, a non-root user.
#
#   docker build -t triage .
#   docker run --rm -p 8000:8000 -e TRIAGE_API_KEYS="acme:<sha256 of the key>" triage
#
# Without API keys the server binds to 127.0.0.1 inside the container (unreachable from outside) and
# says so in its log: create a key with `triage serve hash-key --tenant acme` (docs/SERVING.md).
# tests/serving/test_docker.py lints this file with hadolint and keeps it in step with pyproject.toml.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- build: install the package with the serve extra into a virtual environment ------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only what the package build needs, so that editing tests or docs does not invalidate this layer.
COPY pyproject.toml README.md ./
COPY triage ./triage
COPY serving ./serving
COPY store ./store
COPY learning ./learning
COPY triage_cli ./triage_cli
# The same extra CI installs for serving, and nothing of train (no torch, no transformers).
# DL3013: pyproject.toml pins every direct dependency with == (tests/serving/test_docker.py checks it).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[serve]" \
    && python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)"

# ---- runtime: the virtual environment, the data the engine reads, the default model --------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="triage" \
      org.opencontainers.image.description="NLP triage for social customer care (Hebrew/English first)" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRIAGE_HOME=/opt/triage \
    TRIAGE_HOST=0.0.0.0 \
    TRIAGE_PORT=8000 \
    TRIAGE_THREADS=1 \
    TRIAGE_DATABASE_URL=sqlite:////var/lib/triage/feedback.db
RUN groupadd --system --gid 10001 triage \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin triage \
    && mkdir -p /var/lib/triage \
    && chown triage:triage /var/lib/triage
COPY --from=build /opt/venv /opt/venv
COPY data/schemas /opt/triage/data/schemas
COPY data/policies /opt/triage/data/policies
COPY data/replies /opt/triage/data/replies
COPY models/default /opt/triage/models/default
WORKDIR /var/lib/triage
VOLUME ["/var/lib/triage"]
USER 10001:10001
EXPOSE 8000
# Ready once every worker has loaded and warmed up the model (allow for that at start-up).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('TRIAGE_PORT', '8000'), timeout=4)"]
# On SIGTERM the workers drain in-flight requests (TRIAGE_GRACEFUL_TIMEOUT_S, 30 s by default); a worker
# still running 3 s later is killed by the server itself: `docker stop -t 35` leaves it time to finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["triage", "serve"]
