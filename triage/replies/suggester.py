"""Suggested replies: pick the templates that fit the decision, rank them, fill them in.

1. **Filter** the brand's templates by the routing decision: the post's labels, the queue, the reply mode
   (and the templates the matched rule prefers), in the post's language.
2. **Rank** by similarity between the post and each template's example posts: cosine of the
   classifier's sentence embeddings (examples are embedded once, when the library loads), or, when the
   classifier has no embedding, character-trigram cosine (said so in the notes). Knowledge-base answers
   join the ranking for the posts the library sends to the knowledge base (``question`` in the default
   library). The best three are returned with their scores.
3. **Fill** placeholders from the post (author, entities), the request (``ReplyContext``) and the
   library's defaults; see ``triage.replies.placeholders`` for what happens when a value is missing.

A public reply never carries the author's personal data: personal placeholders (phone, email, ID, card)
are not filled in public, and every public reply is checked against the post's personal entities before
it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from triage.classify.base import Classifier
from triage.errors import InputError
from triage.replies.library import (
    AUTHOR_PLACEHOLDERS,
    ENTITY_PLACEHOLDERS,
    PERSONAL_PLACEHOLDERS,
    ReplyLibrary,
    Template,
)
from triage.replies.placeholders import ParsedText, render
from triage.replies.similarity import best_cosine, best_trigram_score, trigrams
from triage.text.normalise import normalise
from triage.types import (
    REDACTED_TYPES,
    Classification,
    EntitiesResult,
    Entity,
    Post,
    PostContext,
    ReplyMode,
    RoutingDecision,
    SuggestedReply,
)

TOP_K = 3
LANGUAGE_NAMES = {"he": "Hebrew", "en": "English", "ar": "Arabic", "ru": "Russian", "other": "an unrecognised language"}
_DIGIT_RUN_RE = re.compile(r"\d[\d \-.]*\d")


@dataclass(frozen=True)
class ReplyContext:
    """Request-level placeholder values (``agent_name``, ``eta``...), used before library defaults."""

    values: Mapping[str, str] = field(default_factory=dict)


def personal_data_in(text: str, entities: Sequence[Entity]) -> list[str]:
    """Types of the post's personal entities (phone, email, ID, card) that appear in ``text``."""
    folded = text.casefold()
    digit_runs = {re.sub(r"\D", "", m.group(0)) for m in _DIGIT_RUN_RE.finditer(text)}
    found: list[str] = []
    for e in entities:
        if e.type not in REDACTED_TYPES:
            continue
        digits = re.sub(r"\D", "", e.value)
        hit = e.text.casefold() in folded or e.value.casefold() in folded
        if not hit and len(digits) >= 5:
            hit = any(digits in run for run in digit_runs)
        if hit and e.type not in found:
            found.append(e.type)
    return found


def _fits_labels(labels: Mapping[str, list[str]], predicted: Mapping[str, str]) -> bool:
    return all(predicted.get(head) in allowed for head, allowed in labels.items())


