"""Reply libraries are checked at load: placeholders, gender-neutral Hebrew, labels, queues, lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.routing.support import MINIMAL_LIBRARY, write_library
from triage.errors import ConfigError
from triage.replies.library import gendered_forms, load_library
from triage.schema import LabelSchema


def load_error(tmp_path: Path, schema: LabelSchema, text: str, **kwargs: object) -> str:
    folder = write_library(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_library(folder, schema, **kwargs)  # type: ignore[arg-type]
    return str(err.value)


def test_minimal_library_loads(tmp_path: Path, default_schema: LabelSchema) -> None:
    library = load_library(write_library(tmp_path), default_schema)
    assert library.template_ids == {"praise-he", "praise-en"} and library.languages == {"he", "en"}


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        ("text: Thank you[[, {first_name}]]!", "text: Thank you {nickname}!", "templates[1].text",
         "placeholder {nickname} is not declared"),
        ("text: Thank you[[, {first_name}]]!", "text: Thanks {first_name}!", "templates[1].text",
         "{first_name} is outside an optional [[...]] clause and has no fallback wording or default in 'en'"),
        ("text: Thank you[[, {first_name}]]!", "text: Thank you [name]!", "templates[1].text", "'[name]'-style marker"),
        ("text: תודה רבה[[, {first_name}]]!", "text: תודה לך[[, {first_name}]]!", "templates[0].text",
         "gendered second-person form(s) ['לך']"),
        ("labels: {intent: [praise]}\n    text: Thank", "labels: {intent: [prase]}\n    text: Thank",
         "templates[1].labels.intent[0]", "unknown label 'prase'"),
        ("labels: {intent: [praise]}\n    text: Thank", "labels: {mood: [happy]}\n    text: Thank",
         "templates[1].labels.mood", "unknown head 'mood'"),
        ("language: en", "language: english", "templates[1].language", "unknown language 'english'"),
        ("- id: praise-en", "- id: praise-he", "templates[1].id", "already used by templates[0]"),
        ("schema: default", "schema: banking77", "schema", "written for schema 'banking77'"),
        ("library: tiny", "library: small", "library", "must be named like its folder"),
        ("phone: {personal: true}", "phone: {}", "placeholders.phone", "is personal data: set personal: true"),
        ("examples: [thanks, great service, well done]", "examples: []", "templates[1].examples",
         "at least 1 item"),
    ],
)
def test_library_mistakes(tmp_path: Path, default_schema: LabelSchema, old: str, new: str, where: str,
                          words: str) -> None:
    assert old in MINIMAL_LIBRARY
    msg = load_error(tmp_path, default_schema, MINIMAL_LIBRARY.replace(old, new, 1))
    match = re.search(rf"templates\.yaml:(\d+): {re.escape(where)}: (.*)", msg)
    assert match and words in match.group(2), msg


def test_gendered_forms_need_both_variants(tmp_path: Path, default_schema: LabelSchema) -> None:
    both = MINIMAL_LIBRARY.replace(
        "    text: תודה רבה[[, {first_name}]]!\n",
        "    text: תודה רבה[[, {first_name}]]!\n    text_f: תודה לך[[, {first_name}]]!\n"
        "    text_m: תודה לך[[, {first_name}]]!\n",
    )
    library = load_library(write_library(tmp_path, both), default_schema)
    assert set(library.templates[0].variants) == {"f", "m"}
    only_f = MINIMAL_LIBRARY.replace("    text: תודה רבה[[, {first_name}]]!\n",
                                     "    text: תודה רבה[[, {first_name}]]!\n    text_f: תודה לך!\n")
    assert "give both text_f and text_m" in load_error(tmp_path / "x", default_schema, only_f)


def test_template_queues_are_checked_against_the_policy(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_LIBRARY.replace("language: en\n", "language: en\n    queues: [billing]\n")
    folder = write_library(tmp_path, text)
    assert load_library(folder, default_schema).templates[1].queues == frozenset({"billing"})
    with pytest.raises(ConfigError, match=r"templates\[1\]\.queues\[0\]: unknown queue 'billing'"):
        load_library(folder, default_schema, queues=["care"])


def test_knowledge_base_is_checked(tmp_path: Path, default_schema: LabelSchema) -> None:
    kb = "format_version: 1\nentries:\n  - {id: a, language: he, question: 'מתי פתוח?', answer: אתה מוזמן}\n"
    folder = write_library(tmp_path, kb=kb)
    with pytest.raises(ConfigError, match=r"kb\.yaml:3: entries\[0\]\.answer: gendered"):
        load_library(folder, default_schema)


def test_gendered_forms_detector() -> None:
    assert gendered_forms("נשמח לעזור לכם, אפשר לשלוח לנו הודעה") == []
    assert gendered_forms("נשמח לעזור לך") == ["לך"]
    assert gendered_forms("אתה מוזמן לפנות") == ["אתה", "מוזמן"]
    assert gendered_forms("ובשבילך") == ["ובשבילך"]
