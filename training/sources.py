"""Data sources → training examples with one label id per head, or none (masked) where unknown.

Every loader reads its files with the ``datasets`` library and yields :class:`RawRow` objects: a text,
the source's own *signals* (label strings such as ``sentiment=negative``), a language when known, and
its split. :func:`load_source` then maps signals onto the model's heads as the config says; a head the
source knows nothing about stays unknown, so the loss ignores it for that example.

Honest mappings only (see ``../shared/datasets/*/README.md``):

* ``corpus`` (``data/corpus``): every schema head that is a column.
* ``he_sentiment_facebook``: ``sentiment`` (0 positive, 1 negative, 2 off-topic → neutral).
* ``complaints``: ``complaint`` (no/yes) on every tweet; ``sentiment`` (case normalised) only on the
  tweets addressed to a brand — about 1,475 are random tweets whose sentiment is not toward a brand;
  ``severity`` (s0–s4) is available as a signal. No official split: seeded, stratified 80/10/10.
* ``youtube_spam``: ``spam`` (ham/spam), HTML stripped, U+FEFF dropped, exact duplicates removed
  *before* the seeded, stratified 80/10/10 split.
* ``banking77``: ``intent`` (the 77 categories); dev is a seeded, stratified 10% of train.
* ``customer_care_threads``: customer turns of ``dev.json`` as unlabeled text (distillation, vocabulary).

Texts go through ``triage.text.normalise.normalise`` exactly as the engine does before the classifier.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import random
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.config import SourceConfig, SourceKind, Split
from triage.errors import ConfigError, InputError
from triage.schema import HeadSpec
from triage.text.normalise import normalise

log = logging.getLogger(__name__)

IGNORE = -100  # label id of an unknown head: masked out of the loss (torch's ignore_index)

HEFB_LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # 2 is "off-topic", our neutral
_NOT_BRAND = {"random_tweet", "random_reply"}  # complaints rows not addressed to a brand
# Corpus columns that describe a post rather than label it (every other string column is a head's label).
_CORPUS_FIELDS = {"id", "text", "language", "mixed", "entities", "channel", "sector", "scenario", "kind", "parent",
                  "translit", "batch"}
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


@dataclass
class RawRow:
    """A source row before mapping: text, the source's own label strings, language, split, extra facts."""

    text: str
    signals: dict[str, str]
    split: Split
    language: str | None = None
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class Example:
    """One training/evaluation text with a label id per known head (unknown heads are absent)."""

    text: str
    labels: dict[str, int]
    source: str
    split: Split
    language: str | None = None
    meta: dict[str, object] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)  # token ids, filled by the trainer
    soft: dict[str, list[float]] | None = None  # the teacher's logits per head, filled for distillation


# Which files a source kind reads (also hashed into the manifest) and the signals it provides.
SOURCE_FILES: dict[SourceKind, tuple[str, ...]] = {
    "corpus": ("train.jsonl", "dev.jsonl", "test.jsonl"),
    "he_sentiment_facebook": ("train.tsv", "dev.tsv", "test_gold.tsv"),
    "complaints": ("complaints.csv",),
    "youtube_spam": ("Youtube01-Psy.csv", "Youtube02-KatyPerry.csv", "Youtube03-LMFAO.csv",
                     "Youtube04-Eminem.csv", "Youtube05-Shakira.csv"),
    "banking77": ("train.csv", "test.csv"),
    "customer_care_threads": ("dev.json",),
    "real_labels": ("sample.jsonl", "labels/adjudicated.jsonl"),
    "real_unlabeled": ("he-bank-app-reviews/reviews.jsonl", "he-sentiment-facebook/train.tsv"),
    "pseudo_labels": (),
}
DEFAULT_HEADS: dict[SourceKind, dict[str, str]] = {
    "he_sentiment_facebook": {"sentiment": "sentiment"},
    "complaints": {"sentiment": "sentiment", "complaint": "complaint"},
    "youtube_spam": {"spam": "spam"},
    "banking77": {"banking_intent": "intent"},
    "customer_care_threads": {},
    "real_labels": {"intent": "intent", "sentiment": "sentiment", "urgency": "urgency"},
    "real_unlabeled": {},
    "pseudo_labels": {"intent": "intent", "sentiment": "sentiment", "urgency": "urgency"},
}


