"""Datasheet statistics: counts per head x language, diversity, and nearest-neighbour similarity.

Diversity is measured, not claimed: the distinct word-trigram ratio (distinct trigrams / all trigrams)
per label and per language shows whether posts were stamped out of templates (low ratio), and the
distribution of each post's highest cosine similarity to any other post (same encoder as the model)
shows how close the nearest neighbours are.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from training.corpus.records import SPLITS, CorpusRecord, is_v2, load_split, words


def distinct_trigram_ratio(texts: list[str]) -> float:
    grams: list[tuple[str, ...]] = []
    for t in texts:
        w = words(t.lower())
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
    out["by_head"] = {head: dict(Counter(getattr(r, head) for r in rows).most_common())
                      for head in ("intent", "sentiment", "urgency")}
    out["by_split_head"] = {
        s: {head: dict(Counter(getattr(r, head) for r in splits[s]).most_common()) for head in ("intent", "urgency")}
        for s in SPLITS
    }
    out["v2"] = v2_counts(rows)
    out["shortcuts"] = shortcut_report(rows)
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
        "by_language": {lang: distinct_trigram_ratio([r.text for r in rows if r.language == lang])
                        for lang in out["languages"]},
        "by_label": {k: distinct_trigram_ratio(v) for k, v in sorted(by_label.items())},
    }
    lengths = np.array([len(words(r.text)) for r in rows])
    out["words_per_post"] = {p: int(np.percentile(lengths, q)) for p, q in (("p5", 5), ("p50", 50), ("p95", 95),
                                                                            ("max", 100))}
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
    lines = [f"Total posts: **{stats['total']}** (train {stats['splits']['train']}, dev {stats['splits']['dev']}, test "
             f"{stats['splits']['test']}); mixed Hebrew-English: {stats['mixed']}.", ""]
    langs = list(stats["languages"])
    for head in ("intent", "sentiment", "urgency"):
        labels = list(stats["by_head"][head])
        lines += [f"### {head} x language", "", "| label | " + " | ".join(langs) + " | all |",
                  "|---|" + "---|" * (len(langs) + 1)]
        for lab in labels:
            cells = [str(stats["by_head_language"][head][lg].get(lab, 0)) for lg in langs]
            lines.append(f"| {lab} | " + " | ".join(cells) + f" | {stats['by_head'][head][lab]} |")
        lines.append("| **all** | " + " | ".join(str(stats["languages"][lg]) for lg in langs)
                     + f" | {stats['total']} |")
        lines.append("")
    d = stats["distinct_trigram_ratio"]
    lines += ["### Diversity (distinct word-trigram ratio)", "", f"All posts: {d['all']}", "", "| language | ratio |",
              "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in d["by_language"].items()]
    lines += ["", "| label | ratio |", "|---|---|"] + [f"| {k} | {v} |" for k, v in d["by_label"].items()]
    nn = stats["nearest_neighbour_cosine"]
    lines += ["", "### Nearest-neighbour cosine (multilingual-e5-small, after de-duplication)", "",
              "| " + " | ".join(nn) + " |", "|" + "---|" * len(nn),
              "| " + " | ".join(str(v) for v in nn.values()) + " |", ""]
    lines += ["### Entities (computed by the entity stage)", "", "| type | spans |",
              "|---|---|"] + [f"| {k} | {v} |" for k, v in stats["entities"].items()]
    lines += ["", f"Posts with at least one entity: {stats['posts_with_entities']}", ""]
    lines += ["### Sectors", "", "| sector | posts |", "|---|---|"] + [f"| {k} | {v} |"
                                                                       for k, v in stats["sectors"].items()]
    lines += ["", "### Channels", "", "| channel | posts |", "|---|---|"] + [f"| {k} | {v} |"
                                                                             for k, v in stats["channels"].items()]
    lines += ["", f"Words per post: {stats['words_per_post']}", ""]
    if stats.get("shortcuts"):
        lines += shortcuts_markdown(stats["shortcuts"])
    if stats.get("v2", {}).get("posts"):
        v2 = stats["v2"]
        lines += ["### Corpus v2", "", f"v2 posts: {v2['posts']} (v1: {v2['v1_posts']}); batches {v2['batches']}; "
                  f"scenario groups {v2['scenario_groups']} (sizes {v2['group_sizes']}); translit {v2['translit']}; "
                  f"with a parent {v2['with_parent']}", "", "| kind | posts |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in v2["kinds"].items()] + [""]
    return "\n".join(lines)


# Shortcut measures ------------------------------------------------------------------------------------------
#
# Each measures one way the v1 corpus let a model cheat or misled it about real posts. They take plain dicts
# with ``text, language, intent, sentiment, urgency`` so that the datasheet can compare v1 alone (before)
# with v1 + v2 (after), and tests can feed small synthetic inputs.

SHORT_WORDS = 4  # "posts with <= 4 words are `other`"
TERSE_WORDS = 5  # "at least 25 % of the posts of every intent have <= 5 words"
LONG_COMPLAINT_WORDS = 16
PURE_MIN_COUNT = 15
PURE_SHARE = 0.9
# The label-pure words the v1 measurement named (data/README.md), followed one by one.
WATCH_WORDS = ("מבטל", "כדאי", "תוסיפו", "רעיון", "עולה", "https")
_URLISH = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|@[\w.]+|#\w+|\b[\w-]+\.(?:com|co\.il|me|ly|io|win|net|org|top)\S*")
_LETTER_FLOOD = re.compile(r"([^\W\d_חx])\1{2,}", re.IGNORECASE)  # "למההההה", "pleaseeee"; not laughter (חחח) or xxx
_PUNCT_FLOOD = re.compile(r"[!?]{3,}")
_MISSING_SPACE = re.compile(r"[^\W\d_]{2}[,.!?][^\W\d_]{2}")  # "אתמול,אין"; not "ת.ז" or "e.g"
_HE_LETTER = "\u05d0-\u05ea"
_QUOTE_SINGLE = re.compile(rf"(?:^|(?<=[\s:(]))['‘׳][{_HE_LETTER}][^\n]*?['’׳](?=[\s.,!?:;)…]|$)")
_QUOTE_DOUBLE = re.compile(rf"(?:^|(?<=[\s:(]))[\"“״][{_HE_LETTER}][^\n]*?[\"”״](?=[\s.,!?:;)…]|$)")
_HANDLE = re.compile(r"@([\w.]+)")
_GREETING = re.compile(
    r"\b(?:שלום|היי|הי|אהלן|בוקר טוב|ערב טוב|לילה טוב|צהריים טובים|שבת שלום|שבוע טוב|חג שמח|שנה טובה|מועדים לשמחה"
    r"|hello|hi|hey|good (?:morning|evening|night)|happy \w+|merry \w+|shalom|boker tov|shavua tov|chag sameach"
    r"|مرحبا|صباح الخير|مساء الخير|عيد مبارك|كل عام"
    r"|привет|здравствуйте|доброе утро|добрый (?:день|вечер)|с праздником|с новым годом)\b",
    re.IGNORECASE,
)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def short_posts_other(rows: list[dict], max_words: int = SHORT_WORDS) -> dict:
    """Of the posts with <= ``max_words`` words, how many are `other` (v1: length alone said `other`)."""
    short = [r for r in rows if len(words(r["text"])) <= max_words]
    other = sum(r["intent"] == "other" for r in short)
    return {"posts": len(short), "other": other, "share": _share(other, len(short))}


def long_complaints(rows: list[dict], min_words: int = LONG_COMPLAINT_WORDS) -> float:
    """Share of complaints with >= ``min_words`` words (v1: length alone said complaint)."""
    lengths = [len(words(r["text"])) for r in rows if r["intent"] == "complaint"]
    return _share(sum(n >= min_words for n in lengths), len(lengths))


def terse_share_by_intent(rows: list[dict], max_words: int = TERSE_WORDS) -> dict[str, float]:
    """Per intent, the share of posts with <= ``max_words`` words (the target is >= 25 % for every intent)."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_intent[r["intent"]].append(len(words(r["text"])))
    return {k: _share(sum(n <= max_words for n in v), len(v)) for k, v in sorted(by_intent.items())}


