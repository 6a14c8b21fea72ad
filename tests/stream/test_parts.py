"""The detector's parts: tail probabilities, stated counts, text signatures, clusters, import hygiene."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from triage.stream.clusters import ClusterIndex
from triage.stream.config import DetectorConfig
from triage.stream.stats import nb_tail, poisson_tail
from triage.stream.textsig import jaccard_estimates, minhash, normalise_for_signature
from triage.stream.virality import stated_counts

STREAM = Path(__file__).resolve().parents[2] / "triage" / "stream"


def _direct_poisson_tail(n: int, mu: float) -> float:
    return 1.0 - sum(math.exp(-mu) * mu**k / math.factorial(k) for k in range(n))


@pytest.mark.parametrize(("n", "mu"), [(5, 1.0), (12, 3.0), (30, 10.0), (3, 0.2)])
def test_poisson_tail_matches_the_direct_sum(n: int, mu: float) -> None:
    assert poisson_tail(n, mu) == pytest.approx(_direct_poisson_tail(n, mu), rel=1e-9)


def test_negative_binomial_tail_is_heavier_and_tends_to_poisson() -> None:
    assert nb_tail(30, 10.0, 1e-9) == pytest.approx(poisson_tail(30, 10.0), rel=1e-6)
    assert nb_tail(30, 10.0, 0.05) > poisson_tail(30, 10.0)
    assert nb_tail(5, 8.0, 0.05) == 1.0  # at or below the mean: never an alarm
    assert nb_tail(6, 0.0, 0.05) == 0.0


def test_tiny_tails_do_not_underflow_to_garbage() -> None:
    p = poisson_tail(200, 1.0)
    assert 0.0 <= p < 1e-300 or p == 0.0


@pytest.mark.parametrize(("text", "expected"), [
    ("already 2,000 shares on this", {"shares": 2000}),
    ("כבר 2,000 שיתופים לפוסט", {"shares": 2000}),
    ("הפוסט עם 12 אלף צפיות", {"views": 12000}),
    ("10k views lol", {"views": 10000}),
    ("this has 3.5k likes", {"likes": 3500}),
    ("уже 3000 репостов", {"shares": 3000}),
    ("order 4471902 shipped", {}),
    ("I shared it 3 times", {}),
])
def test_stated_counts(text: str, expected: dict[str, int]) -> None:
    assert stated_counts(text) == expected


def test_text_signature_normalisation_and_similarity() -> None:
    assert normalise_for_signature("Outage in HAIFA!!! 052-1234567") == "outage in haifa 000 0000000"
    a = minhash("Is there an outage in Haifa? whole street is down since 10:00")
    b = minhash("is there an outage in haifa?? whole street is down since 11:30!!")
    c = minhash("Thanks to Sarah on the phone, amazing service")
    sims = jaccard_estimates(np.stack([b, c]), a)
    assert sims[0] > 0.6 > 0.2 > sims[1]


def test_clusters_are_bounded_and_never_evict_an_open_incident() -> None:
    cfg = DetectorConfig(max_clusters=8)
    index = ClusterIndex()
    rng = np.random.default_rng(0)
    first, _ = index.assign(rng.standard_normal(16), "", 0.0, cfg=cfg, protected=())
    for t in range(1, 30):
        index.assign(rng.standard_normal(16), "", float(t), cfg=cfg, protected={first})
    assert len(index.embeddings.ids) == 8
    assert first in index.embeddings.ids


def test_clusters_expire() -> None:
    cfg = DetectorConfig()
    index = ClusterIndex()
    index.assign(np.ones(8), "", 0.0, cfg=cfg, protected=())
    index.assign(None, "a post without an embedding", 100.0, cfg=cfg, protected=())
    assert index.expire(50.0, protected=()) == ["e0"]
    assert index.texts.ids == ["t1"]


def test_the_stream_package_imports_only_numpy_pydantic_and_triage() -> None:
    allowed = {"numpy", "pydantic", "triage", "__future__"}
    stdlib = {"base64", "bisect", "collections", "dataclasses", "datetime", "functools", "hashlib", "json",
              "logging", "math", "re", "threading", "typing", "unicodedata", "zlib", "zoneinfo"}
    found = set()
    for path in STREAM.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    assert found - allowed - stdlib == set()
