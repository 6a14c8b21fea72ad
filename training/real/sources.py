"""Readers of the real posts in ``../shared/datasets`` that the project labels, keyed by source and id.

Each reader yields :class:`RealPost` (source, id, brand, text, stars where the source has them). The ids
are the sources' own (review id, tweet id, comment id), so labels stored in the project can be joined back
to texts that stay in ``../shared``.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HE_REVIEWS = "he-bank-app-reviews"
COMPLAINTS = "en-complaints-severity"
CARE = "en-customer-care-threads"
YOUTUBE = "en-youtube-spam"
_HEBREW = re.compile(r"[\u05d0-\u05ea]")
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_NOT_BRAND = {"random_tweet", "random_reply"}


@dataclass(frozen=True)
class RealPost:
    source: str
    id: str
    brand: str
    text: str
    stars: int | None = None
    meta: tuple[tuple[str, str], ...] = ()


def _dedupe_key(text: str) -> str:
    return _SPACES.sub(" ", re.sub(r"[^\w\s]", "", text.lower())).strip()


def read_he_reviews(shared: Path) -> list[RealPost]:
    """Reviews with Hebrew letters, first of each distinct text (many short ones repeat: "מעולה")."""
    seen: set[str] = set()
    out = []
    with (shared / HE_REVIEWS / "reviews.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = r["text"] or ""
            key = _dedupe_key(text)
            if not _HEBREW.search(text) or key in seen:
                continue
            seen.add(key)
            out.append(RealPost(HE_REVIEWS, r["review_id"], r["app_name"], text, int(r["stars"]),
                                (("segment", r["segment"]), ("at", r["at"]))))
    return out


def read_complaint_tweets(shared: Path) -> Iterator[RealPost]:
    """Tweets addressed to a brand (the ~1,475 random tweets are not posts to a brand)."""
    with (shared / COMPLAINTS / "complaints.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["domain"] not in _NOT_BRAND:
                yield RealPost(COMPLAINTS, r["id"], r["domain"], r["tweet"])


def read_care_first_turns(shared: Path) -> Iterator[RealPost]:
    """The first customer message of each care thread (what arrives before any agent reply), once each."""
    seen: set[str] = set()
    for split in ("dev", "test"):
        for conv in json.loads((shared / CARE / f"{split}.json").read_text(encoding="utf-8")):
            company = conv["dialogHeader"]["company"]
            for turn in conv["dialogContent"]:
                if turn.get("client") and turn["client"] != company:
                    if str(turn["tweet_ID"]) not in seen:
                        seen.add(str(turn["tweet_ID"]))
                        yield RealPost(CARE, str(turn["tweet_ID"]), company, turn["message"])
                    break


def read_youtube(shared: Path) -> Iterator[RealPost]:
    """YouTube comments, HTML stripped, first of each distinct text; the brand is the video."""
    seen: set[str] = set()
    for path in sorted((shared / YOUTUBE).glob("Youtube0*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                text = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", r["CONTENT"].replace("\ufeff", "")))).strip()
                if not text or text in seen:
                    continue
                seen.add(text)
                yield RealPost(YOUTUBE, r["COMMENT_ID"], path.stem, text)


def read_all(shared: Path) -> dict[tuple[str, str], RealPost]:
    """Every real post the project can label, by (source, id)."""
    posts: list[RealPost] = [*read_he_reviews(shared), *read_complaint_tweets(shared),
                             *read_care_first_turns(shared), *read_youtube(shared)]
    return {(p.source, p.id): p for p in posts}


HE_FACEBOOK = "he-sentiment-facebook"


def read_he_facebook_train(shared: Path) -> Iterator[RealPost]:
    """The Hebrew Facebook comments of the public set's train split (its dev and test stay unseen)."""
    with (shared / HE_FACEBOOK / "train.tsv").open(encoding="utf-8") as f:
        next(f, None)  # header
        for i, line in enumerate(f):
            text = line.rsplit("\t", 1)[0].strip()
            if text:
                yield RealPost(HE_FACEBOOK, f"train-{i}", "president", text)


def unlabeled_pool(shared: Path, held_out: set[tuple[str, str]]) -> list[RealPost]:
    """Real texts for domain adaptation, self-training and distillation: every source's training brands.

    Posts of the brands in ``held_out`` (the dev and test brands) are left out entirely, so the real
    test split measures brands whose texts the model never read, labeled or not.
    """
    posts = [*read_he_reviews(shared), *read_complaint_tweets(shared), *read_care_first_turns(shared),
             *read_youtube(shared), *read_he_facebook_train(shared)]
    return [p for p in posts if (p.source, p.brand) not in held_out]
