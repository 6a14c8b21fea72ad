"""The injected incidents (and the decoy floods): their posts over time, with the truth attached.

Each shape returns ``Draft`` posts; the generator merges them with the background in time order, applies
the error model and draws the pseudo-embeddings. Rates are in posts per minute unless said otherwise.

* ``outage``   — a regional outage wave: reports ramp up over ~20 min to 3–8 posts/min, hold for ~40 min,
  decay over the next hours; complaints, "is there an outage in X?" questions and churn threats; 35 % of
  posts name a region (the ``outage`` trigger words).
* ``viral``    — one complaint whose shares / views / likes grow on a logistic curve (polled every
  5 min for 3 h) and 40–120 echo comments that follow the same curve, some stating the count.
* ``recall``   — 8–15 reports of glass / metal / food poisoning over 3 h (triggers ``injury`` /
  ``food_poisoning``), then 200–400 follow-up questions, refund requests and complaints over a day.
* ``phishing`` — waves of near-identical bot spam under the brand's name with a link (every 40–90 min,
  8–20 posts in 5 min) and customers asking whether the message is real (``phishing`` trigger), 8–12 h.
* ``billing``  — a billing error whose complaints grow linearly from ~0 to 4–8 per hour over 3–4 days.
* ``critical`` — a single post threatening a lawyer, a regulator or the media (isolated, in an ordinary
  complaint topic).
* ``flood``    — a decoy: one customer writing 8–12 near-identical complaints within 10–20 minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bench.stream.scenarios import PUBLIC_WITH_COUNTS, Scenario

DURATION_H = {"outage": 5.0, "viral": 4.0, "recall": 30.0, "phishing": 12.0, "billing": 96.0, "critical": 0.1,
              "flood": 0.4}
# Trigger carried by each template of a bank (by template index), where a bank's triggers differ per text.
TEMPLATE_TRIGGERS = {"recall_report": ("injury", "food_poisoning", "injury", "food_poisoning"),
                     "critical_single": ("lawyer", "regulator", "media", "lawyer")}
# Pseudo-embedding of each incident: (related background topic, cosine with it) or a fresh direction.
VECTOR_RELATION = {"outage": ("tech_problem", 0.55), "viral": ("delivery_complaint", 0.30),
                   "recall": ("delivery_complaint", 0.35), "phishing_spam": ("spam", 0.30),
                   "phishing_question": ("general_question", 0.35), "billing_error": ("billing_complaint", 0.70)}


class Draft(NamedTuple):
    t: float
    brand: str
    gt: str | None
    scenario: Scenario
    lang: str
    channel: str
    author: str
    vector: str  # key of the pseudo-embedding direction
    counts: tuple[int | None, int | None, int | None] = (None, None, None)  # shares, likes, views
    refresh: bool = False
    post_id: str | None = None  # fixed id (refreshes of one post); else the generator numbers it
    template: int | None = None  # fixed template index; else drawn
    n: int | None = None  # the number a template's {n} shows; the post's serial number when None


@dataclass
class ShapeContext:
    rng: np.random.Generator
    brand: str
    gt: str
    languages: dict[str, float]
    channels: dict[str, float]

    def lang(self) -> str:
        keys = list(self.languages)
        return keys[int(self.rng.choice(len(keys), p=list(self.languages.values())))]

    def channel(self, among: tuple[str, ...] | None = None) -> str:
        keys = [c for c in self.channels if among is None or c in among]
        weights = np.array([self.channels[c] for c in keys])
        return keys[int(self.rng.choice(len(keys), p=weights / weights.sum()))]

    def author(self, i: int) -> str:
        return f"{self.gt}-a{i}"

    def draft(self, t: float, scenario: Scenario, i: int, vector: str, **kw: object) -> Draft:
        if vector in VECTOR_RELATION:
            vector = f"{vector}@{self.gt}"  # each incident has its own direction: two recalls are two topics
        return Draft(t, self.brand, self.gt, scenario, self.lang(), str(kw.pop("channel", None) or self.channel()),
                     self.author(i), vector, **kw)  # type: ignore[arg-type]


def _per_minute(ctx: ShapeContext, t0: float, minutes: int, rate: Callable[[int], float]) -> list[float]:
    """Poisson arrivals with ``rate(minute)`` posts per minute, as sorted times."""
    times: list[float] = []
    for m in range(minutes):
        k = int(ctx.rng.poisson(max(rate(m), 0.0)))
        times += list(t0 + 60.0 * (m + ctx.rng.random(k)))
    return sorted(times)


def _pick_scenario(ctx: ShapeContext, mix: tuple[Scenario, ...]) -> Scenario:
    w = np.array([s.weight for s in mix])
    return mix[int(ctx.rng.choice(len(mix), p=w / w.sum()))]


OUTAGE_MIX = (
    Scenario("outage", "complaint", "technical", (0.9, 0.1, 0.0), (0.35, 0.65, 0.0, 0.0), 0.65, ("outage",), 0.35),
    Scenario("outage", "question", "technical", (0.3, 0.7, 0.0), (0.35, 0.6, 0.05, 0.0), 0.25, ("outage",), 0.35),
    Scenario("outage", "churn_risk", "retention", (1.0, 0.0, 0.0), (0.2, 0.8, 0.0, 0.0), 0.10),
)


def outage(ctx: ShapeContext, t0: float) -> list[Draft]:
    peak = ctx.rng.uniform(3.0, 8.0)
    mid, width, hold, decay = ctx.rng.uniform(15, 25), ctx.rng.uniform(4, 8), ctx.rng.uniform(30, 50), 45.0

    def rate(m: int) -> float:
        ramp = 1.0 / (1.0 + math.exp(-(m - mid) / width))
        return peak * ramp * (math.exp(-(m - mid - hold) / decay) if m > mid + hold else 1.0)

    times = _per_minute(ctx, t0, int(DURATION_H["outage"] * 60), rate)
    return [ctx.draft(t, _pick_scenario(ctx, OUTAGE_MIX), i, "outage") for i, t in enumerate(times)]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def viral(ctx: ShapeContext, t0: float) -> list[Draft]:
    rng = ctx.rng
    channel = ctx.channel(("facebook", "tiktok", "twitter", "instagram"))
    metrics = PUBLIC_WITH_COUNTS[channel]
    final = {"shares": rng.uniform(1000, 8000)}
    final["views"], final["likes"] = final["shares"] * rng.uniform(50, 200), final["shares"] * rng.uniform(2, 5)
    mid, steep = rng.uniform(40, 90), rng.uniform(10, 20)
    base = _logistic(-mid / steep)

    def counts(minute: float) -> dict[str, int]:
        share = (_logistic((minute - mid) / steep) - base) / (1.0 - base)
        return {m: int(final[m] * share) for m in final}

    post = Scenario("viral_post", "complaint", "care", (1.0, 0.0, 0.0), (0.6, 0.4, 0.0, 0.0))
    pid = f"{ctx.gt}-post"
    out = [ctx.draft(t0 + 60.0 * m, post, 0, "viral", channel=channel, post_id=pid, refresh=m > 0,
                     counts=_counts_for(metrics, counts(m))) for m in range(0, 181, 5)]
    echo = Scenario("viral_echo", "complaint", "care", (0.85, 0.15, 0.0), (0.1, 0.5, 0.4, 0.0))
    for i in range(int(rng.integers(40, 121))):
        u = base + rng.random() * (1.0 - base)  # the same logistic curve as the counts, from t0 on
        minute = min(max(mid + steep * math.log(u / (1.0 - u)), 1.0), 239.0)
        now = counts(minute)
        template = int(rng.integers(5))
        n = round(now["views"] if template == 4 else now["shares"], -2)
        out.append(ctx.draft(t0 + 60.0 * minute, echo, i + 1, "viral", template=template, n=int(n)))
    return out


def _counts_for(metrics: tuple[str, ...], values: dict[str, int]) -> tuple[int | None, int | None, int | None]:
    return tuple(values[m] if m in metrics else None for m in ("shares", "likes", "views"))  # type: ignore[return-value]


def _truncated_exponential(rng: np.random.Generator, scale: float, cap: float, n: int) -> np.ndarray:
    """``n`` exponential delays below ``cap`` (inverse CDF of the truncated law: no pile-up at the cap)."""
    u = rng.random(n) * (1.0 - math.exp(-cap / scale))
    return -scale * np.log1p(-u)


RECALL_REPORT = Scenario("recall_report", "complaint", "care", (1.0, 0.0, 0.0), (0.7, 0.3, 0.0, 0.0), 1.0,
                         ("template",), 0.8)
RECALL_MIX = (
    Scenario("recall_followup", "question", "care", (0.2, 0.8, 0.0), (0.1, 0.5, 0.4, 0.0), 0.60),
    Scenario("recall_followup", "request", "care", (0.3, 0.7, 0.0), (0.0, 0.4, 0.6, 0.0), 0.25),
    Scenario("recall_followup", "complaint", "care", (0.9, 0.1, 0.0), (0.3, 0.5, 0.2, 0.0), 0.15),
)


def recall(ctx: ShapeContext, t0: float) -> list[Draft]:
    rng = ctx.rng
    reports = sorted(t0 + rng.random(int(rng.integers(8, 16))) * 3 * 3600.0)
    out = [ctx.draft(t, RECALL_REPORT, i, "recall") for i, t in enumerate(reports)]
    follow = t0 + 3 * 3600.0 + _truncated_exponential(rng, 8 * 3600.0, 27 * 3600.0, int(rng.integers(200, 401)))
    out += [ctx.draft(float(t), _pick_scenario(ctx, RECALL_MIX), 100 + i, "recall") for i, t in enumerate(follow)]
    return out


PHISH_SPAM = Scenario("phishing_spam", "spam", "moderation", (0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0), 1.0,
                      ("phishing",), 0.5)
PHISH_QUESTION = Scenario("phishing_question", "question", "care", (0.3, 0.7, 0.0), (0.8, 0.2, 0.0, 0.0), 1.0,
                          ("phishing",), 0.7)


def phishing(ctx: ShapeContext, t0: float) -> list[Draft]:
    rng = ctx.rng
    hours = rng.uniform(8, 12)
    out: list[Draft] = []
    wave_t, i = t0, 0
    public = ("facebook", "instagram", "twitter", "tiktok")
    while wave_t < t0 + hours * 3600.0:
        for t in sorted(wave_t + rng.random(int(rng.integers(8, 21))) * 300.0):
            out.append(ctx.draft(float(t), PHISH_SPAM, i, "phishing_spam", channel=ctx.channel(public)))
            i += 1
        wave_t += rng.uniform(40, 90) * 60.0
    first_question = t0 + rng.uniform(5, 30) * 60.0
    questions = first_question + _truncated_exponential(rng, hours * 1200.0, hours * 3600.0, int(rng.integers(30, 81)))
    out += [ctx.draft(float(t), PHISH_QUESTION, 1000 + k, "phishing_question") for k, t in enumerate(questions)]
    return out


BILLING_ERROR = Scenario("billing_error", "complaint", "billing", (0.95, 0.05, 0.0), (0.0, 0.5, 0.5, 0.0))


def billing(ctx: ShapeContext, t0: float) -> list[Draft]:
    rng = ctx.rng
    hours = rng.uniform(72, 96)
    peak = rng.uniform(4, 8) / 60.0  # per minute at the end
    minutes = int(hours * 60)
    times = _per_minute(ctx, t0, minutes, lambda m: peak * m / minutes)
    return [ctx.draft(t, BILLING_ERROR, i, "billing_error", n=int(rng.integers(30, 400))) for i, t in enumerate(times)]


CRITICAL = Scenario("critical_single", "complaint", "care", (1.0, 0.0, 0.0), (0.85, 0.15, 0.0, 0.0), 1.0,
                    ("template",), 1.0)


def critical(ctx: ShapeContext, t0: float) -> list[Draft]:
    topic = ("delivery_complaint", "billing_complaint", "tech_problem")[int(ctx.rng.integers(3))]
    return [ctx.draft(t0, CRITICAL, 0, topic)]


FLOOD = Scenario("flood", "complaint", "care", (1.0, 0.0, 0.0), (0.0, 0.8, 0.2, 0.0))


def flood(ctx: ShapeContext, t0: float) -> list[Draft]:
    rng = ctx.rng
    channel = ctx.channel(("facebook", "twitter", "whatsapp", "messenger"))
    times = sorted(t0 + rng.random(int(rng.integers(8, 13))) * rng.uniform(10, 20) * 60.0)
    return [ctx.draft(float(t), FLOOD, 0, f"flood:{ctx.gt}", channel=channel) for t in times]


SHAPES: dict[str, Callable[[ShapeContext, float], list[Draft]]] = {
    "outage": outage, "viral": viral, "recall": recall, "phishing": phishing, "billing": billing,
    "critical": critical, "flood": flood,
}
