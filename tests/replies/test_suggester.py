"""Suggested replies: filtered by the decision, ranked by similarity, filled, and never leaking personal
data into a public reply."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.routing.support import (
    MINIMAL_LIBRARY,
    POLICIES,
    REPLIES,
    at,
    classification,
    prepare,
    write_library,
)
from triage.classify.fake import FakeClassifier
from triage.errors import InputError
from triage.replies.library import ReplyLibrary, load_library
from triage.replies.suggester import BrandReplier, ReplyContext, ReplySuggester, personal_data_in
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema
from triage.text.normalise import normalise
from triage.types import Author, Post, PostContext, RoutingDecision, SuggestedReply

NOW = at(2026, 9, 15, 12)
RAW_MARKER = re.compile(r"[{}]|\[\[|\]\]|\[[a-z_]+\]")


class NoEmbeddings(FakeClassifier):
    def embed(self, texts: Sequence[str]) -> None:  # type: ignore[override]
        return None


@pytest.fixture(scope="module")
def library(default_schema: LabelSchema) -> ReplyLibrary:
    return load_policy(POLICIES / "default.yaml", default_schema).library  # type: ignore[return-value]


@pytest.fixture(scope="module")
def router(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))


@pytest.fixture(scope="module")
def embedder(default_schema: LabelSchema) -> FakeClassifier:
    return FakeClassifier(default_schema)


@pytest.fixture(scope="module")
def suggester(library: ReplyLibrary, embedder: FakeClassifier) -> ReplySuggester:
    return ReplySuggester(library, embedder)


def suggest(
    suggester: ReplySuggester,
    schema: LabelSchema,
    text: str,
    *,
    router: PolicyRouter | None = None,
    decision: RoutingDecision | None = None,
    channel: str = "facebook",
    author: Author | None = None,
    embed: bool = True,
    lang: str | None = None,
    context: ReplyContext | None = None,
    **labels: Any,
) -> tuple[list[SuggestedReply], list[str], RoutingDecision | None]:
    post = Post.model_validate({"text": text, "channel": channel, "author": author})
    language, entities = prepare(text, lang)
    cls = classification(schema, **labels)
    norm = normalise(text)
    post_context = PostContext(post, norm, language, entities)
    if router is not None:
        decision = router.route(post_context, cls, NOW)
    embedding = FakeClassifier(schema).embed([norm.text])[0] if embed else None
    replies, notes = suggester.suggest(post_context, cls, decision, embedding, context=context)
    return replies, notes, decision


def test_ranked_by_embedding_similarity_top_three(suggester: ReplySuggester, router: PolicyRouter,
                                                  default_schema: LabelSchema) -> None:
    replies, notes, _ = suggest(suggester, default_schema, "עד איזו שעה אתם פתוחים?", router=router,
                                intent="question")
    assert suggester.uses_embeddings and not any("trigram" in n for n in notes)
    assert 1 <= len(replies) <= 3
    assert [r.score for r in replies] == sorted((r.score for r in replies), reverse=True)
    assert replies[0].template_id == "kb-hours-he" and replies[0].source == "knowledge_base"
    assert replies[0].score == pytest.approx(1.0)
    assert all(r.language == "he" for r in replies)


def test_lexical_fallback_without_embeddings(library: ReplyLibrary, router: PolicyRouter,
                                             default_schema: LabelSchema) -> None:
    lexical = ReplySuggester(library, NoEmbeddings(default_schema))
    assert not lexical.uses_embeddings
    replies, notes, _ = suggest(lexical, default_schema, "תודה לנציגה שרית, שירות מדהים", router=router,
                                intent="praise", urgency="low", embed=False)
    assert replies[0].template_id == "praise-he" and replies[0].score > 0.5
    assert "ranked by character-trigram similarity: no sentence embedding is available" in notes
    again, _, _ = suggest(lexical, default_schema, "תודה לנציגה שרית, שירות מדהים", router=router,
                          intent="praise", urgency="low", embed=False)
    assert again == replies                                  # deterministic


def test_post_without_embedding_falls_back_too(suggester: ReplySuggester, router: PolicyRouter,
                                               default_schema: LabelSchema) -> None:
    _, notes, _ = suggest(suggester, default_schema, "thanks!", router=router, intent="praise", embed=False)
    assert any("character-trigram" in n for n in notes)


def test_placeholders_are_filled_from_author_and_entities(suggester: ReplySuggester, router: PolicyRouter,
                                                          default_schema: LabelSchema) -> None:
    replies, _, decision = suggest(
        suggester, default_schema, "Order 4471902 still hasn't arrived and nobody answers", router=router,
        author=Author(name="Dana Levi"), intent="complaint", sentiment="negative",
    )
    assert decision is not None and decision.reply_mode == "private"
    top = replies[0]
    assert top.template_id == "complaint-private-en"
    assert top.text.startswith("Hi Dana, this is the Customer Care team.")
    assert "your order 4471902" in top.text and "as soon as possible" in top.text
    assert top.missing_placeholders == ["eta"]


def test_request_context_values_come_first(suggester: ReplySuggester, router: PolicyRouter,
                                           default_schema: LabelSchema) -> None:
    ctx = ReplyContext({"agent_name": "Noa", "eta": "by 4 pm today"})
    replies, _, _ = suggest(suggester, default_schema, "Order 4471902 still hasn't arrived", router=router,
                            context=ctx, intent="complaint")
    assert "this is Noa" in replies[0].text and "by 4 pm today" in replies[0].text
    assert replies[0].missing_placeholders == ["first_name"]


def test_missing_values_never_leave_raw_markers(suggester: ReplySuggester, library: ReplyLibrary) -> None:
    for item in suggester.items:
        for lang in {item.language}:
            text, missing = suggester._render(item.text, {}, lang)
            assert not RAW_MARKER.search(text), (item.id, text)
            assert set(missing) == set(item.text.names)


def test_public_reply_never_contains_personal_data(tmp_path: Path, default_schema: LabelSchema,
                                                   embedder: FakeClassifier) -> None:
    text = MINIMAL_LIBRARY.replace(
        "  - id: praise-en\n",
        "  - id: callback-en\n    language: en\n    text: We'll call you back[[ on {phone}]], {agent_name}.\n"
        "    examples: [call me back, please call me, phone me]\n  - id: praise-en\n",
    )
    lib = load_library(write_library(tmp_path, text), default_schema)
    s = ReplySuggester(lib, embedder)
    post_text = "please call me 052-3456789 or dana@example.com"
    public = _decision("public")
    replies, notes, _ = suggest(s, default_schema, post_text, decision=public, intent="request")
    assert replies and all(personal_data_in(r.text, prepare(post_text)[1].entities) == [] for r in replies)
    callback = next(r for r in replies if r.template_id == "callback-en")
    assert callback.text == "We'll call you back, the team." and "phone" in callback.missing_placeholders
    assert "{phone} left out of a public reply (personal data)" in notes
    # A phone given as the agent's name is refused when the value is sanitised...
    leaky = ReplyContext({"agent_name": "052-3456789"})
    replies, notes, _ = suggest(s, default_schema, post_text, decision=public, context=leaky, intent="request")
    assert all("3456789" not in r.text for r in replies)
    assert "the request's agent_name was not used in the reply: it contains digits" in notes
    # ...and a request value that is not sanitised (an order number) but is the author's phone is still
    # caught before the reply leaves.
    text_with_order = text.replace("We'll call you back[[ on {phone}]], {agent_name}.",
                                   "We'll call you back about {order_id}, {agent_name}.")
    lib2 = load_library(write_library(tmp_path / "b", text_with_order), default_schema)
    replies, notes, _ = suggest(ReplySuggester(lib2, embedder), default_schema, post_text, decision=public,
                                context=ReplyContext({"order_id": "052-3456789"}), intent="request")
    assert all("3456789" not in r.text for r in replies)
    assert "'callback-en' withheld: as a public reply it would show the author's phone" in notes
    # In private the phone is filled in.
    replies, _, _ = suggest(s, default_schema, post_text, decision=_decision("private"), intent="request")
    assert next(r for r in replies if r.template_id == "callback-en").text == (
        "We'll call you back on 052-3456789, the team.")


@pytest.mark.parametrize("text", [
    "Charged twice, my card 4580 4580 4580 4580, call 052-3456789",
    "תחזרו אליי 052-3456789, ת\"ז 123456782, dana@example.com",
])
def test_no_shipped_template_leaks_personal_data_in_public(suggester: ReplySuggester, default_schema: LabelSchema,
                                                           text: str) -> None:
    _, entities = prepare(text)
    assert {e.type for e in entities.entities} & {"phone", "card", "il_id", "email"}
    for intent in default_schema.head("intent").labels:
        replies, _, _ = suggest(suggester, default_schema, text, decision=_decision("public"), intent=intent)
        for r in replies:
            assert personal_data_in(r.text, entities.entities) == [], (intent, r.text)


def test_no_template_in_the_post_language(suggester: ReplySuggester, router: PolicyRouter,
                                          default_schema: LabelSchema) -> None:
    replies, notes, _ = suggest(suggester, default_schema, "Где мой заказ?", router=router, intent="question")
    assert replies == []
    assert "no reply template in Russian ('ru') in library 'default'" in notes


def test_fallback_language_is_said_in_the_notes(tmp_path: Path, default_schema: LabelSchema,
                                                embedder: FakeClassifier) -> None:
    lib = load_library(write_library(tmp_path, MINIMAL_LIBRARY.replace("schema: default\n",
                                                                      "schema: default\nfallback_language: en\n")),
                       default_schema)
    replies, notes, _ = suggest(ReplySuggester(lib, embedder), default_schema, "Спасибо большое!", intent="praise")
    assert [r.template_id for r in replies] == ["praise-en"]
    assert "no reply template in Russian ('ru') in library 'tiny'" in notes
    assert "showing English templates instead: the reply is not in the post's language" in notes


def test_no_reply_when_the_decision_has_no_reply_action(suggester: ReplySuggester, router: PolicyRouter,
                                                        default_schema: LabelSchema) -> None:
    replies, notes, _ = suggest(suggester, default_schema, "Follow me for free crypto", router=router,
                                intent="spam", urgency="low")
    assert replies == [] and notes == ["no reply suggested: the decision's actions are hide"]


def test_rule_templates_are_preferred(suggester: ReplySuggester, router: PolicyRouter,
                                      default_schema: LabelSchema) -> None:
    replies, _, decision = suggest(suggester, default_schema, "מצאתי זכוכית בסלט!", router=router,
                                   intent="complaint", urgency="critical")
    assert decision is not None and decision.rule == "crisis"
    assert [r.template_id for r in replies] == ["crisis-holding-he"]


def test_queue_and_reply_mode_filters(suggester: ReplySuggester, router: PolicyRouter,
                                      default_schema: LabelSchema) -> None:
    billing, _, d = suggest(suggester, default_schema, "Charged twice this month. Again.", router=router,
                            intent="complaint")
    assert d is not None and d.queue == "billing" and d.reply_mode == "private"
    assert billing[0].template_id == "complaint-billing-en"
    public, _, d = suggest(suggester, default_schema, "the delivery was late again", router=router,
                           intent="complaint")
    assert d is not None and d.reply_mode == "public"
    ids = [r.template_id for r in public]
    assert "complaint-public-en" in ids and not any("private" in i or "billing" in i for i in ids)
    assert all(r.reply_mode == "public" for r in public)


def test_without_a_decision_mode_follows_channel_and_personal_data(suggester: ReplySuggester,
                                                                   default_schema: LabelSchema) -> None:
    public, _, _ = suggest(suggester, default_schema, "the delivery was late", intent="complaint")
    assert public and all(r.reply_mode == "public" for r in public)
    private, _, _ = suggest(suggester, default_schema, "late! call 052-3456789", intent="complaint")
    assert private and all(r.reply_mode == "private" for r in private)


def test_gendered_variants_are_returned(tmp_path: Path, default_schema: LabelSchema,
                                        embedder: FakeClassifier) -> None:
    text = MINIMAL_LIBRARY.replace(
        "    text: תודה רבה[[, {first_name}]]!\n",
        "    text: תודה רבה[[, {first_name}]]!\n    text_f: תודה לך, יקרה[[ {first_name}]]!\n"
        "    text_m: תודה לך, יקר[[ {first_name}]]!\n",
    )
    lib = load_library(write_library(tmp_path, text), default_schema)
    replies, _, _ = suggest(ReplySuggester(lib, embedder), default_schema, "תודה!", intent="praise",
                            author=Author(first_name="נועה"))
    assert replies[0].text == "תודה רבה, נועה!"
    assert replies[0].variants == {"f": "תודה לך, יקרה נועה!", "m": "תודה לך, יקר נועה!"}


def test_knowledge_base_needs_enough_similarity(suggester: ReplySuggester, router: PolicyRouter,
                                                default_schema: LabelSchema) -> None:
    # "holiday" puts the opening-hours answer on topic; the rest of the post is unlike its examples.
    replies, notes, _ = suggest(suggester, default_schema, "xyzzy plugh holiday zzz?", router=router,
                                intent="question", embed=False)
    assert all(r.source == "template" for r in replies)
    assert any(n.startswith("no knowledge-base answer is similar enough") for n in notes)


def test_brand_replier_dispatch(suggester: ReplySuggester, default_schema: LabelSchema) -> None:
    replier = BrandReplier({"default": suggester}, "default")
    post, norm = Post(text="thanks!"), normalise("thanks!")
    language, entities = prepare("thanks!")
    cls = classification(default_schema, intent="praise")
    ctx = PostContext(post, norm, language, entities)
    replies, _ = replier.suggest(ctx, cls, None, np.zeros(32, dtype=np.float32))
    assert replies and replies[0].template_id == "praise-en"
    with pytest.raises(InputError) as err:
        replier.suggest(PostContext(Post(text="thanks!", brand="acme"), norm, language, entities), cls, None, None)
    assert err.value.code == "unknown_brand"
    other = _decision("public").model_copy(update={"brand": "acme"})
    assert replier.suggest(ctx, cls, other, None) == (
        [], ["brand 'acme' has no reply library"])


def _decision(mode: str) -> RoutingDecision:
    return RoutingDecision(
        brand="default", queue="care", priority="P3", rule="test", first_response_due=NOW, sla_minutes=60,
        around_the_clock=False, reply_mode=mode, actions=["reply"], needs_human=False, reasons=[],  # type: ignore[arg-type]
    )


def test_library_examples_are_real_posts(library: ReplyLibrary) -> None:
    assert REPLIES.is_dir() and all(len(t.examples) >= 3 for t in library.templates)
