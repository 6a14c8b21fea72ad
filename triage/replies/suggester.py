"""Suggested replies: pick the templates that fit the decision, rank them, fill them in.

1. **Filter** the brand's templates by the routing decision before any similarity: the post's labels, the
   reply mode (a private reply never asks for a private message), the queue, the brand's sector, the
   template's topic words, the post's language, and the templates the matched rule prefers.
2. **Rank**: the templates the matched rule names first, then templates written for the decision's queue,
   then templates whose topic words the post holds, then the rest; within each, by similarity between the
   post and the template's example posts.
   Similarity blends the classifier's sentence embeddings with character trigrams: the fine-tuned encoder
   groups posts by intent (two questions score 0.98 whatever they ask about), so the embedding part is
   taken relative to how close the post is to the library as a whole, and trigrams tell topics apart.
   Without an embedding, trigrams alone (said so in the notes). Knowledge-base answers join for the posts
   the library sends to the knowledge base. The best three are returned with their scores.
3. **Fill** placeholders from the post (author, entities, ``agent_name`` / ``eta``), the request
   (``ReplyContext``) and the library's defaults — every outside value sanitised first (see
   ``triage.replies.sanitise``); see ``triage.replies.placeholders`` for what happens when one is missing.
   When the author's grammatical gender is known, the template's gendered form is the text.

A public reply never carries the author's personal data: personal placeholders (phone, email, ID, card)
are not filled in public, and every public reply is checked against the post's personal entities before
it is returned.
"""

from __future__ import annotations

import re
from collections import Counter
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
from triage.replies.sanitise import MAX_AGENT_NAME, clean_handle, clean_name, clean_phrase
from triage.replies.similarity import best_trigram_score, trigram_norm, trigrams
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
# Weight of the embedding part of a score (the rest is character trigrams).
EMBEDDING_WEIGHT = 0.5


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


def _post_features(text: str, emb_scores: np.ndarray | None) -> tuple[Counter[str], float, float]:
    """What every candidate's score needs of the post, computed once: trigrams, their norm, the embedding baseline."""
    grams = trigrams(text)
    return grams, trigram_norm(grams), float(np.mean(emb_scores)) if emb_scores is not None else 0.0


class _LabelIndex:
    """Which templates a post's labels allow, by set intersection: equal to ``_fits_labels`` on each template.

    Why: a library holds dozens of templates, and testing each one's label lists per post is the suggester's
    largest cost; most templates are for other intents.
    """

    def __init__(self, labels: list[Mapping[str, list[str]] | None]) -> None:
        self._all = frozenset(i for i, lab in enumerate(labels) if lab is not None)
        heads = {h for lab in labels if lab for h in lab}
        # head -> label -> the templates that allow it; templates that name no labels for a head allow any.
        self._free = {h: frozenset(i for i in self._all if h not in (labels[i] or {})) for h in heads}
        self._allowing: dict[str, dict[str, frozenset[int]]] = {}
        for h in heads:
            values = {v for lab in labels if lab and h in lab for v in lab[h]}
            self._allowing[h] = {v: self._free[h] | {i for i in self._all if v in (labels[i] or {}).get(h, ())}
                                 for v in values}

    def fitting(self, predicted: Mapping[str, str]) -> list[int]:
        allowed = self._all
        for head, by_label in self._allowing.items():
            allowed = allowed & by_label.get(predicted.get(head), self._free[head])  # type: ignore[arg-type]
        return sorted(allowed)


