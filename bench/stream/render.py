"""Drafts → ``StreamEvent``s: true labels drawn per scenario, the error model applied, the queue routed from the
noisy labels, text from the phrase banks, engagement counts and the pseudo-embedding; ``events`` yields the
whole stream in time order, one hour at a time."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from bench.stream.generate import Plan, StreamSpec, VectorBank, background_hour
from bench.stream.phrases import BANK, fill
from bench.stream.scenarios import PUBLIC_WITH_COUNTS, SENTIMENTS, URGENCIES, Scenario, route
from bench.stream.shapes import TEMPLATE_TRIGGERS, Draft
from triage.stream.events import StreamEvent

UNIFORMS = 16


def _draw(probs: Sequence[float], labels: Sequence[str], u: float) -> str:
    acc = 0.0
    for p, label in zip(probs, labels, strict=True):
        acc += p
        if u < acc:
            return label
    return labels[-1]


class Renderer:
    def __init__(self, spec: StreamSpec, vectors: VectorBank, rng: np.random.Generator) -> None:
        self.spec, self.vectors, self.rng = spec, vectors, rng
        self.counter = 0
        self._known: dict[str, StreamEvent] = {}  # posts seen again (engagement refreshes) keep their labels
        self.scale = np.float32(spec.noise / np.sqrt(spec.dim))

    def render(self, drafts: list[Draft]) -> Iterator[tuple[StreamEvent, str | None]]:
        n = len(drafts)
        if not n:
            return
        rng = self.rng
        uniforms = rng.random((n, UNIFORMS))
        noise = rng.standard_normal((n, self.spec.dim), dtype=np.float32) * self.scale if self.spec.embeddings else None
        counts = self._background_counts(n)
        for i, d in enumerate(drafts):
            self.counter += 1
            embedding = None if noise is None else self.vectors.get(d.brand, d.vector) + noise[i]
            own = d.counts if d.gt is not None else counts[i]
            yield self._event(d, uniforms[i], embedding, own), d.gt

    def _background_counts(self, n: int) -> list[tuple[int, int, int]]:
        """Heavy-tailed but modest engagement of ordinary posts (most get no shares at all)."""
        rng = self.rng
        shares = np.where(rng.random(n) < 0.1, np.floor(rng.lognormal(np.log(1.5), 0.8, n)), 0).astype(int)
        likes = np.where(rng.random(n) < 0.5, np.floor(rng.lognormal(np.log(3.0), 1.2, n)), 0).astype(int)
        views = np.floor(rng.lognormal(np.log(150.0), 1.0, n)).astype(int)
        return list(zip(shares.tolist(), likes.tolist(), views.tolist(), strict=True))

    def _event(self, d: Draft, u: np.ndarray, embedding: np.ndarray | None,
               counts: tuple[int | None, int | None, int | None]) -> StreamEvent:
        if d.refresh and d.post_id in self._known:
            first = self._known[d.post_id]
            return replace(first, time=datetime.fromtimestamp(d.t, UTC), shares=counts[0] if first.shares is not None
                           else None, likes=counts[1] if first.likes is not None else None,
                           views=counts[2] if first.views is not None else None, refresh=True)
        event = self._new_event(d, u, embedding, counts)
        if d.post_id is not None:
            self._known[d.post_id] = event
        return event

    def _new_event(self, d: Draft, u: np.ndarray, embedding: np.ndarray | None,
                   counts: tuple[int | None, int | None, int | None]) -> StreamEvent:
        s = d.scenario
        bank = BANK[s.key][d.lang]
        template = d.template if d.template is not None else int(u[12] * len(bank))
        template = min(template, len(bank) - 1)
        sentiment = _draw(s.sentiment, SENTIMENTS, u[0])
        urgency = _draw(s.urgency, URGENCIES, u[1])
        errors = self.spec.errors
        intent, sentiment, urgency = errors.labels(u[2:8], s.intent, sentiment, urgency)
        triggers = errors.triggers(u[9:12], self._true_triggers(s, template, u[8]))
        text = fill(bank[template], lambda seq: seq[min(int(u[13] * len(seq)), len(seq) - 1)], d.lang, d.brand,
                    d.n if d.n is not None else self.counter)
        metrics = PUBLIC_WITH_COUNTS.get(d.channel, ())
        shares, likes, views = (c if m in metrics else None for c, m in zip(counts, ("shares", "likes", "views"),
                                                                              strict=True))
        return StreamEvent(
            time=datetime.fromtimestamp(d.t, UTC), brand=d.brand, channel=d.channel,
            post_id=d.post_id or f"{d.brand[:2]}{self.counter}", intent=intent, sentiment=sentiment,
            urgency=urgency, queue=route(intent, urgency, s.domain), text=text, embedding=embedding,
            triggers=triggers, shares=shares, likes=likes, views=views, author=d.author, refresh=d.refresh,
        )

    @staticmethod
    def _true_triggers(s: Scenario, template: int, u: float) -> tuple[str, ...]:
        if not s.triggers or u >= s.trigger_rate:
            return ()
        if s.triggers == ("template",):
            names = TEMPLATE_TRIGGERS[s.key]
            return (names[template % len(names)],)
        return s.triggers


def events(spec: StreamSpec, pl: Plan) -> Iterator[tuple[StreamEvent, str | None]]:
    """The whole stream in time order, one hour at a time."""
    rng = np.random.default_rng(spec.seed + 1)
    renderer = Renderer(spec, VectorBank(spec.seed, spec.dim), rng)
    for hour in range(math.floor(spec.t0 / 3600), math.ceil(spec.t_end / 3600)):
        drafts = list(pl.drafts.get(hour, []))
        for brand in spec.brands:
            drafts += background_hour(spec, pl, brand, hour, rng)
        drafts = [d for d in drafts if spec.t0 <= d.t < spec.t_end]
        drafts.sort(key=lambda d: d.t)
        yield from renderer.render(drafts)
