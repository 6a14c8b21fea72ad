"""The project's labeled corpus: one JSON object per line, validated against a label schema.

``data/corpus/{train,dev,test}.jsonl`` rows have ``id, text, language, intent, sentiment, urgency,
entities, channel, sector`` (plus ``mixed``: a Hebrew-English mixed post). Entity spans are computed by
the entity stage, never typed by hand.

Corpus v2 adds ``scenario`` (the scenario group: every post of a group goes to one split; a v1 post is a
group of its own, ``v1-`` + its id's hash), ``kind`` (what the post was written as, see ``KINDS``; null for
v1 posts, which did not record it), ``parent`` (the post, brand reply or ad a reply sits under, else null),
``translit`` (Hebrew written in Latin letters: its ``language`` is ``he`` although it has no Hebrew letter)
and ``batch`` (the raw file it came from). Rows written before v2 lack them and are still valid.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from triage.errors import InputError
from triage.types import Channel, EntityType, Language

SPLITS = ("train", "dev", "test")
SECTORS = (
    "telecom", "internet_tv", "utilities", "government", "bank", "credit_card", "insurance", "health_fund",
    "supermarket", "pharmacy", "food_delivery", "restaurant", "fashion", "ecommerce", "parcels", "electronics",
    "airline", "travel", "public_transport", "car_services", "gym",
)
# What a v2 post was written as (runs/labeling/WRITING.md, summarised in data/README.md).
Kind = Literal[
    "terse", "rant", "noisy", "contest", "job", "political", "thread_reply", "ad_comment", "multi_issue",
    "translit", "ar_ru_mixed", "ordinary",
]
KINDS: tuple[str, ...] = get_args(Kind)
V1_SCENARIO_PREFIX = "v1-"
# Raw batches of corpus v2 are named ``v2_*.jsonl``; every other batch is v1.
V2_BATCH_PREFIX = "v2_"


def is_v2(batch: str | None) -> bool:
    return batch is not None and batch.startswith(V2_BATCH_PREFIX)


class SpanRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EntityType
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    text: str


class CorpusRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^p-[0-9a-f]{12}$")
    text: str = Field(min_length=1)
    language: Language
    mixed: bool = False
    intent: str
    sentiment: str
    urgency: str
    entities: list[SpanRecord]
    channel: Channel
    sector: str
    # v2 fields; defaults keep rows written before v2 valid.
    scenario: str | None = Field(default=None, min_length=1)
    kind: Kind | None = None
    parent: str | None = Field(default=None, min_length=1)
    translit: bool = False
    batch: str | None = None

    @property
    def group(self) -> str:
        """The scenario group that decides the split (a row without one is its own group)."""
        return self.scenario or V1_SCENARIO_PREFIX + self.id[2:]


_PUNCT_OR_SPACE = re.compile(r"[\W_]+", re.UNICODE)
_WORDS = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The words of a post as the datasheet counts them (runs of letters, digits or '_')."""
    return _WORDS.findall(text)


def dedup_key(text: str) -> str:
    """A key equal for texts that differ only in case, spacing, punctuation, digits or emoji."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"\d+", "0", folded)
    words = _PUNCT_OR_SPACE.sub(" ", folded).strip()
    # Posts without words (emoji only): "🙏🙏" and "🙏🙏🙏" are the same post.
    return words or re.sub(r"(.)\1+", r"\1", "".join(folded.split()))


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); a broken line is an InputError naming the file and line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(f"{path}:{lineno}: not a valid UTF-8 JSON line ({exc})", code="invalid_jsonl") from exc


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_split(corpus_dir: Path, split: str) -> list[CorpusRecord]:
    return [CorpusRecord.model_validate(obj) for _, obj in read_jsonl(corpus_dir / f"{split}.jsonl")]