def urgency_from_intent(rows: list[dict]) -> float:
    """Accuracy of predicting urgency by the majority urgency of the post's intent (1.0: intent decides it)."""
    by_intent: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_intent[r["intent"]][r["urgency"]] += 1
    return _share(sum(c.most_common(1)[0][1] for c in by_intent.values()), len(rows))


def pure_words(rows: list[dict], min_count: int = PURE_MIN_COUNT, purity: float = PURE_SHARE) -> list[dict]:
    """Words in >= ``min_count`` posts whose posts are >= ``purity`` one intent: label signals by themselves."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        for w in {w.lower() for w in words(r["text"])}:
            by_word[w][r["intent"]] += 1
    out = []
    for w, c in by_word.items():
        n = sum(c.values())
        intent, top = c.most_common(1)[0]
        if n >= min_count and top / n >= purity:
            out.append({"word": w, "posts": n, "intent": intent, "purity": round(top / n, 3)})
    return sorted(out, key=lambda d: (-d["purity"], -d["posts"], d["word"]))


def word_purity(rows: list[dict], watched: tuple[str, ...] = WATCH_WORDS) -> dict[str, dict]:
    """For each watched word: in how many posts it occurs, its most common intent and that intent's share."""
    by_word: dict[str, Counter] = {w: Counter() for w in watched}
    for r in rows:
        for w in {w.lower() for w in words(r["text"])} & set(watched):
            by_word[w][r["intent"]] += 1
    out = {}
    for w, c in by_word.items():
        n = sum(c.values())
        intent, top = c.most_common(1)[0] if c else ("", 0)
        out[w] = {"posts": n, "intent": intent, "purity": _share(top, n)}
    return out