def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()


def clean_text(text: str) -> str:
    """The engine's normalisation (NFKC, invisible characters, floods), then trimmed."""
    return normalise(text).text.strip()


def strip_html(text: str) -> str:
    """YouTube comments hold HTML fragments (<br />, <a href>…</a>, &amp;) and a trailing U+FEFF."""
    text = _TAG.sub(" ", text.replace("\ufeff", ""))
    return _SPACES.sub(" ", html.unescape(text)).strip()


def stable_seed(*parts: object) -> int:
    """A seed that does not depend on PYTHONHASHSEED."""
    return zlib.crc32("|".join(str(p) for p in parts).encode("utf-8"))


def stratified_split(keys: Sequence[str], seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> list[Split]:
    """Assign each row to train/dev/test, stratified by ``keys``: the same keys and seed give the same split."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k].append(i)
    out: list[Split] = ["train"] * len(keys)
    rng = random.Random(seed)
    for k in sorted(groups):
        idx = groups[k]
        rng.shuffle(idx)
        n_train = round(len(idx) * fractions[0])
        # Fractions summing to 1 mean a two-way split: the rounding remainder goes to dev, never to test.
        n_dev = len(idx) - n_train if sum(fractions) >= 1 else round(len(idx) * fractions[1])
        for j, i in enumerate(idx):
            out[i] = "train" if j < n_train else "dev" if j < n_train + n_dev else "test"
    return out


# Readers ------------------------------------------------------------------------------------------------------


def _read_csv(files: Sequence[Path], delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> list[dict]:
    from datasets import load_dataset

    _quiet_datasets()
    ds = load_dataset("csv", data_files=[str(f) for f in files], split="train", delimiter=delimiter,
                      quoting=quoting, keep_default_na=False)
    # Values as strings whatever type pandas inferred: labels are compared as text.
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in ds]


def _read_jsonl(path: Path) -> list[dict]:
    from datasets import load_dataset

    _quiet_datasets()
    return list(load_dataset("json", data_files=str(path), split="train"))


def _require(folder: Path, names: Iterable[str]) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ConfigError(f"data source {folder} lacks {missing}")


def read_corpus(folder: Path, splits: Sequence[Split]) -> list[RawRow]:
    rows: list[RawRow] = []
    _require(folder, [f"{s}.jsonl" for s in splits])
    for split in splits:
        for obj in _read_jsonl(folder / f"{split}.jsonl"):
            signals = {k: v for k, v in obj.items()
                       if k not in _CORPUS_FIELDS and isinstance(v, str)}
            rows.append(RawRow(obj["text"], signals, split, obj.get("language"),
                               {"id": obj.get("id"), "mixed": bool(obj.get("mixed")), "sector": obj.get("sector"),
                                "scenario": obj.get("scenario"), "kind": obj.get("kind")}))
    return rows


def read_he_sentiment_facebook(folder: Path, splits: Sequence[Split]) -> list[RawRow]:
    names = {"train": "train.tsv", "dev": "dev.tsv", "test": "test_gold.tsv"}
    _require(folder, [names[s] for s in splits])
    rows = []
    for split in splits:
        # Hebrew uses '"' inside words (ש"ח): the TSV has no quoting at all.
        for obj in _read_csv([folder / names[split]], delimiter="\t", quoting=csv.QUOTE_NONE):
            label = HEFB_LABELS[int(obj["label"])]
            rows.append(RawRow(obj["comment"], {"sentiment": label}, split, "he"))
    return rows


def read_complaints(folder: Path, splits: Sequence[Split], seed: int) -> list[RawRow]:
    _require(folder, ["complaints.csv"])
    objs = _read_csv([folder / "complaints.csv"])
    assigned = stratified_split([f"{o['label']}|{o['domain'] in _NOT_BRAND}" for o in objs], seed)
    rows = []
    for obj, split in zip(objs, assigned, strict=True):
        if split not in splits:
            continue
        brand = obj["domain"] not in _NOT_BRAND
        signals = {"complaint": "yes" if obj["label"] == "1" else "no", "severity": f"s{obj['Severity']}"}
        if brand:
            signals["sentiment"] = obj["sentiment"].strip().lower()
        rows.append(RawRow(obj["tweet"], signals, split, "en", {"brand_addressed": brand, "domain": obj["domain"]}))
    return rows


def read_youtube_spam(folder: Path, splits: Sequence[Split], seed: int) -> list[RawRow]:
    files = [folder / n for n in SOURCE_FILES["youtube_spam"]]
    _require(folder, [f.name for f in files])
    seen: dict[str, str] = {}
    for obj in _read_csv(files):
        text = strip_html(obj["CONTENT"])
        if text and text not in seen:  # README: 195 repeated texts, never with conflicting labels
            seen[text] = "spam" if obj["CLASS"].strip() == "1" else "ham"
    texts = list(seen)
    assigned = stratified_split([seen[t] for t in texts], seed)
    return [RawRow(t, {"spam": seen[t]}, s, "en") for t, s in zip(texts, assigned, strict=True) if s in splits]


def read_banking77(folder: Path, splits: Sequence[Split], seed: int) -> list[RawRow]:
    _require(folder, ["train.csv", "test.csv"])
    rows = []
    if "train" in splits or "dev" in splits:
        objs = _read_csv([folder / "train.csv"])
        assigned = stratified_split([o["category"] for o in objs], seed, (0.9, 0.1))
        rows += [RawRow(o["text"], {"intent": o["category"]}, s, "en")
                 for o, s in zip(objs, assigned, strict=True) if s in splits]
    if "test" in splits:
        rows += [RawRow(o["text"], {"intent": o["category"]}, "test", "en") for o in _read_csv([folder / "test.csv"])]
    return rows


def read_customer_care_threads(folder: Path, splits: Sequence[Split]) -> list[RawRow]:
    import json

    _require(folder, ["dev.json"])
    rows = []
    for conv in json.loads((folder / "dev.json").read_text(encoding="utf-8")):
        for turn in conv.get("dialogContent", []):
            if "client" in turn and turn.get("message"):
                rows.append(RawRow(turn["message"], {}, "train", "en"))
    return rows


def read_real_labels(folder: Path, texts: Path, splits: Sequence[Split]) -> list[RawRow]:
    """The project's labeled real posts (``data/real``), split by brand, texts from ``../shared``."""
    from training.real.labels import labeled_posts

    if not texts.is_dir():
        raise ConfigError(f"real_labels: the texts folder {texts} does not exist (../shared/datasets beside the "
                          "project)")
    rows = []
    for lp in labeled_posts(folder, texts):
        split: Split = lp.sample.split  # type: ignore[assignment]
        if split in splits:
            meta: dict[str, object] = {"id": lp.post.id, "dataset": lp.post.source, "brand": lp.post.brand,
                                       "stars": lp.post.stars}
            rows.append(RawRow(lp.post.text, dict(lp.labels), split, lp.language, meta))
    return rows


def read_real_unlabeled(shared: Path) -> list[RawRow]:
    """Real texts of the training brands only (dev and test brands are held out entirely)."""
    from training.real.sample import held_out_brands
    from training.real.sources import unlabeled_pool

    return [RawRow(p.text, {}, "train", "he" if p.source.startswith("he-") else "en",
                   {"id": p.id, "dataset": p.source, "brand": p.brand})
            for p in unlabeled_pool(shared, held_out_brands())]


def read_pseudo_labels(path: Path) -> list[RawRow]:
    """Self-training's confident teacher labels (a folder with pseudo_labels.jsonl); train split only."""
    file = path / "pseudo_labels.jsonl" if path.is_dir() else path
    rows = []
    with file.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                rows.append(RawRow(obj["text"], obj["labels"], "train", obj.get("language"), {"id": obj.get("id")}))
    return rows


def read_source_rows(source: SourceConfig) -> list[RawRow]:
    """The source's rows (before mapping), its texts cleaned the way the engine cleans posts."""
    folder = source.path
    if not folder.is_dir() and source.kind != "pseudo_labels":
        raise ConfigError(f"data source {source.name!r}: {folder} is not a folder")
    kind = source.kind
    if kind == "corpus":
        rows = read_corpus(folder, source.splits)
    elif kind == "he_sentiment_facebook":
        rows = read_he_sentiment_facebook(folder, source.splits)
    elif kind == "complaints":
        rows = read_complaints(folder, source.splits, source.split_seed)
    elif kind == "youtube_spam":
        rows = read_youtube_spam(folder, source.splits, source.split_seed)
    elif kind == "banking77":
        rows = read_banking77(folder, source.splits, source.split_seed)
    elif kind == "real_labels":
        rows = read_real_labels(folder, source.texts or folder.parent.parent / "shared" / "datasets", source.splits)
    elif kind == "real_unlabeled":
        rows = read_real_unlabeled(folder)
    elif kind == "pseudo_labels":
        rows = read_pseudo_labels(folder)
    else:
        rows = read_customer_care_threads(folder, source.splits)
    out = []
    for row in rows:
        row.text = clean_text(row.text)
        if row.text:
            out.append(row)
    return out


# Mapping ------------------------------------------------------------------------------------------------------


def head_mapping(source: SourceConfig, heads: Sequence[HeadSpec]) -> dict[str, str]:
    """model head -> source signal for ``source``; ConfigError when it names an unknown head."""
    names = {h.name for h in heads}
    if source.heads is not None:
        mapping = dict(source.heads)
    elif source.kind == "corpus":
        mapping = {h.name: h.name for h in heads}
    else:
        mapping = {h: s for h, s in DEFAULT_HEADS[source.kind].items() if h in names}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(f"data source {source.name!r} maps onto heads {unknown} that the model does not have "
                          f"(heads: {sorted(names)})")
    return {} if source.distill_only else mapping


def load_source(source: SourceConfig, heads: Sequence[HeadSpec], seed: int = 13) -> dict[Split, list[Example]]:
    """Examples per split with label ids per head; unknown heads are simply absent (masked)."""
    mapping = head_mapping(source, heads)
    by_name = {h.name: h for h in heads}
    index = {h.name: {lab: i for i, lab in enumerate(h.labels)} for h in heads}
    out: dict[Split, list[Example]] = {s: [] for s in source.splits}
    for row in read_source_rows(source):
        labels: dict[str, int] = {}
        for head, signal in mapping.items():
            value = row.signals.get(signal)
            if value is None or value == "":
                continue
            if value not in index[head]:
                raise InputError(f"data source {source.name!r}: label {value!r} of {signal!r} is not one of "
                                 f"head {head!r}'s labels {by_name[head].labels}")
            labels[head] = index[head][value]
        out[row.split].append(Example(row.text, labels, source.name, row.split, row.language, row.meta))
    if source.limit:
        for split, rows in out.items():
            if len(rows) > source.limit:
                keep = sorted(random.Random(stable_seed(seed, source.name, split)).sample(range(len(rows)),
                                                                                          source.limit))
                out[split] = [rows[i] for i in keep]
    log.info("source %s: %s", source.name, {s: len(v) for s, v in out.items()})
    return out


def source_files(source: SourceConfig) -> list[Path]:
    """The files a source reads, for the manifest's data hashes."""
    names = SOURCE_FILES[source.kind]
    if source.kind == "corpus":
        names = tuple(f"{s}.jsonl" for s in source.splits)
    if source.kind == "real_labels":
        names = (*names, *(str(p.relative_to(source.path)) for p in sorted(
            (source.path / "labels" / "raw").glob("*.jsonl"))))
    if source.kind == "pseudo_labels":
        file = source.path / "pseudo_labels.jsonl" if source.path.is_dir() else source.path
        return [file] if file.is_file() else []
    return [source.path / n for n in names if (source.path / n).is_file()]


# Labeled files for ``triage evaluate`` -----------------------------------------------------------------------


@dataclass
class FilePreset:
    """How to read one public dataset's files when evaluating: columns and label maps."""

    text_column: str
    label_columns: dict[str, str]  # head -> column
    label_maps: dict[str, dict[str, str]] = field(default_factory=dict)  # head -> raw value -> label
    language: str | None = None  # constant language, when the file has no column
    language_column: str | None = None
    delimiter: str | None = None
    quoting: int = csv.QUOTE_MINIMAL


PRESETS: dict[str, FilePreset] = {
    "corpus": FilePreset("text", {}, language_column="language"),
    "he-sentiment-facebook": FilePreset(
        "comment", {"sentiment": "label"}, {"sentiment": {str(k): v for k, v in HEFB_LABELS.items()}},
        language="he", delimiter="\t", quoting=csv.QUOTE_NONE),
    "en-complaints-severity": FilePreset(
        "tweet", {"sentiment": "sentiment", "complaint": "label"},
        {"sentiment": {"Negative": "negative", "Neutral": "neutral", "Positive": "positive"},
         "complaint": {"0": "no", "1": "yes"}}, language="en"),
    "en-youtube-spam": FilePreset("CONTENT", {"spam": "CLASS"}, {"spam": {"0": "ham", "1": "spam"}}, language="en"),
    "en-banking77": FilePreset("text", {"banking_intent": "category"}, language="en"),
}


def detect_preset(path: Path) -> str | None:
    """A preset name when ``path`` lies in a known public dataset's folder."""
    for part in reversed(path.resolve().parts):
        if part in PRESETS:
            return part
    return None


@dataclass
class LabeledRow:
    text: str
    labels: dict[str, str]  # head -> label string
    language: str | None


def read_labeled_file(
    path: Path,
    *,
    text_column: str | None = None,
    label_columns: dict[str, str] | None = None,
    label_maps: dict[str, dict[str, str]] | None = None,
    language_column: str | None = None,
    preset: str | None = None,
    head_names: Sequence[str] = (),
) -> list[LabeledRow]:
    """Read a labeled JSONL / CSV / TSV file (by extension) into rows of head -> label string.

    Without explicit columns, a known public dataset's preset is used (detected from the folder name),
    else ``text`` and one column per model head that exists in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist", code="file_not_found")
    name = preset or detect_preset(path)
    if name is not None and name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    p = PRESETS.get(name or "", PRESETS["corpus"])
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json"}:
        objs = _read_jsonl(path)
    elif suffix in {".csv", ".tsv"}:
        delimiter = p.delimiter or ("\t" if suffix == ".tsv" else ",")
        objs = _read_csv([path], delimiter=delimiter, quoting=p.quoting)
    else:
        raise InputError(f"{path}: expected .jsonl, .csv or .tsv")
    if not objs:
        raise InputError(f"{path} has no rows")
    columns = set(objs[0])
    text_col = text_column or p.text_column
    if text_col not in columns:
        raise InputError(f"{path} has no text column {text_col!r} (columns: {sorted(columns)})")
    labels = dict(label_columns or p.label_columns or {h: h for h in head_names if h in columns})
    missing = sorted(c for c in labels.values() if c not in columns)
    if missing:
        raise InputError(f"{path} lacks label columns {missing} (columns: {sorted(columns)})")
    maps = label_maps or p.label_maps
    lang_col = language_column or p.language_column
    rows = []
    for obj in objs:
        text = obj[text_col]
        if name == "en-youtube-spam":
            text = strip_html(text)
        text = clean_text(str(text or ""))
        if not text:
            continue
        row_labels = {}
        for head, col in labels.items():
            raw = obj.get(col)
            if raw is None or str(raw).strip() == "":
                continue
            value = str(raw).strip()
            value = maps.get(head, {}).get(value, value)
            if head == "sentiment":
                value = value.lower()
            row_labels[head] = value
        lang = obj.get(lang_col) if lang_col and lang_col in obj else p.language
        rows.append(LabeledRow(text, row_labels, lang))
    return rows
