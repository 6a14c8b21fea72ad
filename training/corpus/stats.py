"""Datasheet statistics: counts per head x language, diversity, and nearest-neighbour similarity.

Diversity is measured, not claimed: the distinct word-trigram ratio (distinct trigrams / all trigrams)
per label and per language shows whether posts were stamped out of templates (low ratio), and the
distribution of each post's highest cosine similarity to any other post (same encoder as the model)
shows how close the nearest neighbours are.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from training.corpus.records import SPLITS, CorpusRecord, load_split

_WORDS = re.compile(r"\w+", re.UNICODE)


def distinct_trigram_ratio(texts: list[str]) -> float:
    grams: list[tuple[str, ...]] = []
    for t in texts:
        w = _WORDS.findall(t.lower())
        grams += [tuple(w[i : i + 3]) for i in range(len(w) - 2)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0


def load_all(corpus_dir: Path) -> dict[str, list[CorpusRecord]]:
    return {s: load_split(corpus_dir, s) for s in SPLITS}


def corpus_stats(corpus_dir: Path, embeddings: np.ndarray | None = None) -> dict:
    splits = load_all(corpus_dir)
    rows = [r for s in SPLITS for r in splits[s]]
    out: dict = {"total": len(rows), "splits": {s: len(v) for s, v in splits.items()}}
    out["languages"] = dict(Counter(r.language for r in rows).most_common())
    out["mixed"] = sum(r.mixed for r in rows)
    out["by_head_language"] = {
        head: {
            lang: dict(Counter(getattr(r, head) for r in rows if r.language == lang).most_common())
            for lang in out["languages"]
        }
        for head in ("intent", "sentiment", "urgency")
    }
    out["by_head"] = {head: dict(Counter(getattr(r, head) for r in rows).most_common()) for head in ("intent", "sentiment", "urgency")}
    out["by_split_head"] = {
        s: {head: dict(Counter(getattr(r, head) for r in splits[s]).most_common()) for head in ("intent", "urgency")}
        for s in SPLITS
    }
    out["sectors"] = dict(Counter(r.sector for r in rows).most_common())
    out["channels"] = dict(Counter(r.channel for r in rows).most_common())
    out["entities"] = dict(Counter(e.type for r in rows for e in r.entities).most_common())
    out["posts_with_entities"] = sum(bool(r.entities) for r in rows)
    by_label: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        for head in ("intent", "sentiment", "urgency"):
            by_label[f"{head}={getattr(r, head)}"].append(r.text)
    out["distinct_trigram_ratio"] = {
        "all": distinct_trigram_ratio([r.text for r in rows]),
        "by_language": {lang: distinct_trigram_ratio([r.text for r in rows if r.language == lang]) for lang in out["languages"]},
        "by_label": {k: distinct_trigram_ratio(v) for k, v in sorted(by_label.items())},
    }
    lengths = np.array([len(_WORDS.findall(r.text)) for r in rows])
    out["words_per_post"] = {p: int(np.percentile(lengths, q)) for p, q in (("p5", 5), ("p50", 50), ("p95", 95), ("max", 100))}
    if embeddings is None:
        from training.corpus.build import embed_texts

        embeddings = embed_texts([r.text for r in rows])
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -1.0)
    nearest = sims.max(axis=1)
    out["nearest_neighbour_cosine"] = {
        f"p{q}": round(float(np.percentile(nearest, q)), 4) for q in (5, 25, 50, 75, 95, 99)
    } | {"max": round(float(nearest.max()), 4), "share_over_0.95": round(float((nearest > 0.95).mean()), 4)}
    return out


def stats_markdown(stats: dict) -> str:
    """The datasheet's tables, generated from ``corpus_stats``."""
    lines = [f"Total posts: **{stats['total']}** (train {stats['splits']['train']}, dev {stats['splits']['dev']}, test {stats['splits']['test']}); mixed Hebrew-English: {stats['mixed']}.", ""]
    langs = list(stats["languages"])
    for head in ("intent", "sentiment", "urgency"):
        labels = list(stats["by_head"][head])
        lines += [f"### {head} x language", "", "| label | " + " | ".join(langs) + " | all |", "|---|" + "---|" * (len(langs) + 1)]
        for lab in labels:
            cells = [str(stats["by_head_language"][head][lg].get(lab, 0)) for lg in langs]
            lines.append(f"| {lab} | " + " | ".join(cells) + f" | {stats['by_head'][head][lab]} |")
        lines.append("| **all** | " + " | ".join(str(stats["languages"][lg]) for lg in langs) + f" | {stats['total']} |")
        lines.append("")
    d = stats["distinct_trigram_ratio"]
    lines += ["### Diversity (distinct word-trigram ratio)", "", f"All posts: {d['all']}", "", "| language | ratio |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in d["by_language"].items()]
    lines += ["", "| label | ratio |", "|---|---|"] + [f"| {k} | {v} |" for k, v in d["by_label"].items()]
    nn = stats["nearest_neighbour_cosine"]
    lines += ["", "### Nearest-neighbour cosine (multilingual-e5-small, after de-duplication)", "", "| " + " | ".join(nn) + " |", "|" + "---|" * len(nn), "| " + " | ".join(str(v) for v in nn.values()) + " |", ""]
    lines += ["### Entities (computed by the entity stage)", "", "| type | spans |", "|---|---|"] + [f"| {k} | {v} |" for k, v in stats["entities"].items()]
    lines += ["", f"Posts with at least one entity: {stats['posts_with_entities']}", ""]
    lines += ["### Sectors", "", "| sector | posts |", "|---|---|"] + [f"| {k} | {v} |" for k, v in stats["sectors"].items()]
    lines += ["", "### Channels", "", "| channel | posts |", "|---|---|"] + [f"| {k} | {v} |" for k, v in stats["channels"].items()]
    lines += ["", f"Words per post: {stats['words_per_post']}", ""]
    return "\n".join(lines)
