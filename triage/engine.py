"""The pipeline: post -> normalise -> language -> entities -> classify -> route -> replies -> result.

``Engine`` holds the stages and runs them; it knows nothing of HTTP or the command line. The router and
the reply suggester are optional so that a brand can use classification alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from triage.artifact import ModelInfo
from triage.classify.base import Classifier, to_classifications
from triage.entities import EntityExtractor
from triage.errors import InferenceError, TriageError
from triage.prepare import TextStages, elapsed_ms
from triage.text.language import LanguageIdentifier
from triage.text.validate import TextLimits
from triage.types import (
    Classification,
    Post,
    PostContext,
    RoutingDecision,
    SuggestedReply,
    TriageResult,
)


class Router(Protocol):
    """Routes a prepared, classified post for its brand (``triage.routing.BrandRouter``)."""

    @property
    def brands(self) -> tuple[str, ...]: ...

    @property
    def default_brand(self) -> str | None: ...

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision: ...


class Replier(Protocol):
    def suggest(
        self,
        post_context: PostContext,
        classification: Classification,
        decision: RoutingDecision | None,
        embedding: np.ndarray | None,
    ) -> tuple[list[SuggestedReply], list[str]]:
        """Ranked replies and notes (e.g. 'no template in Arabic')."""
        ...


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
        self.stages = TextStages(limits, language_identifier, entity_extractor)
        self.limits = self.stages.limits
        self.language_identifier = self.stages.language_identifier
        self.entity_extractor = self.stages.entity_extractor

    @property
    def schema_name(self) -> str:
        return self.classifier.schema.name

    @property
    def model_info(self) -> ModelInfo:
        return self.classifier.info

    @property
    def brands(self) -> tuple[str, ...] | None:
        """The brands with a routing policy, or None when the engine does not route (any brand goes)."""
        return self.router.brands if self.router is not None else None

    @property
    def default_brand(self) -> str | None:
        """The brand of posts that name none (None: such posts are refused when the engine routes)."""
        return self.router.default_brand if self.router is not None else None

    def check(self, post: Post, prefix: str = "") -> None:
        """Validate a post's texts against the limits; InputError names the field (``prefix`` + path)."""
        self.stages.check(post, prefix)

    def warm_up(self) -> None:
        """Build lazy parts (language detector, tokenizers) now rather than on the first request."""
        # One post per script, so that every tokenizer and detector model is built before traffic. The
        # second English post has no English function word, so lingua loads its Latin-script models now
        # (half a second) rather than inside the first such post's timings.
        self.triage_batch(
            [
                Post(text="שלום, איפה ההזמנה שלי? order 12345"),
                Post(text="hello, where is my order?"),
                Post(text="Charged twice, order 12345"),
                Post(text="مرحبا، أين طلبي؟"),
                Post(text="Здравствуйте, где мой заказ?"),
            ]
        )

    def prepare(self, post: Post, *, checked: bool = False) -> PostContext:
        """normalise -> language -> entities: everything but the model (``checked``: validated already)."""
        return self.stages.prepare(post, checked=checked)

    def redact(self, text: str) -> str:
        """``text`` with its personal data replaced, exactly as a result's ``redacted_text``."""
        return self.stages.redact(text)

    def triage(self, post: Post, now: datetime | None = None) -> TriageResult:
        return self.triage_batch([post], now=now)[0]

    def triage_batch(self, posts: Sequence[Post], now: datetime | None = None, *,
                     checked: bool = False) -> list[TriageResult]:
        """Triage many posts with one model call. Results equal ``triage`` on each post alone.

        An invalid post raises InputError before any model work, naming its index. ``checked``: the
        caller validated every post with :meth:`check` already (the service does, per request).
        """
        prepared = []
        for i, post in enumerate(posts):
            try:
                prepared.append(self.prepare(post, checked=checked))
            except TriageError as exc:
                if len(posts) > 1:
                    exc.args = (f"post {i}: {exc.args[0]}",)
                raise
        if not prepared:
            return []
        t = time.perf_counter()
        try:
            output = self.classifier.predict([p.normalised.text for p in prepared])
            classifications = to_classifications(self.classifier, output)
        except TriageError:
            raise
        except Exception as exc:  # a broken model must never turn into a guessed label
            raise InferenceError(f"the classifier failed: {type(exc).__name__}: {exc}") from exc
        classify_ms = elapsed_ms(t) / len(prepared)
        return [
            self._finish(p, c, output.embeddings[i] if output.embeddings is not None else None, classify_ms, now)
            for i, (p, c) in enumerate(zip(prepared, classifications, strict=True))
        ]

    def _finish(
        self,
        p: PostContext,
        classification: Classification,
        embedding: np.ndarray | None,
        classify_ms: float,
        now: datetime | None,
    ) -> TriageResult:
        timings = dict(p.timings_ms)
        timings["classify"] = round(classify_ms, 3)
        decision = None
        if self.router is not None:
            t = time.perf_counter()
            when = now or p.post.created_at or datetime.now(UTC)
            decision = self.router.route(p, classification, when)
            timings["route"] = elapsed_ms(t)
        replies: list[SuggestedReply] = []
        notes: list[str] = []
        if self.replier is not None:
            t = time.perf_counter()
            replies, notes = self.replier.suggest(p, classification, decision, embedding)
            timings["replies"] = elapsed_ms(t)
        return TriageResult(
            post_id=p.post.id,
            language=p.language,
            labels={h: pred.label for h, pred in classification.heads.items()},
            heads=classification.heads,
            entities=p.entities.entities,
            redacted_text=p.entities.redacted_text,
            normalised_text=p.normalised.text,
            routing=decision,
            suggested_replies=replies,
            reply_notes=notes,
            model_version=classification.model_version,
            schema_name=self.schema_name,
            timings_ms=timings,
        )
