"""Prometheus metrics: requests, latency, labels, errors, batch sizes; one registry per app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.schemas import ENGLISH_CHURN, HEBREW_COMPLAINT


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_labels_errors_and_batches_are_counted(client: TestClient) -> None:
    client.post("/v1/triage", json={"text": HEBREW_COMPLAINT})
    client.post("/v1/triage", json={"text": ENGLISH_CHURN})
    client.post("/v1/triage/batch", json={"posts": [{"text": "תודה!"}, {"text": "thanks"}, {"text": "hmm"}]})
    client.post("/v1/triage", json={"text": ""})
    client.post("/v1/triage", content=b"{", headers={"content-type": "application/json"})
    client.get("/nope")
    s = _samples(client)
    assert _value(s, "triage_http_requests_total", route="/v1/triage", method="POST", status="200") == 2
    assert _value(s, "triage_http_requests_total", route="/v1/triage/batch", method="POST", status="200") == 1
    assert _value(s, "triage_http_requests_total", route="/v1/triage", method="POST", status="422") == 1
    assert _value(s, "triage_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert _value(s, "triage_http_request_duration_seconds_count", route="/v1/triage") == 4
    assert _value(s, "triage_labels_total", head="intent", label="complaint") == 1
    assert _value(s, "triage_labels_total", head="intent", label="churn_risk") == 1
    assert _value(s, "triage_labels_total", head="intent", label="praise") == 2
    assert sum(v for (n, lab), v in s.items() if n == "triage_labels_total" and ("head", "urgency") in lab) == 5
    assert _value(s, "triage_errors_total", code="empty_text") == 1
    assert _value(s, "triage_errors_total", code="malformed_json") == 1
    assert _value(s, "triage_errors_total", code="not_found") == 1
    assert _value(s, "triage_inference_batch_size_count") == 3
    assert _value(s, "triage_inference_batch_size_sum") == 5
    assert _value(s, "triage_inference_duration_seconds_count") == 3
    assert _value(s, "triage_model_info", version="fake-0", schema="default") == 1
    assert _value(s, "triage_http_requests_in_flight") == 1  # the scrape itself


def test_each_app_has_its_own_registry(make_client: Callable[..., TestClient]) -> None:
    a, b = make_client(), make_client()
    a.post("/v1/triage", json={"text": "hello"})
    assert _value(_samples(a), "triage_http_requests_total", route="/v1/triage", method="POST", status="200") == 1
    assert _value(_samples(b), "triage_http_requests_total", route="/v1/triage", method="POST", status="200") == 0


def test_feedback_is_counted_by_head(client: TestClient) -> None:
    client.post("/v1/feedback", json={"post_id": "p", "head": "intent", "label": "praise", "text": "thanks"})
    assert _value(_samples(client), "triage_feedback_total", head="intent") == 1
