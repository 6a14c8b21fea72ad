"""Reply inputs from the post (agent name, ETA, the author's grammatical gender), grammatical fallbacks,
and the library checks that keep replies fitting: private asks, doubled prepositions, gendered forms,
topic words and sectors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.routing.support import MINIMAL_LIBRARY, POLICIES, REPLIES, classification, prepare, write_library
from triage.classify.fake import FakeClassifier
from triage.errors import ConfigError
from triage.replies.library import gendered_forms, load_library
from triage.replies.suggester import ReplySuggester
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema
from triage.text.normalise import normalise
from triage.types import Author, Post, PostContext, SuggestedReply

from .test_suggester import NOW


@pytest.fixture(scope="module")
def router(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))


@pytest.fixture(scope="module")
def suggester(router: PolicyRouter, default_schema: LabelSchema) -> ReplySuggester:
    assert router.policy.library is not None
    return ReplySuggester(router.policy.library, FakeClassifier(default_schema))


def replies_for(suggester: ReplySuggester, router: PolicyRouter, schema: LabelSchema, post: Post,
                sector: str | None = "telecom", **labels: Any) -> tuple[list[SuggestedReply], list[str]]:
    language, entities = prepare(post.text)
    cls = classification(schema, **labels)
    context = PostContext(post, normalise(post.text), language, entities)
    return suggester.suggest(context, cls, router.route(context, cls, NOW), None, sector=sector)


def test_agent_name_and_eta_come_from_the_post(suggester: ReplySuggester, router: PolicyRouter,
                                               default_schema: LabelSchema) -> None:
    post = Post(text="Order 4471902 still hasn't arrived", agent_name="Noa", eta="by 4 pm today",
                author=Author(first_name="Dana"))
    replies, _ = replies_for(suggester, router, default_schema, post, intent="complaint")
    assert replies[0].text == ("Hi Dana, this is Noa. We're really sorry about what happened with your order "
                               "4471902. We're looking into it now and will get back to you by 4 pm today.")
    assert replies[0].missing_placeholders == []


def test_a_bare_time_is_written_out_for_the_language(suggester: ReplySuggester, router: PolicyRouter,
                                                      default_schema: LabelSchema) -> None:
    post = Post(text="הזמנה 4471902 עדיין לא הגיעה", eta="16:00", agent_name="נועה")
    replies, _ = replies_for(suggester, router, default_schema, post, intent="complaint")
    assert replies[0].text.endswith("ונחזור אליכם עד השעה 16:00.") and "כאן נועה." in replies[0].text


def test_the_authors_gender_picks_the_form(suggester: ReplySuggester, router: PolicyRouter,
                                           default_schema: LabelSchema) -> None:
    for gender, ending in [("f", "ונחזור אלייך בהקדם האפשרי."), ("m", "ונחזור אליך בהקדם האפשרי."),
                           (None, "ונחזור אליכם בהקדם האפשרי.")]:
        post = Post(text="הזמנה 4471902 עדיין לא הגיעה", author=Author(first_name="דנה", gender=gender))
        replies, _ = replies_for(suggester, router, default_schema, post, intent="complaint")
        assert replies[0].template_id == "complaint-private-he"
        assert replies[0].text.endswith(ending), replies[0].text
        assert set(replies[0].variants) == {"f", "m"}


def test_request_replies_open_neutrally(suggester: ReplySuggester, router: PolicyRouter,
                                        default_schema: LabelSchema) -> None:
    post = Post(text="תעדכנו אותי לגבי הזמנה 55123, דחוף")
    replies, _ = replies_for(suggester, router, default_schema, post, intent="request", sentiment="negative",
                             urgency="high")
    assert replies[0].template_id == "request-private-he" and not replies[0].text.startswith("בשמחה")


DOUBLED = re.compile(r"\b(?:עד|תוך|by|until|within) (?:בהקדם|as soon)", re.IGNORECASE)


@pytest.mark.parametrize("folder", sorted(p for p in REPLIES.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_every_shipped_reply_reads_well_with_fallbacks_and_values(folder: Path, default_schema: LabelSchema) -> None:
    library = load_library(folder, default_schema)
    suggester = ReplySuggester(library)
    for item in suggester.items:
        for values in ({}, {"eta": {"he": "עד 16:00 היום", "en": "by 4 pm today", "ar": "اليوم"}.get(item.language),
                            "agent_name": "Noa", "first_name": "Dana", "order_id": "4471902"}):
            text, _ = suggester._render(item.text, values, item.language)
            assert not DOUBLED.search(text), (item.id, text)
            assert "  " not in text and " ," not in text and not text.startswith((",", ".")), (item.id, text)


def library_error(tmp_path: Path, schema: LabelSchema, old: str, new: str) -> str:
    text = MINIMAL_LIBRARY.replace(old, new)
    with pytest.raises(ConfigError) as err:
        load_library(write_library(tmp_path, text), schema)
    return str(err.value)


def test_a_private_reply_may_not_ask_for_a_private_message(tmp_path: Path, default_schema: LabelSchema) -> None:
    msg = library_error(tmp_path, default_schema, "text: Thank you[[, {first_name}]]!",
                        "text: Thanks! Please send us a private message.")
    assert re.search(r"templates\.yaml:\d+: templates\[1\]\.text: asks for a private message \(private message\) "
                     r"but can be sent as a private reply", msg), msg
    public = MINIMAL_LIBRARY.replace("text: Thank you[[, {first_name}]]!",
                                     "reply_mode: public\n    text: Thanks! Please send us a private message.")
    assert load_library(write_library(tmp_path / "ok", public), default_schema)


def test_a_preposition_before_a_phrase_placeholder_is_refused(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_LIBRARY.replace("  agent_name: {default: {he: הצוות, en: the team}}\n",
                                   "  agent_name: {default: {he: הצוות, en: the team}}\n"
                                   "  eta: {phrase: true, fallback: {he: בהקדם האפשרי, en: as soon as possible}}\n")
    bad = text.replace("text: תודה רבה[[, {first_name}]]!", "text: תודה רבה, נחזור אליכם עד {eta}.")
    with pytest.raises(ConfigError, match=r"templates\[0\]\.text: 'עד \{eta\}': the placeholder is a whole phrase"):
        load_library(write_library(tmp_path, bad), default_schema)
    good = text.replace("text: תודה רבה[[, {first_name}]]!", "text: תודה רבה, נחזור אליכם {eta}.")
    assert load_library(write_library(tmp_path / "ok", good), default_schema)


@pytest.mark.parametrize("word", ["צודק", "צודקת", "תשלח", "תשלחי", "תכתוב", "תתקשר"])
def test_the_gender_lint_catches_more_second_person_forms(word: str) -> None:
    assert gendered_forms(f"אתם? לא, {word} לנו") == [word]
    assert gendered_forms("ההודעה תישלח אליכם מחר") == []


def test_topic_words_and_sectors_limit_templates(suggester: ReplySuggester, router: PolicyRouter,
                                                 default_schema: LabelSchema) -> None:
    line = Post(text="אין אינטרנט מהבוקר, הראוטר מהבהב")
    replies, _ = replies_for(suggester, router, default_schema, line, intent="complaint", urgency="high")
    assert replies[0].template_id == "complaint-technical-line-he"
    # A bank using the same library never gets router advice: the line template is for telecom brands.
    replies, _ = replies_for(suggester, router, default_schema, line, sector="bank", intent="complaint",
                             urgency="high")
    assert all(r.template_id != "complaint-technical-line-he" for r in replies)
    assert all("נתב" not in r.text for r in replies)
    # An app problem never gets the line template (its topic words are not in the post).
    app = Post(text="האפליקציה לא נותנת לי להתחבר")
    replies, _ = replies_for(suggester, router, default_schema, app, intent="complaint", urgency="high")
    assert [r.template_id for r in replies][:1] == ["complaint-technical-app-he"]
    assert all("נתב" not in r.text for r in replies)