def noise_measures(rows: list[dict]) -> dict[str, float]:
    """Shares of posts with the noise of real posts that a pattern can see. Typos themselves are not measured:
    without a dictionary, every proxy tried (rare words one letter from a frequent one, two frequent words run
    together) flagged mostly correct words (Hebrew inflects by prefixes and suffixes)."""
    texts = [r["text"] for r in rows]
    stripped = [_URLISH.sub(" ", t) for t in texts]
    n = len(texts)
    return {
        "letter_flood": _share(sum(bool(_LETTER_FLOOD.search(t)) for t in stripped), n),
        "punct_flood": _share(sum(bool(_PUNCT_FLOOD.search(t)) for t in texts), n),
        "missing_space": _share(sum(bool(_MISSING_SPACE.search(t)) for t in stripped), n),
        "no_punctuation": _share(sum(len(words(t)) >= 4 and not _has_punctuation(t) for t in stripped), n),
        "emoji_only": _share(sum(bool(t.strip()) and not words(t) for t in texts), n),
        "line_breaks": _share(sum("\n" in t for t in texts), n),
    }


def _has_punctuation(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("P") for ch in text)


def length_measures(rows: list[dict]) -> dict[str, float]:
    lengths = [len(words(r["text"])) for r in rows]
    n = len(lengths)
    return {
        "words_le_5": _share(sum(x <= TERSE_WORDS for x in lengths), n),
        "words_16_59": _share(sum(16 <= x < 60 for x in lengths), n),
        "words_60_300": _share(sum(60 <= x <= 300 for x in lengths), n),
        "over_55_words": _share(sum(x > 55 for x in lengths), n),
        "max_words": max(lengths, default=0),
    }


def quote_and_handle_measures(rows: list[dict]) -> dict[str, float | int]:
    """Hebrew quotations in double quotes or gershayim (vs single quotes / geresh), and @handles of Hebrew posts
    written in Latin letters."""
    single = double = 0
    handles: list[str] = []
    for r in rows:
        if r["language"] != "he":
            continue
        single += len(_QUOTE_SINGLE.findall(r["text"]))
        double += len(_QUOTE_DOUBLE.findall(r["text"]))
        handles += _HANDLE.findall(r["text"])
    latin = sum(h[0].isascii() for h in handles)
    return {
        "he_quotations": single + double,
        "he_quotations_double": _share(double, single + double),
        "he_handles": len(handles),
        "he_handles_latin": _share(latin, len(handles)),
    }


def sentiment_conventions(rows: list[dict]) -> dict[str, float | int]:
    """Greetings (intent `other` with a greeting or a holiday wish) and purchase_intent posts labeled `positive`:
    the conventions make both `neutral` unless the post praises the brand."""
    greetings = [r for r in rows if r["intent"] == "other" and _GREETING.search(r["text"])]
    purchase = [r for r in rows if r["intent"] == "purchase_intent"]
    g_pos = sum(r["sentiment"] == "positive" for r in greetings)
    p_pos = sum(r["sentiment"] == "positive" for r in purchase)
    return {
        "greetings": len(greetings),
        "greetings_positive": g_pos,
        "greetings_positive_share": _share(g_pos, len(greetings)),
        "purchase_intent_positive_share": _share(p_pos, len(purchase)),
    }


def shortcut_measures(rows: list[dict]) -> dict:
    """Every shortcut measure of the datasheet for ``rows``."""
    pure = pure_words(rows)
    return {
        "posts": len(rows),
        "short_posts_other": short_posts_other(rows),
        "complaints_16_plus_words": long_complaints(rows),
        "terse_share_by_intent": terse_share_by_intent(rows),
        "urgency_from_intent": urgency_from_intent(rows),
        "pure_words": {"count": len(pure), "words": [d["word"] for d in pure]},
        "watched_words": word_purity(rows),
        "length": length_measures(rows),
        "noise": noise_measures(rows),
        "quotes_handles": quote_and_handle_measures(rows),
        "sentiment": sentiment_conventions(rows),
    }


SUBSETS = ("v1", "v1+v2", "v2")


def shortcut_report(records: list[CorpusRecord]) -> dict[str, dict]:
    """The shortcut measures before (v1 alone), after (v1 + v2) and for v2 alone."""
    rows = [r.model_dump() for r in records]
    subsets = {
        "v1": [r for r in rows if not is_v2(r["batch"])],
        "v1+v2": rows,
        "v2": [r for r in rows if is_v2(r["batch"])],
    }
    return {name: shortcut_measures(subset) for name, subset in subsets.items() if subset}


