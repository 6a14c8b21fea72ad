"""Inference that keeps running after its request timed out: readiness says so, stopping never waits on it.

The in-process half (TestClient); tests/serving/test_server.py runs the real server with a stuck model
call (the worker restarts itself, SIGTERM still stops the server in time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from fastapi.testclient import TestClient

from serving.pool import InferencePool
from tests.serving.conftest import assert_error, engine_with
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine


class _Sleepy(FakeClassifier):
    """Sleeps ``delay_s`` on texts containing "slow"; ``release`` ends the sleep early."""

    delay_s = 1.2

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.release = threading.Event()

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        if any("slow" in t for t in texts):
            self.release.wait(self.delay_s)
        return super().predict(texts)


def _wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_readiness_is_503_while_a_timed_out_call_still_holds_the_only_slot(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema
) -> None:
    model = _Sleepy(default_schema)
    client = make_client(engine=engine_with(shared_engine, classifier=model), request_timeout_s=0.2, stuck_after_s=0.6)
    assert client.get("/readyz").status_code == 200
    assert_error(client.post("/v1/triage", json={"text": "slow one"}), 504, "timeout")
    # The 504 did not stop the model call: the worker's only slot stays busy past the timeout.
    assert _wait_for(lambda: client.get("/readyz").status_code == 503, 1.0)
    body = assert_error(client.get("/readyz"), 503, "inference_stuck")
    assert "busy" in body["error"]["message"] or "running" in body["error"]["message"]
    assert _wait_for(lambda: "running for" in client.get("/readyz").json()["error"]["message"], 1.0)
    model.release.set()  # the call ends: ready again
    assert _wait_for(lambda: client.get("/readyz").status_code == 200, 2.0)
    assert client.post("/v1/triage", json={"text": "fast now"}).status_code == 200


def test_stopping_does_not_wait_for_a_stuck_call(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema
) -> None:
    model = _Sleepy(default_schema)
    model.delay_s = 30.0
    client = make_client(engine=engine_with(shared_engine, classifier=model), request_timeout_s=0.2)
    assert_error(client.post("/v1/triage", json={"text": "slow and stuck"}), 504, "timeout")
    start = time.perf_counter()
    client.__exit__(None, None, None)  # the lifespan's shutdown: it used to wait for the 30 s call
    try:
        assert time.perf_counter() - start < 3.0
    finally:
        model.release.set()


def test_pool_close_is_bounded_and_cancels_queued_calls() -> None:
    pool = InferencePool(1)
    gate = threading.Event()
    running = pool.submit(gate.wait, 30)
    assert _wait_for(lambda: len(pool.running_since()) == 1, 2.0)
    queued = pool.submit(time.sleep, 0)
    start = time.perf_counter()
    assert pool.close(0.2) == 1  # one call abandoned, still running in its daemon thread
    assert time.perf_counter() - start < 1.0
    assert queued.cancelled() and not running.done()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(time.sleep, 0)
    gate.set()
    assert running.result(2) is True


def test_pool_reports_what_runs() -> None:
    pool = InferencePool(2)
    gate = threading.Event()
    calls = [pool.submit(gate.wait, 5) for _ in range(2)]
    assert _wait_for(lambda: len(pool.running_since()) == 2, 2.0)
    started = pool.running_since()
    assert started == sorted(started) and time.monotonic() - started[0] < 2.0
    gate.set()
    assert [c.result(2) for c in calls] == [True, True]
    assert _wait_for(lambda: pool.running_since() == [], 1.0)
    assert pool.close(1.0) == 0
