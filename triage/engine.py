"""The pipeline: post -> normalise -> language -> entities -> classify -> route -> replies -> result.

``Engine`` holds the stages and runs them; it knows nothing of HTTP or the command line. The router and
the reply suggester are optional so that a brand can use classification alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from triage.classify.base import Classifier, to_classifications
from triage.entities import EntityExtractor
from triage.errors import InferenceError, TriageError
from triage.text.language import LanguageIdentifier
from triage.text.normalise import normalise
from triage.text.validate import TextLimits, check_text
from triage.types import (
    Classification,
    EntitiesResult,
    LanguageResult,
    NormalisedText,
    Post,
    RoutingDecision,
    SuggestedReply,
    TriageResult,
)


class Router(Protocol):
    def route(
        self,
        post: Post,
        language: LanguageResult,
        entities: EntitiesResult,
        classification: Classification,
        now: datetime,
    ) -> RoutingDecision: ...


class Replier(Protocol):
    def suggest(
        self,
        post: Post,
        norm: NormalisedText,
        language: LanguageResult,
        entities: EntitiesResult,
        classification: Classification,
        decision: RoutingDecision | None,
        embedding: np.ndarray | None,
    ) -> tuple[list[SuggestedReply], list[str]]:
        """Ranked replies and notes (e.g. 'no template in Arabic')."""
        ...


@dataclass
class _Prepared:
    post: Post
    norm: NormalisedText
    language: LanguageResult
    entities: EntitiesResult
    timings: dict[str, float]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class Engine:
    """Runs the whole pipeline. Thread-compatible: share one per worker process."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        router: Router | None = None,
        replier: Replier | None = None,
        limits: TextLimits | None = None,
        language_identifier: LanguageIdentifier | None = None,
        entity_extractor: EntityExtractor | None = None,
    ) -> None:
        self.classifier = classifier
        self.router = router
        self.replier = replier
        self.limits = limits or TextLimits()
        self.language_identifier = language_identifier or LanguageIdentifier()
        self.entity_extractor = entity_extractor or EntityExtractor()

    @property
    def schema_name(self) -> str:
        return self.classifier.schema.name

    def warm_up(self) -> None:
        """Build lazy parts (language detector, tokenizers) now rather than on the first request."""
        # One post per script, so that every tokenizer and detector model is built before traffic.
        self.triage_batch(
            [
                Post(text="שלום, איפה ההזמנה שלי? order 12345"),
                Post(text="hello, where is my order?"),
                Post(text="مرحبا، أين طلبي؟"),
                Post(text="Здравствуйте, где мой заказ?"),
            ]
        )

    def _prepare(self, post: Post) -> _Prepared:
        check_text(post.text, self.limits)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        norm = normalise(post.text)
        timings["normalise"] = _ms(t)
        t = time.perf_counter()
        language = self.language_identifier.identify(norm.text)
        timings["language"] = _ms(t)
        t = time.perf_counter()
        entities = self.entity_extractor.extract(norm, language.language)
        timings["entities"] = _ms(t)
        return _Prepared(post, norm, language, entities, timings)

    def triage(self, post: Post, now: datetime | None = None) -> TriageResult:
        return self.triage_batch([post], now=now)[0]

    def triage_batch(self, posts: Sequence[Post], now: datetime | None = None) -> list[TriageResult]:
        """Triage many posts with one model call. Results equal ``triage`` on each post alone.

        An invalid post raises InputError before any model work, naming its index.
        """
        prepared = []
        for i, post in enumerate(posts):
            try:
                prepared.append(self._prepare(post))
            except TriageError as exc:
                if len(posts) > 1:
                    exc.args = (f"post {i}: {exc.args[0]}",)
                raise
        if not prepared:
            return []
        t = time.perf_counter()
        try:
            output = self.classifier.predict([p.norm.text for p in prepared])
            classifications = to_classifications(self.classifier, output)
        except TriageError:
            raise
        except Exception as exc:  # a broken model must never turn into a guessed label
            raise InferenceError(f"the classifier failed: {type(exc).__name__}: {exc}") from exc
        classify_ms = _ms(t) / len(prepared)
        return [
            self._finish(p, c, output.embeddings[i] if output.embeddings is not None else None, classify_ms, now)
            for i, (p, c) in enumerate(zip(prepared, classifications, strict=True))
        ]

    def _finish(
        self,
        p: _Prepared,
        classification: Classification,
        embedding: np.ndarray | None,
        classify_ms: float,
        now: datetime | None,
    ) -> TriageResult:
        timings = dict(p.timings)
        timings["classify"] = round(classify_ms, 3)
        decision = None
        if self.router is not None:
            t = time.perf_counter()
            when = now or p.post.created_at or datetime.now(UTC)
            decision = self.router.route(p.post, p.language, p.entities, classification, when)
            timings["route"] = _ms(t)
        replies: list[SuggestedReply] = []
        notes: list[str] = []
        if self.replier is not None:
            t = time.perf_counter()
            replies, notes = self.replier.suggest(
                p.post, p.norm, p.language, p.entities, classification, decision, embedding
            )
            timings["replies"] = _ms(t)
        return TriageResult(
            post_id=p.post.id,
            language=p.language,
            labels={h: pred.label for h, pred in classification.heads.items()},
            heads=classification.heads,
            entities=p.entities.entities,
            redacted_text=p.entities.redacted_text,
            normalised_text=p.norm.text,
            routing=decision,
            suggested_replies=replies,
            reply_notes=notes,
            model_version=classification.model_version,
            schema_name=self.schema_name,
            timings_ms=timings,
        )
