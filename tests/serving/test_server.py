"""A real uvicorn with two workers on a loopback port: concurrent load, merged metrics, SIGTERM drain."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.serving.conftest import PII, PII_POST

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    stderr: list[str]

    def log(self) -> str:
        return "".join(self.stderr)


def _start(tmp_path: Path, **env: str) -> Server:
    """Start ``tests.serving.fake_server`` (the real server around the fake model) with these TRIAGE_* variables."""
    port = _free_port()
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRIAGE_FAKE_CLASSIFIER": "1",
        "TRIAGE_HOST": "127.0.0.1",
        "TRIAGE_PORT": str(port),
        "TRIAGE_WORKERS": "2",
        "TRIAGE_API_KEYS": "",
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.db'}",
        **env,
    }
    full.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serving.fake_server"], cwd=ROOT, env=full, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,  # its own group: workers die with it
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    return Server(proc, f"http://127.0.0.1:{port}", lines)


def _records(server: Server) -> list[dict]:
    return [json.loads(line) for line in list(server.stderr) if line.startswith("{")]


def _wait_ready(server: Server, workers: int, seconds: float = 90) -> None:
    """Until every worker has logged "ready" and /readyz answers 200."""
    deadline = time.monotonic() + seconds
    while True:
        if server.proc.poll() is not None or time.monotonic() > deadline:
            _kill_group(server.proc)
            pytest.fail("the server did not become ready:\n" + server.log())
        if sum(r["msg"] == "ready" for r in _records(server)) >= workers:
            try:
                if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.2)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    # No API keys and 0.0.0.0: the server must fall back to 127.0.0.1 and say so.
    started = _start(tmp_path, TRIAGE_FAKE_DELAY_S="1.0", TRIAGE_HOST="0.0.0.0", TRIAGE_GRACEFUL_TIMEOUT_S="20")
    _wait_ready(started, 2)
    yield started
    _kill_group(started.proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the server and its worker processes (they would outlive a killed parent)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _metric(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_real_server_under_load_then_sigterm_drains(server: Server) -> None:
    # Concurrent load on two worker processes.
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda i: httpx.post(server.url + "/v1/triage",
                                                       json={"text": f"{PII_POST} {i}", "id": str(i)}, timeout=30),
                                                       range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    assert {r.json()["labels"]["intent"] for r in responses} == {"complaint"}
    assert all("[PHONE]" in r.json()["redacted_text"] for r in responses)

    # /metrics merges both workers' counts (prometheus_client multi-process mode).
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    assert _metric(metrics, "triage_http_requests_total", route="/v1/triage", status="200") == 12
    assert _metric(metrics, "triage_labels_total", head="intent", label="complaint") == 12

    # SIGTERM while requests are in flight: they all complete, then the server exits cleanly.
    def call(i: int) -> httpx.Response:
        return httpx.post(server.url + "/v1/triage", json={"text": f"slow thanks {i}"}, timeout=30)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(call, i) for i in range(6)]
        seen: list[float] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until all six are inside the server
            text = httpx.get(server.url + "/metrics", timeout=5).text
            seen.append(_metric(text, "triage_http_requests_in_flight"))
            if seen[-1] >= 7:  # six posts + this scrape
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"requests never got in flight: {seen}")
        server.proc.send_signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    assert [r.status_code for r in results] == [200] * 6
    assert all(r.json()["labels"]["intent"] == "praise" for r in results)
    assert server.proc.wait(30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=2)

    log = server.log()
    assert "refusing to bind to 0.0.0.0; binding to 127.0.0.1 only" in log
    for secret in PII:
        assert secret not in log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(records) == len(log.splitlines())  # every line is a JSON object
    access = [r for r in records if r["logger"] == "triage.serving.access" and r["route"] == "/v1/triage"]
    assert len(access) == 18 and {a["status"] for a in access} == {200}
    assert sum(r["msg"] == "stopped" for r in records) == 2  # both workers ran their lifespan shutdown


# --- Regressions from the serving issue (defects 2, 3 and 5) ---------------------------------------


def test_keep_alive_connections_spread_over_the_workers(server: Server) -> None:
    # 16 keep-alive clients all landed on one worker of two (one shared socket, the first worker to wake
    # accepted every connection). Each worker now listens on its own SO_REUSEPORT socket.
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(16)]
    try:
        with ThreadPoolExecutor(16) as pool:
            for _ in range(3):
                statuses = list(pool.map(lambda c: c.post("/v1/triage", json={"text": "thanks!"}).status_code, clients))
                assert statuses == [200] * 16
    finally:
        for c in clients:
            c.close()
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics", timeout=10).text
    per_worker = {
        s.labels["pid"]: s.value
        for family in text_string_to_metric_families(text) for s in family.samples if s.name == "triage_worker_requests"
    }
    assert len(per_worker) == 2, per_worker
    assert sum(per_worker.values()) >= 48 and min(per_worker.values()) >= 3, per_worker  # >= one connection each


def test_a_keys_file_serves(tmp_path: Path) -> None:
    # The reproduction: TRIAGE_API_KEYS_FILE made every worker crash in a loop (2 workers) or print
    # a pydantic traceback (1 worker), and the server never became ready. (Both had the same cause; the
    # loop itself is test_workers_that_cannot_start_stop_the_server_with_one_line.)
    workers = "1"
    from serving.keys import make_entry

    key, entry = make_entry("acme", "default")
    keys = tmp_path / "keys"
    keys.write_text(entry + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k.startswith("TRIAGE_")}
    server = _start(tmp_path, TRIAGE_WORKERS=workers, TRIAGE_API_KEYS_FILE=str(keys), **{k: "" for k in env})
    try:
        _wait_ready(server, int(workers))
        assert httpx.post(server.url + "/v1/triage", json={"text": "hi"}, headers={"x-api-key": key}).status_code == 200
        assert httpx.post(server.url + "/v1/triage", json={"text": "hi"}).status_code == 401
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
    finally:
        _kill_group(server.proc)
    assert "twice" not in server.log() and "Traceback" not in server.log()


def test_workers_that_cannot_start_stop_the_server_with_one_line(tmp_path: Path) -> None:
    server = _start(tmp_path, TRIAGE_FAKE_CRASH="1")
    try:
        assert server.proc.wait(60) == 2
    finally:
        _kill_group(server.proc)
    time.sleep(0.2)  # the reader thread collects the last lines
    lines = server.log().splitlines()
    assert lines[-1].startswith("error [worker_failed]: worker [") and "before it was ready" in lines[-1]
    assert all(line.startswith("{") for line in lines[:-1]), lines  # no raw traceback: JSON log lines only
    crashes = [r for r in _records(server) if r["msg"] == "worker crashed"]
    assert 1 <= len(crashes) <= 2 and "a start-up bug" in crashes[0]["exc"]  # each worker started once, no loop


def test_a_stuck_inference_restarts_its_worker_and_never_delays_sigterm(tmp_path: Path) -> None:
    server = _start(
        tmp_path, TRIAGE_WORKERS="1", TRIAGE_FAKE_DELAY_S="120", TRIAGE_REQUEST_TIMEOUT_S="0.5",
        TRIAGE_STUCK_AFTER_S="2", TRIAGE_GRACEFUL_TIMEOUT_S="2",
    )
    try:
        _wait_ready(server, 1)
        r = httpx.post(server.url + "/v1/triage", json={"text": "slow stuck"}, timeout=10)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        # The model call goes on: the worker is unready (its only slot is busy), then restarts itself.
        ready = httpx.get(server.url + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "inference_stuck"
        _wait_ready(server, 2)  # a second "ready": the fresh worker
        pids = [r["pid"] for r in _records(server) if r["msg"] == "ready"]
        assert len(set(pids)) == 2
        assert httpx.post(server.url + "/v1/triage", json={"text": "thanks"}, timeout=10).status_code == 200

        # Stuck again, then SIGTERM: the server is gone within the graceful timeout (2 s) plus the
        # supervisor's margin, not after the 120 s model call.
        assert httpx.post(server.url + "/v1/triage", json={"text": "slow again"}, timeout=10).status_code == 504
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        assert time.monotonic() - start < 2 + 3 + 2
    finally:
        _kill_group(server.proc)
    log = server.log()
    assert "recycling this worker" in log and "restarted itself after a stuck inference call" in log