@dataclass
class _Request:
    """One suggestion request: the post, what the decision allows, and the notes gathered on the way."""

    context: PostContext
    predicted: dict[str, str]
    decision: RoutingDecision | None
    mode: ReplyMode
    sector: str | None
    folded: str
    notes: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


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
        # Lexical features are cheap and always used (alone when a post arrives without an embedding).
        self._grams = [trigrams(t) for t in texts]
        self._gram_norms = [trigram_norm(g) for g in self._grams]
        self._label_index = _LabelIndex([t.labels if t.source == "template" else None for t in self.items])
        self._embeddings: np.ndarray | None = None
        if classifier is not None and texts:
            emb = classifier.embed(texts)
            if emb is not None:
                rows = np.asarray(emb, dtype=np.float32)
                norms = np.linalg.norm(rows, axis=1, keepdims=True)
                self._embeddings = rows / np.where(norms == 0, 1.0, norms)

    @property
    def uses_embeddings(self) -> bool:
        return self._embeddings is not None

    # -- the Replier protocol ------------------------------------------------------------------------------

    def suggest(
        self,
        post_context: PostContext,
        classification: Classification,
        decision: RoutingDecision | None,
        embedding: np.ndarray | None,
        *,
        context: ReplyContext | None = None,
        sector: str | None = None,
    ) -> tuple[list[SuggestedReply], list[str]]:
        """The best replies (at most ``top_k``) and notes on what could not be done."""
        if decision is not None and "reply" not in decision.actions:
            return [], [f"no reply suggested: the decision's actions are {', '.join(decision.actions)}"]
        req = _Request(post_context, {h: p.label for h, p in classification.heads.items()}, decision,
                       self._mode(post_context, decision), sector, post_context.normalised.text.casefold())
        candidates, reply_lang = self._candidates(req)
        if not candidates:
            return [], req.notes
        scored = self._rank(req, candidates, embedding)
        values = self._values(req, reply_lang, context or self.context)
        return self._fill(req, scored, values, reply_lang), req.notes

    @staticmethod
    def _mode(post_context: PostContext, decision: RoutingDecision | None) -> ReplyMode:
        if decision is not None:
            return decision.reply_mode
        personal = any(e.type in REDACTED_TYPES for e in post_context.entities.entities)
        return "public" if post_context.post.is_public and not personal else "private"

    # -- filtering -----------------------------------------------------------------------------------------

    def _fits(self, t: Template, req: _Request) -> bool:
        if t.reply_mode not in ("any", req.mode):
            return False
        if req.decision is not None and t.queues is not None and req.decision.queue not in t.queues:
            return False
        if req.sector is not None and t.sectors is not None and req.sector not in t.sectors:
            return False
        return t.on_topic(req.folded)  # the labels are checked by _LabelIndex

    def _candidates(self, req: _Request) -> tuple[list[int], str]:
        """Indices of the items that may answer this post, and the language they are in."""
        lib, lang, decision = self.library, req.context.language.language, req.decision
        fitting = [i for i in self._label_index.fitting(req.predicted) if self._fits(self.items[i], req)]
        pinned = set(decision.templates) if decision is not None else set()
        if pinned:
            chosen = [i for i in fitting if self.items[i].id in pinned and self.items[i].language == lang]
            if not chosen:
                req.notes.append(f"rule '{decision.rule}' prefers templates {sorted(pinned)}, none of which fits "  # type: ignore[union-attr]
                                 f"this post in {lang!r}; using the other templates")
            fitting = chosen or fitting
        kb_use = lib.spec.knowledge_base
        kb = ([i for i, t in enumerate(self.items) if t.source == "knowledge_base" and t.on_topic(req.folded)]
              if kb_use is not None and _fits_labels(kb_use.labels, req.predicted) else [])
        in_lang = [i for i in [*fitting, *kb] if self.items[i].language == lang]
        if in_lang:
            return in_lang, lang
        name = LANGUAGE_NAMES.get(lang, lang)
        if lang not in lib.languages:
            req.notes.append(f"no reply template in {name} ('{lang}') in library '{lib.name}'")
        else:
            req.notes.append(f"no template in {name} ('{lang}') fits "
                             + ", ".join(f"{h}={v}" for h, v in req.predicted.items()) + f" and a {req.mode} reply")
        fb = lib.spec.fallback_language
        if fb is None or fb == lang:
            return [], lang
        req.notes.append(f"showing {LANGUAGE_NAMES.get(fb, fb)} templates instead: the reply is not in the post's "
                         "language")
        return [i for i in [*fitting, *kb] if self.items[i].language == fb], fb

    # -- ranking -------------------------------------------------------------------------------------------

    def _rank(self, req: _Request, candidates: list[int], embedding: np.ndarray | None) -> list[tuple[float, int]]:
        emb_scores = self._embedding_scores(embedding, req.notes)
        post = _post_features(req.context.normalised.text, emb_scores)
        kb_use = self.library.spec.knowledge_base
        scored: list[tuple[float, int]] = []
        kb_scores: list[float] = []
        for i in candidates:
            score = self._score(i, post, emb_scores)
            if self.items[i].source == "knowledge_base":
                assert kb_use is not None
                kb_scores.append(score)
                if score < (kb_use.min_score if emb_scores is not None else kb_use.min_score_lexical):
                    continue
            scored.append((score, i))
        if kb_scores and not any(self.items[i].source == "knowledge_base" for _, i in scored):
            assert kb_use is not None
            floor = kb_use.min_score if emb_scores is not None else kb_use.min_score_lexical
            req.notes.append(f"no knowledge-base answer is similar enough (best {max(kb_scores):.2f} < {floor:.2f})")
        queue = req.decision.queue if req.decision is not None else None
        pinned = set(req.decision.templates) if req.decision is not None else set()

        def order(si: tuple[float, int]) -> tuple[int, int, int, float, int]:
            # What the decision says comes before similarity: the rule's own templates, then templates
            # written for the queue, then those on the post's topic (their words are in the post).
            item = self.items[si[1]]
            by_rule = 0 if item.id in pinned else 1
            for_queue = 0 if item.queues is not None and queue in item.queues else 1
            on_topic = 0 if item.keywords is not None else 1
            return by_rule, for_queue, on_topic, -si[0], si[1]

        return sorted(scored, key=order)

    def _embedding_scores(self, embedding: np.ndarray | None, notes: list[str]) -> np.ndarray | None:
        if embedding is None or self._embeddings is None:
            notes.append("ranked by character-trigram similarity: no sentence embedding is available")
            return None
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self._embeddings.shape[1]:
            notes.append("ranked by character-trigram similarity: the post embedding's size differs from the library's")
            return None
        norm = float(np.linalg.norm(vector)) or 1.0
        return self._embeddings @ (vector / norm)

    def _score(self, index: int, post: tuple[Counter[str], float, float], emb_scores: np.ndarray | None) -> float:
        """``post``: its trigrams, their norm, and its mean embedding score over the library (the baseline)."""
        start, end = self._spans[index]
        grams, norm, baseline = post
        lexical = best_trigram_score(grams, self._grams[start:end], self._gram_norms[start:end], norm)
        if emb_scores is None or end == start:
            return lexical
        # Relative to the post's mean closeness to the whole library: 1.0 for an example the post repeats,
        # 0 for an example no closer than the library's average.
        best = float(np.max(emb_scores[start:end]))
        relative = 0.0 if baseline >= 1.0 else min(max((best - baseline) / (1.0 - baseline), 0.0), 1.0)
        return EMBEDDING_WEIGHT * relative + (1.0 - EMBEDDING_WEIGHT) * lexical

    # -- values ----------------------------------------------------------------------------------------

    def _outside_value(self, name: str, post: Post, context: ReplyContext, language: str) -> tuple[str | None, str]:
        """A value from the post or the request, with where it came from."""
        author = post.author
        if name in ("agent_name", "eta") and getattr(post, name, None):
            return getattr(post, name), "the post's " + name
        if context.values.get(name):
            return context.values[name], "the request's " + name
        if name in AUTHOR_PLACEHOLDERS and author is not None:
            if name == "first_name":
                first = author.first_name or (author.name.split()[0] if author.name and author.name.split() else None)
                return first, "the author's first name"
            if name == "full_name":
                return author.name, "the author's name"
            return author.handle, "the author's handle"
        return None, ""

    @staticmethod
    def _sanitised(name: str, value: str, language: str) -> tuple[str | None, str | None]:
        if name in ("first_name", "full_name"):
            return clean_name(value, max_chars=80 if name == "full_name" else 40)
        if name == "handle":
            return clean_handle(value)
        if name == "agent_name":
            return clean_name(value, max_chars=MAX_AGENT_NAME, max_words=6)
        if name == "eta":
            return clean_phrase(value, language)
        return value, None

    def _values(self, req: _Request, language: str, context: ReplyContext) -> dict[str, str | None]:
        post, entities = req.context.post, req.context.entities
        out: dict[str, str | None] = {}
        for name, spec in self.library.spec.placeholders.items():
            value, where = self._outside_value(name, post, context, language)
            if value is not None:
                value, why = self._sanitised(name, value, language)
                if why is not None:
                    req.notes.append(f"{where} was not used in the reply: {why}")
            if value is None and name in ENTITY_PLACEHOLDERS:
                value = _entity_value(name, entities)
            if value is None:
                value = spec.default.get(language)
            if value and req.mode == "public" and (spec.personal or name in PERSONAL_PLACEHOLDERS):
                req.withheld.append(name)
                value = None
            out[name] = value.strip() if isinstance(value, str) and value.strip() else None
        return out

    def _render(self, parsed: ParsedText, values: Mapping[str, str | None], language: str) -> tuple[str, list[str]]:
        fallback = {n: s.fallback[language] for n, s in self.library.spec.placeholders.items()
                    if language in s.fallback}
        return render(parsed, lambda n: values.get(n), fallback)

    # -- filling -------------------------------------------------------------------------------------------

    def _fill(self, req: _Request, scored: list[tuple[float, int]], values: Mapping[str, str | None],
              language: str) -> list[SuggestedReply]:
        entities = req.context.entities.entities
        author = req.context.post.author
        gender = author.gender if author is not None else None
        replies: list[SuggestedReply] = []
        for score, i in scored:
            if len(replies) >= self.top_k:
                break
            item = self.items[i]
            variants = {k: self._render(v, values, language)[0] for k, v in item.variants.items()}
            # The author's gender is known: the form addressing them is the reply; both stay in variants.
            parsed = item.variants.get(gender, item.text) if gender is not None else item.text
            text, missing = self._render(parsed, values, language)
            if req.mode == "public":
                leaked = sorted({t for s in (text, *variants.values()) for t in personal_data_in(s, entities)})
                if leaked:
                    req.notes.append(f"'{item.id}' withheld: as a public reply it would show the author's "
                                     f"{', '.join(leaked)}")
                    continue
            replies.append(SuggestedReply(
                template_id=item.id, language=item.language, text=text, score=round(float(score), 4),
                reply_mode=req.mode, missing_placeholders=missing, source=item.source, variants=variants,
            ))
        used = {n for r in replies for n in r.missing_placeholders}
        for name in dict.fromkeys(req.withheld):
            if name in used:
                req.notes.append(f"{{{name}}} left out of a public reply (personal data)")
        return replies


def _entity_value(name: str, entities: EntitiesResult) -> str | None:
    entity = next((e for e in entities.entities if e.type == name), None)
    if entity is None:
        return None
    return entity.text.lstrip("#") if name in ("phone", "url") else entity.value


class BrandReplier:
    """Suggests replies with each brand's library (by the decision's brand, else ``post.brand``)."""

    def __init__(self, repliers: Mapping[str, ReplySuggester], default_brand: str | None,
                 sectors: Mapping[str, str | None] | None = None) -> None:
        self.repliers = dict(repliers)
        self.default_brand = default_brand
        self.sectors = dict(sectors or {})

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
        return replier.suggest(post_context, classification, decision, embedding,
                               sector=self.sectors.get(brand) if brand is not None else None)
