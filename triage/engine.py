"""The pipeline: post -> normalise -> language -> entities -> classify -> route -> replies -> result.

``Engine`` holds the stages and runs them; it knows nothing of HTTP or the command line. The router and
the reply suggester are optional so that a brand can use classification alone.

With ``StreamHooks`` the engine also sees the post's stream: a ``ContextProvider`` (the post store) gives
its thread, case and follow-ups before the model runs; an ``IncidentObserver`` (the crisis detector) counts
each routed post and names the open incident it belongs to, and such posts are routed again with it; a
``PostRecorder`` (the post store) keeps every result. None of them is needed, and a failing one never fails
triage: the post is triaged as a single post and the failure is logged. See docs/STREAM.md.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from triage.artifact import ModelInfo
from triage.classify.base import Classifier, to_classifications
from triage.context.block import context_labels, thread_context, to_triage_context
from triage.context.gather import gather_context
from triage.context.identity import IdentityKey
from triage.context.provider import ContextProvider
from triage.context.types import ContextConfig
from triage.entities import EntityExtractor
from triage.errors import InferenceError, TriageError
from triage.prepare import TextStages, elapsed_ms
from triage.text.language import LanguageIdentifier
from triage.text.validate import TextLimits
from triage.types import (
    Classification,
    HeadPrediction,
    IncidentRef,
    Post,
    PostContext,
    RoutingDecision,
    SuggestedReply,
    TriageContext,
    TriageResult,
)

log = logging.getLogger("triage.stream")


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


class PostRecorder(Protocol):
    """Keeps every triaged post (``store.PostStore``)."""

    def save_result(self, post: Post, result: TriageResult) -> object: ...


class IncidentObserver(Protocol):
    """Counts routed posts in the stream (``triage.stream.IncidentTracker``): the open incident of each, if any."""

    def observe(self, items: Sequence[tuple[Post, TriageResult]]) -> list[IncidentRef | None]: ...


@dataclass(frozen=True)
class StreamHooks:
    """What connects the engine to the post's stream; every part is optional."""

    context: ContextProvider | None = None
    identity_key: IdentityKey | None = field(default=None, repr=False)
    incidents: IncidentObserver | None = None
    recorder: PostRecorder | None = None
    config: ContextConfig = field(default_factory=ContextConfig)


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
        stream: StreamHooks | None = None,
    ) -> None:
        self.classifier = classifier
        self.router = router
        self.replier = replier
        self.stream = stream or StreamHooks()
        self.stages = TextStages(limits, language_identifier, entity_extractor)
        self.limits = self.stages.limits
        self.language_identifier = self.stages.language_identifier
        self.entity_extractor = self.stages.entity_extractor

    def with_stream(self, stream: StreamHooks) -> Engine:
        """This engine (sharing its model, stages, router and replier) connected to a post's stream."""
        other = copy.copy(self)
        other.stream = stream
        return other

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
        prepared = [self._with_history(p) for p in self._prepare_all(posts, checked)]
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
        embeddings = [output.embeddings[i] if output.embeddings is not None else None for i in range(len(prepared))]
        finish = [(p, c, e, classify_ms, now) for p, c, e in zip(prepared, classifications, embeddings, strict=True)]
        results = [self._finish(*args) for args in finish]
        if self.stream.incidents is not None:
            results = self._incident_pass(finish, results)
        if self.stream.recorder is not None:
            self._record(posts, results)
        return results

    def _prepare_all(self, posts: Sequence[Post], checked: bool) -> list[PostContext]:
        prepared = []
        for i, post in enumerate(posts):
            try:
                prepared.append(self.prepare(post, checked=checked))
            except TriageError as exc:
                if len(posts) > 1:
                    exc.args = (f"post {i}: {exc.args[0]}",)
                raise
        return prepared

    def _brand(self, post: Post) -> str:
        return post.brand or self.default_brand or "default"

    def _with_history(self, p: PostContext) -> PostContext:
        """The post with its stream context: from the post store when there is one, else from its thread."""
        hooks = self.stream
        t = time.perf_counter()
        try:
            if hooks.context is not None:
                found = gather_context(hooks.context, p, brand=self._brand(p.post), key=hooks.identity_key,
                                       config=hooks.config)
                history: TriageContext | None = to_triage_context(found)
            else:
                history = thread_context(p, hooks.config)
        except TriageError:
            raise
        except Exception as exc:  # the store is down: triage the post alone, and say so
            log.error("post context unavailable", extra={"exc_type": type(exc).__name__})
            history = TriageContext(reasons=[f"context unavailable ({type(exc).__name__}): triaged as a single post"])
        if history is None:
            return p
        return replace(p, history=history, timings_ms={**p.timings_ms, "context": elapsed_ms(t)})

    def _incident_pass(self, finish: list[tuple[PostContext, Classification, np.ndarray | None, float,
                                                datetime | None]],
                       results: list[TriageResult]) -> list[TriageResult]:
        """Count the routed posts in the stream; route again the posts of an open incident, with it."""
        assert self.stream.incidents is not None
        t = time.perf_counter()
        try:
            refs = self.stream.incidents.observe([(args[0].post, r) for args, r in zip(finish, results, strict=True)])
        except Exception as exc:  # the detector's failure never fails triage
            log.error("crisis detector failed", extra={"exc_type": type(exc).__name__})
            return results
        spent = elapsed_ms(t) / len(results)
        out = []
        for (p, c, e, ms, now), result, ref in zip(finish, results, refs, strict=True):
            if ref is not None:
                history = (p.history or TriageContext()).model_copy(update={"incident": ref})
                result = self._finish(replace(p, history=history), c, e, ms, now)
            out.append(result.model_copy(update={"timings_ms": {**result.timings_ms, "stream": spent}}))
        return out

    def _record(self, posts: Sequence[Post], results: list[TriageResult]) -> None:
        assert self.stream.recorder is not None
        for post, result in zip(posts, results, strict=True):
            try:
                self.stream.recorder.save_result(post, result)
            except Exception as exc:  # a store that is down loses the post's history, never its triage
                log.error("post store failed: the post is not stored", extra={"exc_type": type(exc).__name__})

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
        labels, history = self._labels(p, classification)
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
            replies, notes = self.replier.suggest(p, _with_labels(classification, labels), decision, embedding)
            timings["replies"] = elapsed_ms(t)
        return TriageResult(
            post_id=p.post.id,
            language=p.language,
            labels=labels,
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
            context=history,
        )

    def _labels(self, p: PostContext, classification: Classification) -> tuple[dict[str, str], TriageContext | None]:
        """The decision's labels (the model's, under the post's context) and the context block that says so."""
        labels = {h: pred.label for h, pred in classification.heads.items()}
        history = p.history
        if history is None:
            return labels, None
        head = self.stream.config.urgency_head
        decided, changes = context_labels(labels, history, head)
        if decided.get(head) != labels.get(head):
            history = history.model_copy(update={"urgency_raised_from": labels[head]})
        if changes:
            history = history.model_copy(update={"reasons": [*history.reasons, f"labels: {'; '.join(changes)}"]})
        return decided, history


def _with_labels(classification: Classification, labels: dict[str, str]) -> Classification:
    """``classification`` whose heads carry ``labels`` (for the reply suggester: a 'me too' answered as its parent)."""
    heads = {h: pred if labels.get(h, pred.label) == pred.label else _relabel(pred, labels[h])
             for h, pred in classification.heads.items()}
    return classification if heads == classification.heads else classification.model_copy(update={"heads": heads})


def _relabel(pred: HeadPrediction, label: str) -> HeadPrediction:
    return pred.model_copy(update={"label": label, "uncertain": False})