class ReplySuggester:
    """Suggests replies from one library. Implements the engine's ``Replier`` protocol."""

    def __init__(
        self,
        library: ReplyLibrary,
        classifier: Classifier | None = None,
        *,
        context: ReplyContext | None = None,
        top_k: int = TOP_K,
    ) -> None:
        self.library = library
        self.context = context or ReplyContext()
        self.top_k = top_k
        self.items: list[Template] = [*library.templates, *library.kb]
        texts: list[str] = []
        self._spans: list[tuple[int, int]] = []
        for item in self.items:
            start = len(texts)
            texts.extend(normalise(x).text for x in item.examples)
            self._spans.append((start, len(texts)))
        # Lexical features are cheap: keep them for posts that arrive without an embedding.
        self._grams = [trigrams(t) for t in texts]
        self._embeddings: np.ndarray | None = None
        if classifier is not None and texts:
            emb = classifier.embed(texts)
            if emb is not None:
                self._embeddings = np.asarray(emb, dtype=np.float32)

    @property
    def uses_embeddings(self) -> bool:
        return self._embeddings is not None

    # -- ranking -------------------------------------------------------------------------------------

    def _score(self, index: int, post_grams: object, embedding: np.ndarray | None) -> float:
        start, end = self._spans[index]
        if embedding is not None and self._embeddings is not None:
            return best_cosine(embedding, self._embeddings[start:end])
        return best_trigram_score(post_grams, self._grams[start:end])  # type: ignore[arg-type]

    # -- values ----------------------------------------------------------------------------------------

    def _values(self, post: Post, entities: EntitiesResult, language: str, mode: ReplyMode,
                context: ReplyContext, withheld: list[str]) -> dict[str, str | None]:
        lib = self.library
        author = post.author
        out: dict[str, str | None] = {}
        for name, spec in lib.spec.placeholders.items():
            value: str | None = context.values.get(name)
            if value is None and name in AUTHOR_PLACEHOLDERS and author is not None:
                if name == "first_name":
                    value = author.first_name or (author.name.split()[0] if author.name and author.name.split() else None)
                elif name == "full_name":
                    value = author.name
                else:
                    value = f"@{author.handle.lstrip('@')}" if author.handle else None
            if value is None and name in ENTITY_PLACEHOLDERS:
                entity = next((e for e in entities.entities if e.type == name), None)
                if entity is not None:
                    value = entity.text.lstrip("#") if name in ("phone", "url") else entity.value
            if value is None:
                value = spec.default.get(language)
            if value and mode == "public" and (spec.personal or name in PERSONAL_PLACEHOLDERS):
                withheld.append(name)
                value = None
            out[name] = value.strip() if isinstance(value, str) and value.strip() else None
        return out

    def _render(self, parsed: ParsedText, values: Mapping[str, str | None], language: str) -> tuple[str, list[str]]:
        fallback = {n: s.fallback[language] for n, s in self.library.spec.placeholders.items() if language in s.fallback}
        return render(parsed, lambda n: values.get(n), fallback)

    # -- the Replier protocol ------------------------------------------------------------------------------

    def suggest(
        self,
        post_context: PostContext,
        classification: Classification,
        decision: RoutingDecision | None,
        embedding: np.ndarray | None,
        *,
        context: ReplyContext | None = None,
    ) -> tuple[list[SuggestedReply], list[str]]:
        """The best replies (at most ``top_k``) and notes on what could not be done."""
        post, norm = post_context.post, post_context.normalised
        language, entities = post_context.language, post_context.entities
        lib = self.library
        notes: list[str] = []
        lang = language.language
        if decision is not None and "reply" not in decision.actions:
            return [], [f"no reply suggested: the decision's actions are {', '.join(decision.actions)}"]
        predicted = {h: p.label for h, p in classification.heads.items()}
        if decision is not None:
            mode: ReplyMode = decision.reply_mode
        else:
            personal = any(e.type in REDACTED_TYPES for e in entities.entities)
            mode = "public" if post.is_public and not personal else "private"

        def fits(t: Template) -> bool:
            if t.reply_mode not in ("any", mode):
                return False
            if decision is not None and t.queues is not None and decision.queue not in t.queues:
                return False
            return _fits_labels(t.labels, predicted)

        pinned = set(decision.templates) if decision is not None else set()
        fitting = [i for i, t in enumerate(self.items) if t.source == "template" and fits(t)]
        if pinned:
            chosen = [i for i in fitting if self.items[i].id in pinned and self.items[i].language == lang]
            if not chosen:
                notes.append(f"rule '{decision.rule}' prefers templates {sorted(pinned)}, none of which fits this "  # type: ignore[union-attr]
                             f"post in {lang!r}; using the other templates")
                chosen = fitting
            fitting = chosen
        kb_use = lib.spec.knowledge_base
        use_kb = kb_use is not None and _fits_labels(kb_use.labels, predicted)
        kb = [i for i, t in enumerate(self.items) if t.source == "knowledge_base"] if use_kb else []

        reply_lang: str = lang
        in_lang = [i for i in fitting if self.items[i].language == lang]
        kb_in_lang = [i for i in kb if self.items[i].language == lang]
        if not in_lang and not kb_in_lang:
            name = LANGUAGE_NAMES.get(lang, lang)
            if lang not in lib.languages:
                notes.append(f"no reply template in {name} ('{lang}') in library '{lib.name}'")
            else:
                notes.append(f"no template in {name} ('{lang}') fits "
                             + ", ".join(f"{h}={v}" for h, v in predicted.items()) + f" and a {mode} reply")
            fb = lib.spec.fallback_language
            if fb is None or fb == lang:
                return [], notes
            reply_lang = fb
            in_lang = [i for i in fitting if self.items[i].language == fb]
            kb_in_lang = [i for i in kb if self.items[i].language == fb]
            notes.append(f"showing {LANGUAGE_NAMES.get(fb, fb)} templates instead: the reply is not in the post's language")
            if not in_lang and not kb_in_lang:
                return [], notes

        usable = embedding
        if embedding is None or self._embeddings is None:
            usable = None
            notes.append("ranked by character-trigram similarity: no sentence embedding is available")
        elif np.asarray(embedding).shape[-1] != self._embeddings.shape[1]:
            usable = None
            notes.append("ranked by character-trigram similarity: the post embedding's size differs from the library's")
        post_grams = trigrams(norm.text) if usable is None else None
        scored = [(self._score(i, post_grams, usable), i) for i in in_lang]
        if kb_in_lang:
            assert kb_use is not None
            floor = kb_use.min_score if usable is not None else kb_use.min_score_lexical
            kb_scored = [(self._score(i, post_grams, usable), i) for i in kb_in_lang]
            good = [(s, i) for s, i in kb_scored if s >= floor]
            if not good:
                notes.append(f"no knowledge-base answer is similar enough (best {max(s for s, _ in kb_scored):.2f} "
                             f"< {floor:.2f})")
            scored += good
        scored.sort(key=lambda si: (-si[0], si[1]))

        ctx = context or self.context
        withheld: list[str] = []
        values = self._values(post, entities, reply_lang, mode, ctx, withheld)
        replies: list[SuggestedReply] = []
        for score, i in scored:
            if len(replies) >= self.top_k:
                break
            item = self.items[i]
            text, missing = self._render(item.text, values, reply_lang)
            variants = {k: self._render(v, values, reply_lang)[0] for k, v in item.variants.items()}
            if mode == "public":
                leaked = sorted({t for s in (text, *variants.values()) for t in personal_data_in(s, entities.entities)})
                if leaked:
                    notes.append(f"'{item.id}' withheld: as a public reply it would show the author's "
                                 f"{', '.join(leaked)}")
                    continue
            replies.append(SuggestedReply(
                template_id=item.id,
                language=item.language,
                text=text,
                score=round(float(score), 4),
                reply_mode=mode,
                missing_placeholders=missing,
                source=item.source,
                variants=variants,
            ))
        used = {n for r in replies for n in r.missing_placeholders}
        for name in dict.fromkeys(withheld):
            if name in used:
                notes.append(f"{{{name}}} left out of a public reply (personal data)")
        return replies, notes


class BrandReplier:
    """Suggests replies with each brand's library (by the decision's brand, else ``post.brand``)."""

    def __init__(self, repliers: Mapping[str, ReplySuggester], default_brand: str | None) -> None:
        self.repliers = dict(repliers)
        self.default_brand = default_brand

    def for_brand(self, brand: str | None) -> ReplySuggester | None:
        name = brand or self.default_brand
        return self.repliers.get(name) if name is not None else None

    def suggest(
        self,
        post_context: PostContext,
        classification: Classification,
        decision: RoutingDecision | None,
        embedding: np.ndarray | None,
    ) -> tuple[list[SuggestedReply], list[str]]:
        post = post_context.post
        brand = decision.brand if decision is not None else post.brand or self.default_brand
        replier = self.repliers.get(brand) if brand is not None else None
        if replier is None:
            if decision is None:
                raise InputError(f"unknown brand {brand!r} (brands: {', '.join(sorted(self.repliers))})",
                                 code="unknown_brand", field="brand")
            return [], [f"brand '{brand}' has no reply library"]
        return replier.suggest(post_context, classification, decision, embedding)
