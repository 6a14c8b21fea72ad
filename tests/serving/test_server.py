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


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRIAGE_FAKE_CLASSIFIER": "1",
        "TRIAGE_FAKE_DELAY_S": "1.0",
        "TRIAGE_HOST": "0.0.0.0",  # no API keys: the server must fall back to 127.0.0.1 and say so
        "TRIAGE_PORT": str(port),
        "TRIAGE_WORKERS": "2",
        "TRIAGE_API_KEYS": "",
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.db'}",
        "TRIAGE_GRACEFUL_TIMEOUT_S": "20",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serving.fake_server"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,  # its own group: workers die with it
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    ready = 0
    while ready < 4:  # both workers answer readiness (the OS spreads connections between them)
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill_group(proc)
            pytest.fail("the server did not become ready:\n" + "".join(lines))
        try:
            ready += httpx.get(url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            time.sleep(0.2)
    yield Server(proc, url, lines)
    _kill_group(proc)


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
        responses = list(pool.map(lambda i: httpx.post(server.url + "/v1/triage", json={"text": f"{PII_POST} {i}", "id": str(i)}, timeout=30), range(12)))
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
