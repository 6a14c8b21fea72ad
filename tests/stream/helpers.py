"""A small deterministic stream for the detector tests: background topics with a daily rhythm, plus bursts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from triage.stream import CrisisDetector, DetectorConfig, Observation, StreamEvent

START = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)  # a Sunday morning in Israel
DIM = 64

# (topic, intent, sentiment, urgency, queue, share of the background)
BACKGROUND = (
    ("delivery", "complaint", "negative", "normal", "care", 0.25),
    ("billing", "complaint", "negative", "high", "billing", 0.10),
    ("question", "question", "neutral", "normal", "care", 0.25),
    ("purchase", "purchase_intent", "neutral", "normal", "sales", 0.20),
    ("praise", "praise", "positive", "low", "community", 0.20),
)


def config(**overrides: object) -> DetectorConfig:
    """Test settings: a 24-hour warm-up so that streams stay short."""
    return DetectorConfig(**{"warmup_hours": 24.0, **overrides})  # type: ignore[arg-type]


@dataclass
class Stream:
    """Deterministic posts for one brand. ``vector(topic)`` is the topic's direction; posts add noise."""

    brand: str = "acme"
    seed: int = 1
    rate_per_min: float = 2.0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._vectors: dict[str, np.ndarray] = {}
        self.serial = 0

    def vector(self, topic: str) -> np.ndarray:
        if topic not in self._vectors:
            v = np.random.default_rng(_stable(topic)).standard_normal(DIM)
            self._vectors[topic] = (v / np.linalg.norm(v)).astype(np.float32)
        return self._vectors[topic]

    def post(self, t: datetime, topic: str, intent: str, sentiment: str = "negative", urgency: str = "normal",
             queue: str = "care", channel: str = "facebook", *, author: str | None = None, text: str | None = None,
             embed: bool = True, **kw: object) -> StreamEvent:
        self.serial += 1
        # Cosine ~0.94 to the topic's direction, ~0.89 between two posts: the first posts of a new topic must
        # pass the 0.80 threshold with each other before a centroid forms (leader clustering is order-dependent).
        noise = self.rng.standard_normal(DIM).astype(np.float32) * np.float32(0.35 / math.sqrt(DIM))
        return StreamEvent(
            time=t, brand=self.brand, channel=channel, post_id=f"{self.brand}-{self.serial}", intent=intent,
            sentiment=sentiment, urgency=urgency, queue=queue, text=text if text is not None else f"{topic} post",
            embedding=self.vector(topic) + noise if embed else None, author=author or f"u{self.serial}", **kw,
        )

    def background(self, start: datetime, hours: float, busy: float = 1.0,
                   extra: tuple[tuple[str, str, str, str, str, float], ...] = ()) -> Iterator[StreamEvent]:
        """Poisson background with a daily rhythm (quiet nights); ``busy`` scales it, ``extra`` adds topics."""
        topics = BACKGROUND + extra
        weights = np.array([x[5] for x in topics])
        t = start
        end = start + timedelta(hours=hours)
        while True:
            hour = (t.hour + 2) % 24  # local time in Israel, roughly
            rate = self.rate_per_min * busy * (0.2 if hour < 7 else 1.0) * (weights.sum())
            t += timedelta(seconds=float(self.rng.exponential(60.0 / rate)))
            if t >= end:
                return
            topic, intent, sentiment, urgency, queue, _ = topics[int(
                self.rng.choice(len(topics), p=weights / weights.sum()))]
            yield self.post(t, topic, intent, sentiment, urgency, queue, channel=_channel(self.rng))

    def burst(self, start: datetime, n: int, minutes: float, topic: str = "outage", **kw: object) -> list[StreamEvent]:
        """``n`` complaints on one new topic spread over ``minutes``, on several channels, by different people."""
        times = sorted(start + timedelta(minutes=float(x)) for x in self.rng.random(n) * minutes)
        return [self.post(t, topic, "complaint", "negative", "high", "technical", channel=_channel(self.rng), **kw)
                for t in times]


def _stable(topic: str) -> int:
    return sum(ord(c) * 31**i for i, c in enumerate(topic)) % 2**32


def _channel(rng: np.random.Generator) -> str:
    return ("facebook", "instagram", "twitter", "whatsapp")[int(rng.integers(4))]


def merge(*streams: Iterator[StreamEvent] | list[StreamEvent]) -> list[StreamEvent]:
    return sorted((e for s in streams for e in s), key=lambda e: e.time)


def run(detector: CrisisDetector, events: list[StreamEvent]) -> list[Observation]:
    return [detector.observe(e) for e in events]


def opened(observations: list[Observation]) -> list[str]:
    return [c.incident.id for o in observations for c in o.changes if c.change == "opened"]


def changes(observations: list[Observation], kind: str) -> list[str]:
    return [c.incident.id for o in observations for c in o.changes if c.change == kind]
