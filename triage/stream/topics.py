"""Per-topic counts and baseline: how many posts a topic had, and how many it should have had.

A topic's baseline is its *share* of the brand's expected volume, ``share = (A + a0) / (B + b0)``, where
every closed hour adds its post count to ``A`` and the brand's expected count for that hour (from
``season.py``) to ``B``, both decayed with a half-life of ``baseline_half_life_hours``. That is the
maximum-likelihood rate of a Poisson process with a known seasonal exposure, so a topic inherits the brand's
daily and weekly rhythm without needing weeks of its own history. ``a0 / b0`` is a prior at the floor rate
worth ``prior_hours`` hours: a new topic is assumed nearly silent until it has shown otherwise.

While an incident is open on the topic's cluster the baseline does not learn (the incident must not become
the new normal). The share in force at the start of each hour is kept with that hour's count, so a window
is always tested against the baseline *as it stood when the window began*: a slow build-up cannot hide by
raising its own baseline during the window.

Recent posts (times, ids, channels) are kept for one hour for the short windows and the evidence; longer
windows are summed from the last 24 hourly counts.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from triage.stream.config import DetectorConfig
from triage.stream.season import MIN_EXPECTED, BrandSeason, LocalClock

RECENT_S = 3600  # posts kept one by one; windows up to this long are exact
RING_HOURS = 24  # closed hours kept as counts; the longest window
MAX_GAP_HOURS = 24 * 14
AUTHORS_KEPT = 64


@dataclass
class BrandContext:
    """What a topic needs from its brand to turn counts into expectations."""

    cfg: DetectorConfig
    season: BrandSeason
    clock: LocalClock

    def __post_init__(self) -> None:
        self.gamma = 0.5 ** (1.0 / self.cfg.baseline_half_life_hours)

    def prior(self) -> tuple[float, float]:
        """(a0, b0): ``prior_hours`` at the floor rate, in units of the brand's mean hourly volume."""
        hours = self.cfg.prior_hours
        return self.cfg.floor_per_hour * hours, hours * max(self.season.mean, MIN_EXPECTED)

    def prior_share(self) -> float:
        a0, b0 = self.prior()
        return a0 / b0

    def expected_brand(self, hour: int) -> float:
        return self.season.expected(hour, self.clock)


@dataclass
class TopicState:
    key: str
    created: float
    keep_recent: bool = True
    a: float = 0.0
    b: float = 0.0
    cur_hour: int | None = None
    cur_count: int = 0
    cur_share: float | None = None
    hours: list[list[float]] = field(default_factory=list)  # [hour, count, share at its start], oldest first
    times: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    authors: dict[str, float] = field(default_factory=dict)
    last_seen: float = 0.0
    _cache: dict[int, tuple[Any, float, float, int]] = field(default_factory=dict, repr=False)

    def share(self, ctx: BrandContext) -> float:
        a0, b0 = ctx.prior()
        return (self.a + a0) / (self.b + b0)

    def add(self, t: float, hour: int, ctx: BrandContext, learn: bool, post: tuple[str, str, str] | None) -> None:
        """Count one post at time ``t``; ``post`` is (post id, channel, author key) when it is kept."""
        self.advance(hour, ctx, learn)
        self.cur_count += 1
        self.last_seen = t
        if self.keep_recent and post is not None:
            self._remember(t, post)

    def _remember(self, t: float, post: tuple[str, str, str]) -> None:
        self.times.append(t)
        self.ids.append(post[0])
        self.channels.append(post[1])
        if self.times[0] < t - RECENT_S:
            cut = bisect_left(self.times, t - RECENT_S)
            del self.times[:cut], self.ids[:cut], self.channels[:cut]
        self.authors.pop(post[2], None)  # re-insert: the dict stays ordered by last appearance
        self.authors[post[2]] = t
        if len(self.authors) > AUTHORS_KEPT:
            del self.authors[next(iter(self.authors))]

    def advance(self, hour: int, ctx: BrandContext, learn: bool) -> None:
        """Close every hour before ``hour``; hours without posts close with a count of zero."""
        if self.cur_hour is None:
            self.cur_hour, self.cur_share = hour, self.share(ctx)
            return
        if hour <= self.cur_hour:
            return
        for h in range(max(self.cur_hour, hour - MAX_GAP_HOURS), hour):
            self._close(h, self.cur_count if h == self.cur_hour else 0, ctx, learn, ring=h >= hour - RING_HOURS)
        self.cur_hour, self.cur_count = hour, 0
        self.cur_share = self.share(ctx)
        self._cache.clear()

    def _close(self, hour: int, count: int, ctx: BrandContext, learn: bool, ring: bool) -> None:
        share = self.cur_share if self.cur_share is not None else self.share(ctx)
        if ring:
            self.hours.append([hour, count, share])
            if len(self.hours) > RING_HOURS:
                del self.hours[0]
        if learn:
            g = ctx.gamma
            self.a = g * self.a + count
            self.b = g * self.b + ctx.expected_brand(hour)
            self.cur_share = self.share(ctx)

    def count_since(self, start: float) -> int:
        """Posts at or after ``start`` (exact; ``start`` must be within the last hour)."""
        return len(self.times) - bisect_left(self.times, start)

    def share_at(self, hour: int, ctx: BrandContext) -> float:
        """The share in force at the start of ``hour``; the prior when the topic did not exist yet."""
        if hour == self.cur_hour and self.cur_share is not None:
            return self.cur_share
        for h, _count, share in reversed(self.hours):
            if h == hour:
                return share
            if h < hour:
                break
        return ctx.prior_share()

    def closed_count(self, first_hour: int) -> int:
        return int(sum(c for h, c, _ in self.hours if h >= first_hour))

    def expected_between(self, start: float, end: float, share: float, ctx: BrandContext) -> float:
        """Expected posts in [start, end] at ``share`` of the brand's seasonal volume."""
        total = 0.0
        h = math.floor(start / 3600)
        while h * 3600 < end:
            lo, hi = max(start, h * 3600.0), min(end, (h + 1) * 3600.0)
            total += ctx.expected_brand(h) * (hi - lo) / 3600.0
            h += 1
        return share * total

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopicState:
        return cls(**data)


_FIELDS = ("key", "created", "keep_recent", "a", "b", "cur_hour", "cur_count", "cur_share", "hours", "times",
           "ids", "channels", "authors", "last_seen")
