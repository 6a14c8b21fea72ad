"""The volume test: is a topic's count in a sliding window improbably high for its baseline?

For every window (10 min, 1 h, 6 h, 24 h by default) the count ``n`` of trouble posts is compared with
the expected count ``mu`` (topic share × the brand's seasonal volume over the same span × brand activity,
never below the floor). A window fires when all of these hold, cheapest first:

1. ``n >= min_count`` — small counts are never a crisis, however quiet the topic;
2. ``n >= min_ratio * mu`` — a big topic must at least double (or more) before it matters;
3. at least ``min_authors`` distinct authors — one angry customer writing ten times is not a crisis;
4. trouble posts are at least ``min_trouble_share`` of all the cluster's posts in the window — in a sale
   cluster of purchase questions, the few the classifier mislabels as complaints are not a crisis;
5. ``P(X >= n | mu) <= p_value`` under the negative binomial of ``stats.py``.

The brand *activity* factor scales ``mu`` up (never down, at most ``activity_cap``) when the brand's calm
posts — praise, purchase questions, greetings — run above their own baseline: a sale or a holiday brings
more customers, and with them proportionally more complaints that are not a crisis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from triage.stream.config import WindowRule
from triage.stream.stats import nb_tail
from triage.stream.topics import RECENT_S, BrandContext, TopicState

ACTIVITY_SHRINK = 10.0  # pseudo-posts added to both sides of observed/expected calm volume


@dataclass(frozen=True, slots=True)
class VolumeHit:
    topic: str
    window_s: int
    start: float
    count: int
    expected: float
    p: float
    authors: int


def scan_topic(
    topic: TopicState, cluster: TopicState, now: float, ctx: BrandContext, calm: TopicState, not_before: float
) -> VolumeHit | None:
    """The most significant window of ``topic`` that fires at ``now``, or None.

    ``cluster`` counts every post of the topic's cluster (trouble or not), for the trouble-share gate;
    ``calm`` is the brand's calm series, for the activity factor; windows starting before ``not_before``
    (when the cluster's last incident resolved) are skipped: their posts were that incident's evidence.
    """
    best: VolumeHit | None = None
    activity: list[float] = []  # computed at most once, and only when a window gets that far
    for rule in ctx.cfg.windows:
        hit = _test_window(topic, cluster, rule, now, ctx, lambda: _activity_once(activity, calm, now, ctx),
                           not_before)
        if hit is not None and (best is None or hit.p < best.p):
            best = hit
    return best


def _activity_once(memo: list[float], calm: TopicState, now: float, ctx: BrandContext) -> float:
    if not memo:
        memo.append(brand_activity(calm, now, ctx))
    return memo[0]


def _test_window(
    topic: TopicState, cluster: TopicState, rule: WindowRule, now: float, ctx: BrandContext,
    activity: Callable[[], float], not_before: float,
) -> VolumeHit | None:
    cfg = ctx.cfg
    count, start, mu0 = _window(topic, rule, now, ctx)
    if count < rule.min_count or start < not_before:
        return None
    floor = cfg.floor_per_hour * rule.seconds / 3600.0
    if count < rule.min_ratio * max(mu0, floor):
        return None
    mu = max(mu0 * activity(), floor)
    if count < rule.min_ratio * mu:
        return None
    authors = sum(1 for seen in topic.authors.values() if seen >= start)
    if authors < cfg.min_authors:
        return None
    if count < cfg.min_trouble_share * _count_all(cluster, rule, start):
        return None
    p = nb_tail(count, mu, cfg.dispersion)
    if p > cfg.p_value:
        return None
    return VolumeHit(topic.key, rule.seconds, start, count, mu, p, authors)


def _window(topic: TopicState, rule: WindowRule, now: float, ctx: BrandContext) -> tuple[int, float, float]:
    """(count, window start, expected count before activity) of one window ending at ``now``."""
    if rule.seconds <= RECENT_S:
        start = now - rule.seconds
        count = topic.count_since(start)
        if count < rule.min_count:
            return count, start, 0.0
        share = topic.share_at(math.floor(start / 3600), ctx)
        return count, start, topic.expected_between(start, now, share, ctx)
    assert topic.cur_hour is not None
    first = topic.cur_hour - (rule.seconds // 3600 - 1)
    closed_count, closed_mu, share = _closed_part(topic, first, ctx)
    count = closed_count + topic.cur_count
    now_part = topic.expected_between(topic.cur_hour * 3600.0, now, share, ctx)
    return count, first * 3600.0, closed_mu + now_part


def _count_all(cluster: TopicState, rule: WindowRule, start: float) -> int:
    if rule.seconds <= RECENT_S:
        return cluster.count_since(start)
    return cluster.closed_count(math.floor(start / 3600)) + cluster.cur_count


def _closed_part(topic: TopicState, first: int, ctx: BrandContext) -> tuple[int, float, float]:
    """Count, expected count and baseline share of the closed hours ``first .. cur_hour - 1``, cached per hour."""
    key = first
    cached = topic._cache.get(key)
    if cached is not None and cached[0] == ctx.season.version:
        return cached[3], cached[1], cached[2]
    share = topic.share_at(first, ctx)
    assert topic.cur_hour is not None
    mu = topic.expected_between(first * 3600.0, topic.cur_hour * 3600.0, share, ctx)
    count = topic.closed_count(first)
    topic._cache[key] = (ctx.season.version, mu, share, count)
    return count, mu, share


def brand_activity(calm: TopicState, now: float, ctx: BrandContext) -> float:
    """How much busier than usual the brand's calm posts are over the last hour or so (1 … activity_cap)."""
    hour = math.floor(now / 3600)
    calm.advance(hour, ctx, learn=True)
    observed = float(calm.cur_count)
    expected = calm.expected_between(hour * 3600.0, now, calm.cur_share or 0.0, ctx)
    if calm.hours and calm.hours[-1][0] == hour - 1:
        _h, count, share = calm.hours[-1]
        observed += count
        expected += share * ctx.expected_brand(hour - 1)
    ratio = (observed + ACTIVITY_SHRINK) / (expected + ACTIVITY_SHRINK)
    return min(max(ratio, 1.0), ctx.cfg.activity_cap)
