"""Loaders map each public dataset onto our heads honestly and leave every other head unknown (masked)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("datasets", reason="the loaders need the train extra (pip install -e '.[train]')")

from tests.conftest import require_shared
from training.config import SourceConfig
from training.sources import (
    IGNORE,
    load_source,
    read_labeled_file,
    stratified_split,
    strip_html,
)
from triage.schema import HeadSpec, LabelSchema, load_schema

ROOT = Path(__file__).resolve().parents[2]
AUX = [HeadSpec(name="complaint", labels=["no", "yes"], auxiliary=True),
       HeadSpec(name="spam", labels=["ham", "spam"], auxiliary=True)]


@pytest.fixture(scope="module")
def heads(default_schema: LabelSchema) -> list[HeadSpec]:
    return [*default_schema.heads, *AUX]


def _source(kind: str, folder: str, **kw: object) -> SourceConfig:
    return SourceConfig(name="s", kind=kind, path=require_shared() / folder, **kw)  # type: ignore[arg-type]


def test_hebrew_facebook_maps_to_sentiment_only(heads: list[HeadSpec]) -> None:
    out = load_source(_source("he_sentiment_facebook", "he-sentiment-facebook", splits=["dev"]), heads)
    rows = out["dev"]
    assert len(rows) == 846
    sentiment = next(h for h in heads if h.name == "sentiment")
    counts = {lab: sum(1 for e in rows if e.labels == {"sentiment": i}) for i, lab in enumerate(sentiment.labels)}
    # README: dev has 602 positive, 216 negative, 28 off-topic (-> neutral); nothing else is labeled
    assert counts == {"positive": 602, "negative": 216, "neutral": 28}
    assert all(e.language == "he" for e in rows)


def test_complaints_normalise_sentiment_case_and_keep_random_tweets_unlabeled(heads: list[HeadSpec]) -> None:
    out = load_source(_source("complaints", "en-complaints-severity"), heads)
    rows = [e for split in out.values() for e in split]
    assert len(rows) == 3448
    assert sum(e.labels["complaint"] for e in rows) == 1232  # every tweet has the complaint head
    assert all("intent" not in e.labels and "urgency" not in e.labels for e in rows)
    brand = [e for e in rows if e.meta["brand_addressed"]]
    assert all("sentiment" in e.labels for e in brand)
    assert not any("sentiment" in e.labels for e in rows if not e.meta["brand_addressed"])
    # split is seeded and stratified: same result twice, ~80/10/10
    again = load_source(_source("complaints", "en-complaints-severity"), heads)
    assert [e.text for e in again["test"]] == [e.text for e in out["test"]]
    assert 0.08 < len(out["test"]) / len(rows) < 0.12


def test_youtube_spam_is_deduplicated_and_cleaned(heads: list[HeadSpec]) -> None:
    out = load_source(_source("youtube_spam", "en-youtube-spam"), heads)
    rows = [e for split in out.values() for e in split]
    texts = [e.text for e in rows]
    assert len(texts) == len(set(texts)) < 1956 - 150
    assert not any("\ufeff" in t or "<br" in t or "&amp;" in t for t in texts)
    assert {tuple(e.labels) for e in rows} == {("spam",)}
    # no text leaks across splits
    assert not set(e.text for e in out["train"]) & set(e.text for e in out["test"])


def test_banking77_maps_onto_its_own_schema() -> None:
    schema = load_schema(ROOT / "data" / "schemas" / "banking77.yaml")
    src = _source("banking77", "en-banking77", heads={"banking_intent": "intent"}, limit=50)
    out = load_source(src, schema.heads)
    assert {k: len(v) for k, v in out.items()} == {"train": 50, "dev": 50, "test": 50}
    assert all(set(e.labels) == {"banking_intent"} for split in out.values() for e in split)


def test_a_mapping_onto_an_unknown_head_is_a_config_error(heads: list[HeadSpec]) -> None:
    from triage.errors import ConfigError

    with pytest.raises(ConfigError, match="does not have"):
        load_source(_source("youtube_spam", "en-youtube-spam", heads={"toxicity": "spam"}), heads)


def test_strip_html_and_bom() -> None:
    assert strip_html("Check <a href=\"x\">this</a> out&amp;more<br />now\ufeff") == "Check this out&more now"


def test_stratified_split_is_deterministic_and_stratified() -> None:
    keys = ["a"] * 50 + ["b"] * 30
    one, two = stratified_split(keys, 3), stratified_split(keys, 3)
    assert one == two
    assert sum(1 for k, s in zip(keys, one, strict=True) if k == "a" and s == "test") == 5
    assert set(stratified_split(keys, 3, (0.9, 0.1))) == {"train", "dev"}  # two-way: never test


def test_ignore_index_is_torch_default() -> None:
    assert IGNORE == -100


def test_labeled_file_preset_for_the_hebrew_benchmark() -> None:
    rows = read_labeled_file(require_shared() / "he-sentiment-facebook" / "test_gold.tsv")
    assert len(rows) == 1695
    assert {r.labels["sentiment"] for r in rows} == {"positive", "negative", "neutral"}
    assert all(r.language == "he" for r in rows)
