"""Virality signals: engagement counts the channel reports, and counts the author states in the text.

Observed counts (shares, likes, views) are heavy-tailed, so they are compared in log space with the
brand's own posts: an exponentially weighted mean and variance of ``log1p(count)`` per metric. A post is
viral when a count reaches its absolute floor (100 shares, 1,000 likes, 20,000 views by default) *and* is
at least ``viral_z`` standard deviations above the brand's usual (z = 4 is about one post in 30,000 under
a log-normal), so a brand whose every post gets thousands of views does not alarm on each of them. Until a
metric has ``viral_min_history`` values the floor alone decides. Viral values are not learned.

Stated counts ("already 2,000 shares", "כבר 5,000 צפיות", "10k views") are what the taxonomy calls a
critical trigger; they have their own, higher floors because people round up when they are angry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from triage.stream.config import DetectorConfig
from triage.stream.events import StreamEvent
from triage.stream.stats import normal_tail_score

METRICS = ("shares", "likes", "views")

_WORDS = {
    "shares": r"shares?|shared|retweets?|reposts?|שיתופים|שיתופים|שיתוף|שיתפו|مشارك[ةات]+|репост\w*|поделил\w*",
    "views": r"views?|viewed|צפיות|צפו|مشاهد[ةات]+|просмотр\w*",
    "likes": r"likes?|לייקים|לייק|إعجاب\w*|лайк\w*",
}
_STATED = re.compile(
    r"(?P<num>\d[\d,.]*)\s*(?P<mult>k|m|אלף|מיליון|thousand|million|тыс\.?|млн)?\s*(?:[^\s\d]+\s+){0,2}?"
    + "(?P<word>" + "|".join(f"(?P<{m}>{w})" for m, w in _WORDS.items()) + r")(?!\w)",
    re.IGNORECASE,
)
_MULT = {"k": 1e3, "אלף": 1e3, "thousand": 1e3, "тыс": 1e3, "тыс.": 1e3, "m": 1e6, "מיליון": 1e6, "million": 1e6,
         "млн": 1e6}


_DIGIT = re.compile(r"\d")


def stated_counts(text: str) -> dict[str, int]:
    """Largest count stated per metric in ``text`` ({'shares': 2000} for 'already 2,000 shares')."""
    out: dict[str, int] = {}
    for match in _STATED.finditer(text):
        metric = next(m for m in METRICS if match.group(m))
        value = _number(match.group("num"), match.group("mult"))
        if value is not None and value > out.get(metric, -1):
            out[metric] = value
    return out


def _number(raw: str, mult: str | None) -> int | None:
    raw = raw.rstrip(",.")
    if re.fullmatch(r"\d{1,3}([,.]\d{3})+", raw):  # 2,000 or 2.000: thousands separators
        raw = raw.replace(",", "").replace(".", "")
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        return None
    return int(value * _MULT.get((mult or "").lower(), 1.0))


@dataclass(frozen=True, slots=True)
class ViralHit:
    reach: float  # the count over its floor (>= 1); the largest across metrics
    score: float
    reason: str


@dataclass
class ViralityStats:
    """EW mean and variance of log1p(count) per metric, for one brand."""

    mean: dict[str, float] = field(default_factory=dict)
    var: dict[str, float] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)

    def check(self, event: StreamEvent, cfg: DetectorConfig, learn: bool = True) -> ViralHit | None:
        """The strongest virality evidence in ``event``; ``learn=False`` for refreshed counts of a known post."""
        best: ViralHit | None = None
        if event.shares is not None or event.likes is not None or event.views is not None:
            for metric in METRICS:
                value = getattr(event, metric)
                if value is not None:
                    hit = self._observed(metric, int(value), cfg, learn)
                    best = hit if hit is not None and (best is None or hit.reach > best.reach) else best
        if event.text and _DIGIT.search(event.text):
            for metric, value in stated_counts(event.text).items():
                floor = cfg.stated_floor.get(metric)
                if floor and value >= floor and (best is None or value / floor > best.reach):
                    reason = f"the post states {value:,} {metric}"
                    best = ViralHit(value / floor, cfg.severity("viral") + math.log10(value / floor), reason)
        return best

    def _observed(self, metric: str, value: int, cfg: DetectorConfig, learn: bool) -> ViralHit | None:
        floor = cfg.viral_floor.get(metric)
        x = math.log1p(max(value, 0))
        n = self.n.get(metric, 0)
        z = math.inf
        if n >= cfg.viral_min_history:
            z = (x - self.mean[metric]) / math.sqrt(max(self.var[metric], 1e-6))
        if floor is None or value < floor:
            if learn:
                self._learn(metric, x, cfg.viral_alpha)
            return None
        if z < cfg.viral_z:
            return None
        score = max(normal_tail_score(z), cfg.severity("viral")) + math.log10(value / floor)
        z_text = "" if math.isinf(z) else f", {z:.1f} sd above the brand's usual"
        return ViralHit(value / floor, score, f"{value:,} {metric}{z_text}")

    def _learn(self, metric: str, x: float, alpha: float) -> None:
        n = self.n.get(metric, 0)
        if n == 0:
            self.mean[metric], self.var[metric] = x, 1.0
        else:
            delta = x - self.mean[metric]
            self.mean[metric] += alpha * delta
            self.var[metric] = (1 - alpha) * (self.var[metric] + alpha * delta * delta)
        self.n[metric] = n + 1

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViralityStats:
        return cls(dict(data["mean"]), dict(data["var"]), dict(data["n"]))