def v2_counts(records: list[CorpusRecord]) -> dict:
    v2 = [r for r in records if is_v2(r.batch)]
    groups = Counter(r.group for r in v2)
    return {
        "posts": len(v2),
        "v1_posts": len(records) - len(v2),
        "batches": dict(Counter(r.batch for r in v2).most_common()),
        "kinds": dict(Counter(r.kind for r in v2).most_common()),
        "translit": sum(r.translit for r in v2),
        "with_parent": sum(r.parent is not None for r in v2),
        "scenario_groups": len(groups),
        "group_sizes": {str(k): v for k, v in sorted(Counter(groups.values()).items())},
        "languages": dict(Counter(r.language for r in v2).most_common()),
        "intent": dict(Counter(r.intent for r in v2).most_common()),
        "urgency": dict(Counter(r.urgency for r in v2).most_common()),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _shortcut_lines(m: dict) -> list[tuple[str, str]]:
    """(measure, value) for one subset, in the datasheet's order."""
    spo, s, ln, nz, qh = m["short_posts_other"], m["sentiment"], m["length"], m["noise"], m["quotes_handles"]
    terse = m["terse_share_by_intent"]
    lowest = min(terse, key=terse.__getitem__)
    return [
        ("posts", str(m["posts"])),
        ("posts with <= 4 words that are `other`", f"{_pct(spo['share'])} ({spo['other']} of {spo['posts']})"),
        ("complaints with >= 16 words", _pct(m["complaints_16_plus_words"])),
        ("lowest share of <= 5-word posts in an intent", f"{_pct(terse[lowest])} ({lowest})"),
        ("urgency predicted by intent alone (accuracy)", _pct(m["urgency_from_intent"])),
        (f"words in >= {PURE_MIN_COUNT} posts with >= {PURE_SHARE:.0%} one intent", str(m["pure_words"]["count"])),
        ("posts with <= 5 words", _pct(ln["words_le_5"])),
        ("posts with 16-59 words", _pct(ln["words_16_59"])),
        ("posts with 60-300 words", _pct(ln["words_60_300"])),
        ("longest post (words)", str(ln["max_words"])),
        ("posts with line breaks", _pct(nz["line_breaks"])),
        ("posts with a letter flood (למההההה)", _pct(nz["letter_flood"])),
        ("posts with !!! / ??? floods", _pct(nz["punct_flood"])),
        ("posts with a missing space after punctuation", _pct(nz["missing_space"])),
        (">= 4-word posts without any punctuation", _pct(nz["no_punctuation"])),
        ("emoji-only posts", _pct(nz["emoji_only"])),
        ("Hebrew quotations in double quotes / ״", f"{_pct(qh['he_quotations_double'])} of {qh['he_quotations']}"),
        ("@handles in Hebrew posts written in Latin letters", f"{_pct(qh['he_handles_latin'])} of {qh['he_handles']}"),
        ("greetings labeled `positive`", f"{s['greetings_positive']} of {s['greetings']}"),
        ("purchase_intent labeled `positive`", _pct(s["purchase_intent_positive_share"])),
    ]


def shortcuts_markdown(report: dict[str, dict]) -> list[str]:
    names = [n for n in SUBSETS if n in report]
    columns = [dict(_shortcut_lines(report[n])) for n in names]
    lines = ["### Shortcut measures (before: v1 alone; after: v1 + v2)", "",
             "| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for measure, _ in _shortcut_lines(report[names[0]]):
        lines.append(f"| {measure} | " + " | ".join(c[measure] for c in columns) + " |")
    lines += ["", "Share of posts with <= 5 words, per intent:", "", "| intent | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for intent in report[names[0]]["terse_share_by_intent"]:
        cells = [_pct(report[n]["terse_share_by_intent"].get(intent, 0.0)) for n in names]
        lines.append(f"| {intent} | " + " | ".join(cells) + " |")
    lines += ["", "Purity of the words the v1 measurement named (share of their posts in their most common intent):",
              "", "| word | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for word in WATCH_WORDS:
        watched: list[dict[str, Any]] = [report[n]["watched_words"][word] for n in names]
        lines.append(f"| {word} | " + " | ".join(f"{_pct(c['purity'])} {c['intent']} ({c['posts']})" for c in watched)
                     + " |")
    lines += ["", "Label-pure words (v1 -> v1 + v2): " + ", ".join(report[names[0]]["pure_words"]["words"])
              + " -> " + (", ".join(report["v1+v2"]["pure_words"]["words"]) if "v1+v2" in report else ""), ""]
    return lines
