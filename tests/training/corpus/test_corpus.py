from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.corpus.build import build_corpus, near_duplicates
from training.corpus.check import Minimums, check_corpus
from training.corpus.records import SPLITS, dedup_key
from training.corpus.stats import distinct_trigram_ratio

ROOT = Path(__file__).resolve().parents[3]

RAW = [
    ("שבועיים מחכה לחבילה ואף אחד לא עונה, הזמנה 4471902", "he", "complaint", "negative", "normal"),
    ("תחזרו אליי בבקשה לגבי ההזמנה, טלפון 052-3456789", "he", "request", "neutral", "normal"),
    ("כמה עולה החבילה של הסיבים?", "he", "purchase_intent", "neutral", "normal"),
    ("תודה לנציגה שרית, שירות מדהים!", "he", "praise", "positive", "low"),
    ("Charged twice this month. Again.", "en", "complaint", "negative", "high"),
    ("Cancel my subscription now", "en", "churn_risk", "negative", "high"),
    ("How do I reset my router?", "en", "question", "neutral", "normal"),
    ("Follow me for free crypto", "en", "spam", "neutral", "low"),
    ("first!", "en", "other", "neutral", "low"),
    ("Bring back the old menu please", "en", "suggestion", "neutral", "low"),
    ("FIRST !!", "en", "other", "neutral", "low"),  # an exact duplicate up to case and punctuation
]


def _write_raw(folder: Path) -> None:
    folder.mkdir()
    with (folder / "batch.jsonl").open("w", encoding="utf-8") as fh:
        for text, lang, intent, sentiment, urgency in RAW:
            row = {"text": text, "language": lang, "mixed": False, "intent": intent, "sentiment": sentiment,
                   "urgency": urgency, "channel": "facebook", "sector": "telecom"}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _orthogonal(n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)


@pytest.fixture()
def built(tmp_path: Path, default_schema) -> Path:
    _write_raw(tmp_path / "raw")
    report = build_corpus(tmp_path / "raw", tmp_path / "corpus", default_schema, embeddings=_orthogonal(len(RAW) - 1))
    assert report.exact_duplicates == 1 and report.rejected == []
    return tmp_path / "corpus"


def test_build_then_check_passes_and_is_deterministic(built: Path, tmp_path: Path, default_schema) -> None:
    report = check_corpus(built, default_schema)
    assert report.ok, report.problems
    assert report.rows == len(RAW) - 1
    first = {s: (built / f"{s}.jsonl").read_bytes() for s in SPLITS}
    build_corpus(tmp_path / "raw", tmp_path / "again", default_schema, embeddings=_orthogonal(len(RAW) - 1))
    assert first == {s: (tmp_path / "again" / f"{s}.jsonl").read_bytes() for s in SPLITS}


def test_entities_are_computed_with_offsets(built: Path) -> None:
    rows = [json.loads(line) for s in SPLITS for line in (built / f"{s}.jsonl").open(encoding="utf-8")]
    row = next(r for r in rows if "052-3456789" in r["text"])
    assert [(e["type"], row["text"][e["start"] : e["end"]]) for e in row["entities"]] == [("phone", "052-3456789")]


def _mutate(corpus: Path, fn) -> None:
    path = corpus / "train.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    fn(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda rows: rows[0].update(intent="complant"), "unknown intent label"),
        (lambda rows: rows.append(dict(rows[0])), "duplicate"),
        (lambda rows: rows[0].update(entities=[{"type": "phone", "start": 0, "end": 3, "text": "xyz"}]), "span"),
        (lambda rows: rows[0].pop("sector"), "sector"),
    ],
)
def test_check_fails_loudly(built: Path, default_schema, mutation, message: str) -> None:
    _mutate(built, mutation)
    report = check_corpus(built, default_schema)
    assert not report.ok and any(message in p for p in report.problems), report.problems


def test_check_catches_split_leakage(built: Path, default_schema) -> None:
    train = [json.loads(line) for line in (built / "train.jsonl").open(encoding="utf-8")]
    leaked = dict(train[0], id="p-000000000000")
    with (built / "test.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(leaked, ensure_ascii=False) + "\n")
    report = check_corpus(built, default_schema)
    assert any("leaks across splits" in p for p in report.problems)


def test_check_reports_broken_json_with_its_line(built: Path, default_schema) -> None:
    with (built / "dev.jsonl").open("ab") as fh:
        fh.write(b'{"id": "p-\xff broken\n')
    report = check_corpus(built, default_schema)
    assert any("dev.jsonl" in p and "not a valid UTF-8 JSON line" in p for p in report.problems)


def test_minimums_are_enforced(built: Path, default_schema) -> None:
    report = check_corpus(built, default_schema, Minimums())
    assert any("at least 5000" in p for p in report.problems)


def test_near_duplicates_need_both_meaning_and_wording() -> None:
    texts = ["עד מתי פתוח המוקד בשישי?", "עד מתי פתוח המוקד ביום שישי?", "lol same", "lmao same"]
    vectors = np.array([[1, 0, 0], [0.99, 0.141, 0], [0, 1, 0], [0, 0.97, 0.243]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert near_duplicates(texts, vectors) == {1}


def test_dedup_key_and_diversity_measure() -> None:
    assert dedup_key("FIRST !!") == dedup_key("first") and dedup_key("order 123") == dedup_key("Order 999")
    assert distinct_trigram_ratio(["a b c d", "a b c d"]) == 0.5


def test_the_shipped_corpus_passes_the_check(default_schema) -> None:
    corpus = ROOT / "data" / "corpus"
    if not (corpus / "train.jsonl").is_file():
        pytest.fail("data/corpus is missing: run `triage data build`")
    report = check_corpus(corpus, default_schema, Minimums())
    assert report.ok, report.problems[:20]
