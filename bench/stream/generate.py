"""The synthetic stream: background posts with a daily and weekly rhythm, busy-looking quiet periods (a sale,
a holiday), decoy floods and injected incidents, in time order, with the truth the generator knows.

``plan(spec)`` draws the schedule (which incident starts when, sale and holiday days, per-day volume noise);
``render.events(spec, plan)`` yields ``(StreamEvent, truth id or None)`` hour by hour, so memory stays flat
however long the stream is. Labels pass through the error model; embeddings are pseudo-embeddings: one fixed
random unit vector per (brand, topic), related incidents built at a stated cosine to a background topic,
plus Gaussian noise per post (cosine ≈ 0.91 to the topic's direction at the default noise).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from bench.stream.errors import ErrorModel
from bench.stream.scenarios import BACKGROUND, BRANDS, HOLIDAY_MIX, SALE_MIX, BrandProfile, rhythm
from bench.stream.shapes import DURATION_H, SHAPES, VECTOR_RELATION, Draft, ShapeContext

# Sunday 2 March 2025, 00:00 in Israel: the stream starts on the first day of the Israeli week.
DEFAULT_START = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)


@dataclass(frozen=True)
class StreamSpec:
    posts: int = 2_160_000
    days: float = 30.0
    seed: int = 7
    start: datetime = DEFAULT_START
    warmup_hours: float = 48.0
    dim: int = 384
    noise: float = 0.45
    embeddings: bool = True
    errors: ErrorModel = field(default_factory=ErrorModel)
    critical_per_week: float = 1.0  # isolated critical posts per brand per week
    floods_per_week: float = 1.0  # decoy floods per brand per week
    brands: tuple[BrandProfile, ...] = BRANDS

    @property
    def t0(self) -> float:
        return self.start.timestamp()

    @property
    def t_end(self) -> float:
        return self.t0 + self.days * 86400.0

    @property
    def warm_end(self) -> float:
        return self.t0 + self.warmup_hours * 3600.0


@dataclass
class Truth:
    """One injected incident, decoy flood, sale or holiday."""

    id: str
    brand: str
    shape: str  # outage | viral | recall | phishing | billing | critical | flood | sale | holiday
    start: float
    end: float
    incident: bool
    posts: int = 0
    first_post: float | None = None


@dataclass
class Plan:
    truths: list[Truth]
    drafts: dict[int, list[Draft]]  # injected posts by absolute hour
    base_rate: dict[str, float]  # posts per hour at rhythm 1
    day_noise: dict[str, np.ndarray]

    def active(self, brand: str, shape: str, t: float) -> bool:
        return any(x.brand == brand and x.shape == shape and x.start <= t < x.end for x in self.truths)


def plan(spec: StreamSpec) -> Plan:
    rng = np.random.default_rng(spec.seed)
    truths: list[Truth] = []
    for brand in spec.brands:
        truths += _periods(spec, brand, rng)
        truths += _incidents(spec, brand, rng, [t for t in truths if t.brand == brand])
    drafts: dict[int, list[Draft]] = {}
    for truth in truths:
        if truth.shape in SHAPES:
            _inject(spec, truth, rng, drafts)
    noise = {b.name: rng.lognormal(0.0, 0.1, math.ceil(spec.days) + 2) for b in spec.brands}
    base = {b.name: _base_rate(spec, b, truths, noise[b.name]) for b in spec.brands}
    return Plan(truths, drafts, base, noise)


def _periods(spec: StreamSpec, brand: BrandProfile, rng: np.random.Generator) -> list[Truth]:
    """A two-day holiday (same days for every brand) and a two-day sale per brand, after the warm-up."""
    first_day = math.ceil(spec.warmup_hours / 24.0)
    out: list[Truth] = []
    holiday_day = max(first_day, int(spec.days * 0.45))
    if holiday_day + 2 <= spec.days:
        start = _local_midnight(spec, brand, holiday_day)
        out.append(Truth(f"{brand.name}-holiday", brand.name, "holiday", start, start + 2 * 86400.0, False))
    days = [d for d in range(first_day, int(spec.days) - 1) if abs(d - holiday_day) > 2]
    if days:
        day = int(rng.choice(days))
        start = _local_midnight(spec, brand, day)
        out.append(Truth(f"{brand.name}-sale", brand.name, "sale", start, start + 2 * 86400.0, False))
    return out


def _local_midnight(spec: StreamSpec, brand: BrandProfile, day: int) -> float:
    local = datetime.fromtimestamp(spec.t0 + day * 86400.0, ZoneInfo(brand.tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _incidents(spec: StreamSpec, brand: BrandProfile, rng: np.random.Generator, busy: list[Truth]) -> list[Truth]:
    """Place the brand's incident shapes (scaled to the stream's length), isolated critical posts and floods."""
    k = max(1, round(len(brand.shapes) * spec.days / 30.0))
    shapes = [brand.shapes[i % len(brand.shapes)] for i in range(k)]
    eval_weeks = max(spec.days - spec.warmup_hours / 24.0, 0.0) / 7.0
    shapes += ["critical"] * int(rng.poisson(spec.critical_per_week * eval_weeks))
    shapes += ["flood"] * int(rng.poisson(spec.floods_per_week * eval_weeks))
    placed: list[Truth] = []
    for i, shape in enumerate(shapes):
        start = _place(spec, rng, DURATION_H[shape] * 3600.0, busy + placed, margin=6 * 3600.0)
        if start is not None:
            placed.append(Truth(f"{brand.name}-{shape}-{i}", brand.name, shape, start,
                                start + DURATION_H[shape] * 3600.0, shape != "flood"))
    return placed


def _place(spec: StreamSpec, rng: np.random.Generator, duration: float, busy: list[Truth],
           margin: float) -> float | None:
    lo, hi = spec.warm_end + 3 * 3600.0, spec.t_end - duration - 3 * 3600.0
    for _ in range(500):
        if hi <= lo:
            return None
        start = float(rng.uniform(lo, hi))
        if all(start + duration + margin <= b.start or start >= b.end + margin for b in busy):
            return start
    return None


def _inject(spec: StreamSpec, truth: Truth, rng: np.random.Generator, drafts: dict[int, list[Draft]]) -> None:
    brand = next(b for b in spec.brands if b.name == truth.brand)
    ctx = ShapeContext(rng, brand.name, truth.id, brand.languages, brand.channels)
    posts = [d for d in SHAPES[truth.shape](ctx, truth.start) if d.t < spec.t_end]
    for d in posts:
        drafts.setdefault(math.floor(d.t / 3600), []).append(d)
    first = [d.t for d in posts if not d.refresh]
    truth.posts = len(first)
    truth.first_post = min(first) if first else None


def _base_rate(spec: StreamSpec, brand: BrandProfile, truths: list[Truth], noise: np.ndarray) -> float:
    """Posts per hour at rhythm 1 that gives the brand its share of ``spec.posts`` over the stream."""
    total = 0.0
    for hour in range(math.floor(spec.t0 / 3600), math.ceil(spec.t_end / 3600)):
        total += _rhythm_at(spec, brand, hour, truths, noise)
    return spec.posts * brand.share / max(total, 1e-9)


def _rhythm_at(spec: StreamSpec, brand: BrandProfile, hour: int, truths: list[Truth], noise: np.ndarray) -> float:
    t = hour * 3600.0 + 1800.0
    local = datetime.fromtimestamp(t, ZoneInfo(brand.tz))
    holiday = any(x.brand == brand.name and x.shape == "holiday" and x.start <= t < x.end for x in truths)
    day = min(int((t - spec.t0) // 86400), len(noise) - 1)
    return rhythm(brand.week, local.weekday(), local.hour, holiday) * float(noise[max(day, 0)])


class VectorBank:
    """Pseudo-embedding directions: one unit vector per (brand, topic), stable for a seed."""

    def __init__(self, seed: int, dim: int) -> None:
        self.seed, self.dim = seed, dim
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def get(self, brand: str, key: str) -> np.ndarray:
        found = self._cache.get((brand, key))
        if found is None:
            found = self._cache[(brand, key)] = self._make(brand, key)
        return found

    def _make(self, brand: str, key: str) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(f"{brand}|{key}".encode())])
        v = rng.standard_normal(self.dim)
        relation = VECTOR_RELATION.get(key.split("@")[0])
        if relation is not None:
            anchor = self.get(brand, relation[0]).astype(np.float64)
            v -= (v @ anchor) * anchor  # orthogonal to the anchor, then mixed in at the stated cosine
            v = relation[1] * anchor + math.sqrt(1 - relation[1] ** 2) * v / np.linalg.norm(v)
        return (v / np.linalg.norm(v)).astype(np.float32)


def background_hour(spec: StreamSpec, pl: Plan, brand: BrandProfile, hour: int,
                    rng: np.random.Generator) -> list[Draft]:
    """The brand's ordinary posts in one absolute hour (plus sale and holiday extras when active)."""
    t = hour * 3600.0 + 1800.0
    lam = pl.base_rate[brand.name] * _rhythm_at(spec, brand, hour, pl.truths, pl.day_noise[brand.name])
    sale, holiday = pl.active(brand.name, "sale", t), pl.active(brand.name, "holiday", t)
    mixes = [(BACKGROUND, lam * (1.2 if sale else 1.0))]
    if sale:
        mixes.append((SALE_MIX, 0.8 * lam))  # a sale: purchase questions and happy buyers, more customers overall
    if holiday:
        mixes.append((HOLIDAY_MIX, 0.4 * lam))  # greetings and "are you open?"
    out: list[Draft] = []
    langs, chans = list(brand.languages), list(brand.channels)
    for mix, rate in mixes:
        n = int(rng.poisson(rate))
        weights = np.array([s.weight for s in mix])
        picks = rng.choice(len(mix), size=n, p=weights / weights.sum())
        times = hour * 3600.0 + rng.random(n) * 3600.0
        lang = rng.choice(len(langs), size=n, p=list(brand.languages.values()))
        chan = rng.choice(len(chans), size=n, p=list(brand.channels.values()))
        authors = rng.integers(0, 200_000, size=n)
        for i in range(n):
            s = mix[picks[i]]
            out.append(Draft(float(times[i]), brand.name, None, s, langs[lang[i]], chans[chan[i]],
                             f"{brand.name}-u{authors[i]}", s.key))
    return out
