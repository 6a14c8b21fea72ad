"""The project's labels of real posts, joined back to texts that stay in ``../shared/datasets``.

Layout of ``data/real``::

    sample.jsonl                 the drawn posts: source, id, split, brand, stratum (no texts)
    labels/raw/<batch>.jsonl     one labeler's labels per line: source, id, intent, sentiment, urgency, note
    labels/adjudicated.jsonl     the final label where two labelers disagreed (with the reason)

A post's final label is the adjudicated one, else the labelers' (they agree, or only one labeled it).
:func:`agreement` gives the doubly labeled share and Cohen's kappa per head for the datasheet.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from training.real.sample import SampledPost, read_sample
from training.real.sources import RealPost, read_all

HEADS = ("intent", "sentiment", "urgency")
Key = tuple[str, str]


@dataclass(frozen=True)
class LabeledPost:
    """One real post with its final labels, its split (by brand) and its text."""

    post: RealPost
    sample: SampledPost
    labels: dict[str, str]

    @property
    def language(self) -> str:
        return "he" if self.post.source.startswith("he-") else "en"


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def raw_labels(folder: Path) -> dict[Key, list[dict[str, str]]]:
    """Every labeler's labels, by (source, id), in batch-file order."""
    out: dict[Key, list[dict[str, str]]] = defaultdict(list)
    for path in sorted((folder / "labels" / "raw").glob("*.jsonl")):
        for row in _read_jsonl(path):
            out[(row["source"], row["id"])].append({h: row[h] for h in HEADS} | {"batch": path.stem})
    return out


def final_labels(folder: Path) -> dict[Key, dict[str, str]]:
    """The label each post trains and tests with: adjudicated, else the (agreeing or single) labeler's."""
    raw = raw_labels(folder)
    adjudicated_path = folder / "labels" / "adjudicated.jsonl"
    adjudicated = {(r["source"], r["id"]): {h: r[h] for h in HEADS}
                   for r in (_read_jsonl(adjudicated_path) if adjudicated_path.is_file() else [])}
    out: dict[Key, dict[str, str]] = {}
    for key, votes in raw.items():
        if key in adjudicated:
            out[key] = adjudicated[key]
            continue
        first = {h: votes[0][h] for h in HEADS}
        if any({h: v[h] for h in HEADS} != first for v in votes[1:]):
            raise ValueError(f"{key}: labelers disagree and there is no adjudicated label in {adjudicated_path}")
        out[key] = first
    return out


def labeled_posts(folder: Path, shared: Path) -> list[LabeledPost]:
    """The labeled sample, in sample order, with texts from ``shared`` (``../shared/datasets``)."""
    labels = final_labels(folder)
    texts = read_all(shared)
    out = []
    for sampled in read_sample(folder / "sample.jsonl"):
        key = (sampled.source, sampled.id)
        if key in labels:
            out.append(LabeledPost(texts[key], sampled, labels[key]))
    return out


def agreement(folder: Path) -> dict[str, dict[str, float]]:
    """Per language and head: doubly labeled posts, raw agreement and Cohen's kappa (before adjudication)."""
    pairs: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = defaultdict(list)
    for (source, _), votes in raw_labels(folder).items():
        if len(votes) >= 2:
            pairs["he" if source.startswith("he-") else "en"].append((votes[0], votes[1]))
    out: dict[str, dict[str, float]] = {}
    for language, items in sorted(pairs.items()):
        for head in HEADS:
            a = [x[head] for x, _ in items]
            b = [y[head] for _, y in items]
            out[f"{language}/{head}"] = {"n": len(a), "agreement": _observed(a, b), "kappa": cohen_kappa(a, b)}
    return out


def _observed(a: list[str], b: list[str]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 0.0


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """(p_o - p_e) / (1 - p_e) with each labeler's own label distribution."""
    n = len(a)
    if n == 0:
        return 0.0
    p_o = _observed(a, b)
    labels = set(a) | set(b)
    p_e = sum((a.count(lab) / n) * (b.count(lab) / n) for lab in labels)
    return 1.0 if p_e == 1.0 else (p_o - p_e) / (1.0 - p_e)
