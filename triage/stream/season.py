"""A brand's expected posts per hour by local hour of week, learned online.

Three exponentially weighted profiles of the brand's hourly post counts, from coarse to fine:

* ``mean`` — all hours (the fallback before anything else is known);
* ``hod`` — by local hour of day (one update a day, so it is usable after the first day);
* ``how`` — by local hour of week (one update a week; it captures Shabbat and Sunday mornings).

``expected(hour)`` blends the hour-of-week value with the hour-of-day value by how often that slot was
seen, so the model is usable from day one and weekly-aware after a week. Hours far above expectation are
clipped before they are learned, so a crisis (or a sale) barely moves the profile. Topic baselines are
expressed as a share of this expectation (see ``topics.py``), which is why one brand-level profile, learned
from every post, is enough to give every topic its daily and weekly rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

MIN_EXPECTED = 0.1  # posts per hour: a brand is never expected to be completely silent
MAX_GAP_HOURS = 24 * 7 * 2  # a brand silent for longer than this re-learns from where it resumes


class LocalClock:
    """Absolute hour (epoch seconds // 3600) → local hour of week, 0 = Monday 00:00 local."""

    def __init__(self, tz_name: str) -> None:
        self.tz = ZoneInfo(tz_name)
        self._cache: dict[int, int] = {}

    def slot(self, hour: int) -> int:
        slot = self._cache.get(hour)
        if slot is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            # The middle of the hour: zones with half-hour offsets fall on the hour they mostly cover.
            local = datetime.fromtimestamp(hour * 3600 + 1800, self.tz)
            slot = local.weekday() * 24 + local.hour
            self._cache[hour] = slot
        return slot


@dataclass
class BrandSeason:
    alpha_day: float
    alpha_week: float
    alpha_mean: float
    winsor_ratio: float
    hod: list[float] = field(default_factory=lambda: [0.0] * 24)
    hod_n: list[int] = field(default_factory=lambda: [0] * 24)
    how: list[float] = field(default_factory=lambda: [0.0] * 168)
    how_n: list[int] = field(default_factory=lambda: [0] * 168)
    mean: float = 0.0
    mean_n: int = 0
    cur_hour: int | None = None
    cur_count: int = 0
    version: int = 0  # bumped whenever a profile changes: caches of derived numbers key on it
    _cache: dict[int, float] = field(default_factory=dict, repr=False)

    def add(self, hour: int, clock: LocalClock) -> None:
        self.advance(hour, clock)
        self.cur_count += 1

    def advance(self, hour: int, clock: LocalClock) -> None:
        """Close every hour before ``hour`` (hours without posts count as zero)."""
        if self.cur_hour is None:
            self.cur_hour = hour
        if hour <= self.cur_hour:
            return
        start = max(self.cur_hour, hour - MAX_GAP_HOURS)
        for h in range(start, hour):
            self._learn(h, self.cur_count if h == self.cur_hour else 0, clock)
        self.cur_hour, self.cur_count = hour, 0

    def _learn(self, hour: int, count: float, clock: LocalClock) -> None:
        slot = clock.slot(hour)
        if self.mean_n >= 24:
            count = min(count, self.winsor_ratio * self.expected(hour, clock) + 10.0)
        day = slot % 24
        self.hod[day] = _ew(self.hod[day], count, self.hod_n[day], self.alpha_day)
        self.how[slot] = _ew(self.how[slot], count, self.how_n[slot], self.alpha_week)
        self.mean = _ew(self.mean, count, self.mean_n, self.alpha_mean)
        self.hod_n[day] += 1
        self.how_n[slot] += 1
        self.mean_n += 1
        self.version += 1
        self._cache.clear()

    def expected(self, hour: int, clock: LocalClock) -> float:
        """Expected posts of the brand in absolute hour ``hour``."""
        value = self._cache.get(hour)
        if value is None:
            value = self._expected(clock.slot(hour))
            self._cache[hour] = value
        return value

    def _expected(self, slot: int) -> float:
        day = slot % 24
        daily = self.hod[day] if self.hod_n[day] else self.mean
        n = self.how_n[slot]
        if n == 0:
            return max(daily, MIN_EXPECTED)
        weight = n / (n + 1.0)
        return max(weight * self.how[slot] + (1.0 - weight) * daily, MIN_EXPECTED)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BrandSeason:
        fields: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**fields)


_FIELDS = ("alpha_day", "alpha_week", "alpha_mean", "winsor_ratio", "hod", "hod_n", "how", "how_n", "mean",
           "mean_n", "cur_hour", "cur_count", "version")


def _ew(old: float, new: float, n: int, alpha: float) -> float:
    """Exponentially weighted mean whose first value is the first observation (no bias towards zero)."""
    return float(new) if n == 0 else old + alpha * (new - old)
