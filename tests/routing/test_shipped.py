"""Every shipped policy and reply library is valid for the default schema, and the default library covers
what the product promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.replies.library import gendered_forms, load_library
from triage.routing.policy import load_policy
from triage.schema import LabelSchema

from .support import POLICIES, REPLIES

POLICY_FILES = sorted(POLICIES.glob("*.yaml"))
LIBRARIES = sorted(p for p in REPLIES.iterdir() if p.is_dir())


def test_there_are_two_example_brands() -> None:
    assert {p.stem for p in POLICY_FILES} >= {"default", "northwind"}


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_shipped_policy_is_valid(path: Path, default_schema: LabelSchema) -> None:
    policy = load_policy(path, default_schema)
    assert policy.brand == path.stem
    assert policy.library is not None


@pytest.mark.parametrize("folder", LIBRARIES, ids=lambda p: p.name)
def test_shipped_library_is_valid(folder: Path, default_schema: LabelSchema) -> None:
    library = load_library(folder, default_schema)
    for spec in library.spec.templates:
        assert 3 <= len(spec.examples) <= 6, spec.id


def test_default_library_covers_every_intent_in_hebrew_and_english(default_schema: LabelSchema) -> None:
    library = load_library(REPLIES / "default", default_schema)
    for label in default_schema.head("intent").labels:
        for lang in ("he", "en"):
            assert any(t.language == lang and label in t.labels.get("intent", []) for t in library.templates), (label,
                                                                                                                lang)
    assert "ar" in library.languages and "ru" not in library.languages
    assert {e.language for e in library.kb} >= {"he", "en"}


def test_shipped_hebrew_text_is_gender_neutral(default_schema: LabelSchema) -> None:
    for folder in LIBRARIES:
        library = load_library(folder, default_schema)
        for spec in library.spec.templates:
            if spec.language == "he":
                assert gendered_forms(spec.text) == [], spec.id


def test_default_policy_has_an_arabic_queue_but_no_russian_one(default_schema: LabelSchema) -> None:
    policy = load_policy(POLICIES / "default.yaml", default_schema)
    assert policy.covering_queues("ar") and not policy.covering_queues("ru")
