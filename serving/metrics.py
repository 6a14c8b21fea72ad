"""Prometheus metrics, in a registry of the app's own (so apps in one test process never share counts).

With several worker processes each worker counts in its own memory, and a scrape reaches one worker at
random. ``serving.server`` therefore points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before
starting workers; prometheus_client then keeps the values in files there and ``render`` merges every
worker's values. Label values are route templates, heads, labels and error codes only: no text, no ids.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from triage.types import TriageResult

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The service's metrics. ``observe_results`` counts labels; the middleware counts requests."""

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard here uses them.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        r = self.registry
        self.requests = Counter(
            "triage_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds", "Time from the request's arrival to its response, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge(
            "triage_http_requests_in_flight", "Requests being handled now.", registry=r, multiprocess_mode="livesum"
        )
        self.errors = Counter("triage_errors", "Error responses by stable error code.", ["code"], registry=r)
        self.labels = Counter("triage_labels", "Predicted labels by head.", ["head", "label"], registry=r)
        self.uncertain = Counter(
            "triage_uncertain", "Predictions below their head's confidence threshold or margin.", ["head"], registry=r
        )
        self.batch_size = Histogram(
            "triage_inference_batch_size", "Posts per model call (batch requests and micro-batches).",
            buckets=BATCH_BUCKETS, registry=r,
        )
        self.inference_seconds = Histogram(
            "triage_inference_duration_seconds", "Time of one engine call, whatever its batch size.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        # Per worker process (a ``pid`` label in multi-process mode): shows how connections spread over
        # the workers (bench/speed/http_load.py reports it). Kept after a worker exits, like a counter.
        self.worker_requests = Gauge(
            "triage_worker_requests", "HTTP requests handled by this worker process since it started.",
            registry=r, multiprocess_mode="all",
        )
        self.feedback = Counter("triage_feedback", "Stored feedback corrections by head.", ["head"], registry=r)
        self.model_info = Gauge(
            "triage_model_info", "1 for the loaded model's version and schema.", ["version", "schema"],
            registry=r, multiprocess_mode="max",
        )

    def observe_results(self, results: list[TriageResult]) -> None:
        for result in results:
            for head, pred in result.heads.items():
                self.labels.labels(head, pred.label).inc()
                if pred.uncertain:
                    self.uncertain.labels(head).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text: this registry, or every worker's values in multi-process mode."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def mark_process_dead(self) -> None:
        """Drop this process's live gauges from the shared folder when the worker stops."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)
