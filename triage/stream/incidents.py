"""Incidents of one brand: opening, de-duplication, evidence, growth and resolution.

Signals (a volume window that fired, a critical trigger, a viral post) arrive with the cluster of the post
that raised them. There is at most one open incident per brand and cluster: a signal on a cluster that
already has one adds its reason and score to it instead of opening another. Later trouble posts of the
cluster are attached to it as evidence — all of them once a volume window has fired there, before that
(an incident opened by one post, perhaps on a busy everyday topic) only those sharing one of its triggers.
Posts with a *campaign* trigger (phishing, outage by default) also join the brand's open incident with
that trigger whatever their cluster, because one phishing campaign is written a hundred ways.

Lifecycle: ``opened`` → ``growing`` once the posts of the last hour reach ``growth_ratio`` times those of
the hour before opening (or a viral post's reach doubles) → ``resolved`` once the posts of the last
``resolve_after`` (or of the longest window that fired, if longer: a slow build-up is judged on its own
time scale) are no longer significant (tail probability above ``quiet_p``) against the baseline it was
opened on, and a viral post has stopped growing. A resolved incident stays
readable for ``keep_resolved_hours``; its posts are never used as evidence for a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage.stream.config import DetectorConfig
from triage.stream.events import Incident, IncidentTopic
from triage.stream.stats import nb_tail

MAX_REASONS = 12
MAX_AUTHORS = 256
SAMPLE_CHARS = 160


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str  # "volume" | "viral" | "trigger"
    cluster: str
    label: str
    score: float
    reason_key: str
    reason: str
    t: float
    evidence: list[tuple[float, str, str]]  # (time, post id, channel), oldest first
    count: int
    trigger: str | None = None
    reach: float = 0.0
    rate: float | None = None  # expected posts per hour the opening window was tested against (volume only)
    window_s: float = 0.0  # length of that window: a slow incident must be quiet for as long to resolve


@dataclass
class IncidentRecord:
    id: str
    brand: str
    kind: str
    state: str
    clusters: list[str]
    label: str
    sample: str
    opened_at: float
    first_seen: float
    last_seen: float
    updated_at: float
    first_post_id: str
    resolved_at: float | None = None
    posts: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    intents: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    score: float = 0.0
    examples: list[str] = field(default_factory=list)
    reasons: list[list[str]] = field(default_factory=list)  # [key, text]: the latest text per kind of reason
    recent: list[float] = field(default_factory=list)  # times of attached posts, for growth and quiet
    base_posts: float = 0.0
    reach_open: float = 0.0
    reach: float = 0.0
    last_growth: float = 0.0
    base_rate: float | None = None  # lowest expected rate a volume signal was tested against, posts per hour
    attach_all: bool = False  # every trouble post of its clusters joins (a volume signal fired); else related ones
    quiet_s: float = 0.0  # how long it must be quiet: resolve_after, or the longest window that fired

    def public(self) -> Incident:
        return Incident(
            id=self.id, brand=self.brand, kind=self.kind, state=self.state,  # type: ignore[arg-type]
            topic=IncidentTopic(cluster=self.clusters[0], label=self.label, intents=dict(self.intents),
                                queues=dict(self.queues), sample=self.sample),
            triggers=list(self.triggers), first_seen=_dt(self.first_seen), last_seen=_dt(self.last_seen),
            opened_at=_dt(self.opened_at), updated_at=_dt(self.updated_at),
            resolved_at=_dt(self.resolved_at) if self.resolved_at is not None else None, posts=self.posts,
            counts_by_channel=dict(self.by_channel), authors=len(self.authors), score=round(self.score, 2),
            first_post_id=self.first_post_id, example_post_ids=list(self.examples),
            reasons=[text for _key, text in self.reasons],
        )

    def add_reason(self, key: str, text: str) -> None:
        for pair in self.reasons:
            if pair[0] == key:
                pair[1] = text
                return
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append([key, text])


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class IncidentBook:
    brand: str
    seq: int = 0
    records: dict[str, IncidentRecord] = field(default_factory=dict)
    open_by_cluster: dict[str, str] = field(default_factory=dict)
    open_by_trigger: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def related(rec: IncidentRecord, triggers: Iterable[str]) -> bool:
        """Does a post of the incident's cluster belong to it? Always once the cluster's volume has fired;
        before that (a single-post incident on what may be a busy everyday topic) only with a shared trigger."""
        return rec.attach_all or any(t in rec.triggers for t in triggers)

    def find(self, cluster: str, triggers: Iterable[str], cfg: DetectorConfig) -> IncidentRecord | None:
        iid = self.open_by_cluster.get(cluster)
        if iid is None:
            iid = next((self.open_by_trigger[t] for t in triggers
                        if t in cfg.campaign_triggers and t in self.open_by_trigger), None)
        return self.records[iid] if iid is not None else None

    def open(self, sig: Signal, sample: str, cfg: DetectorConfig) -> IncidentRecord:
        self.seq += 1
        first_t, first_id, _ = sig.evidence[0]
        rec = IncidentRecord(
            id=f"{self.brand}-{self.seq:06d}", brand=self.brand, kind=sig.kind, state="opened",
            clusters=[sig.cluster], label=sig.label, sample=sample[:SAMPLE_CHARS], opened_at=sig.t,
            first_seen=first_t, last_seen=sig.t, updated_at=sig.t, first_post_id=first_id,
            posts=max(sig.count, len(sig.evidence)), score=sig.score, reach_open=sig.reach, reach=sig.reach,
        )
        for _t, pid, channel in sig.evidence:
            rec.by_channel[channel] = rec.by_channel.get(channel, 0) + 1
            if len(rec.examples) < cfg.max_examples:
                rec.examples.append(pid)
        rec.recent = [t for t, _pid, _ch in sig.evidence if t >= sig.t - 3600]
        rec.base_posts = float(max(len(rec.recent), cfg.growth_min_posts))
        rec.add_reason(sig.reason_key, sig.reason)
        rec.base_rate = sig.rate
        rec.attach_all = sig.kind == "volume"
        rec.quiet_s = max(cfg.resolve_after_minutes * 60.0, sig.window_s)
        if sig.trigger:
            rec.triggers.append(sig.trigger)
        self.records[rec.id] = rec
        self._register(rec, sig.cluster, sig.trigger, cfg)
        return rec

    def merge(self, rec: IncidentRecord, sig: Signal, cfg: DetectorConfig) -> bool:
        """Add a signal to an open incident; True when it made the incident start growing."""
        rec.score = max(rec.score, sig.score)
        rec.updated_at = sig.t
        rec.add_reason(sig.reason_key, sig.reason)
        if sig.rate is not None:
            rec.base_rate = sig.rate if rec.base_rate is None else min(rec.base_rate, sig.rate)
            rec.attach_all = True
        rec.quiet_s = max(rec.quiet_s, sig.window_s)
        if sig.trigger and sig.trigger not in rec.triggers:
            rec.triggers.append(sig.trigger)
        self._register(rec, sig.cluster, sig.trigger, cfg)
        if sig.reach > rec.reach:
            rec.reach = sig.reach
            rec.last_growth = sig.t
            if rec.reach_open == 0.0:
                rec.reach_open = sig.reach
        return self._grow(rec, sig.t, cfg)

    def _register(self, rec: IncidentRecord, cluster: str, trigger: str | None, cfg: DetectorConfig) -> None:
        if cluster not in rec.clusters:
            rec.clusters.append(cluster)
        self.open_by_cluster.setdefault(cluster, rec.id)
        if trigger and trigger in cfg.campaign_triggers:
            self.open_by_trigger.setdefault(trigger, rec.id)

    def register(self, rec: IncidentRecord, cluster: str, triggers: Iterable[str], cfg: DetectorConfig) -> None:
        """A post of ``cluster`` belongs to ``rec``: the cluster's later posts, and posts with the same
        campaign triggers from any cluster, join it too (and the cluster's baseline stops learning)."""
        self._register(rec, cluster, None, cfg)
        for trigger in triggers:
            if trigger in cfg.campaign_triggers:
                self.open_by_trigger.setdefault(trigger, rec.id)

    def attach(self, rec: IncidentRecord, t: float, post: tuple[str, str, str], labels: tuple[str, str],
               cfg: DetectorConfig) -> bool:
        """Count one more post (id, channel, author) with its (intent, queue); True when it started growth."""
        pid, channel, author = post
        rec.posts += 1
        rec.last_seen = max(rec.last_seen, t)
        rec.by_channel[channel] = rec.by_channel.get(channel, 0) + 1
        rec.intents[labels[0]] = rec.intents.get(labels[0], 0) + 1
        rec.queues[labels[1]] = rec.queues.get(labels[1], 0) + 1
        if len(rec.authors) < MAX_AUTHORS and author not in rec.authors:
            rec.authors.append(author)
        if len(rec.examples) < cfg.max_examples:
            rec.examples.append(pid)
        rec.recent.append(t)
        horizon = t - max(3600.0, rec.quiet_s)
        if rec.recent[0] < horizon:
            rec.recent = [x for x in rec.recent if x >= horizon]
        return self._grow(rec, t, cfg)

    def _grow(self, rec: IncidentRecord, t: float, cfg: DetectorConfig) -> bool:
        if rec.state != "opened":
            return False
        last_hour = sum(1 for x in rec.recent if x >= t - 3600)
        rising = last_hour >= cfg.growth_ratio * rec.base_posts
        spreading = rec.reach_open > 0 and rec.reach >= 2.0 * rec.reach_open
        if rising or spreading:
            rec.state = "growing"
            rec.updated_at = t
            return True
        return False

    def sweep(self, now: float, cfg: DetectorConfig, baseline: Callable[[str, float, float],
                                                                        float]) -> list[IncidentRecord]:
        """Resolve quiet incidents (``baseline(cluster, start, end)`` = posts expected there) and forget old ones."""
        resolved = []
        for rec in list(self.records.values()):
            quiet_s = rec.quiet_s
            if rec.state == "resolved":
                if now - (rec.resolved_at or now) > cfg.keep_resolved_hours * 3600.0:
                    del self.records[rec.id]
                continue
            if now - max(rec.opened_at, rec.last_growth) < quiet_s:
                continue
            posts = sum(1 for x in rec.recent if x >= now - quiet_s)
            expected = sum(baseline(c, now - quiet_s, now) for c in rec.clusters)
            if rec.base_rate is not None:  # a slow build-up's baseline may have learned part of it already
                expected = min(expected, rec.base_rate * quiet_s / 3600.0)
            expected = max(expected, cfg.floor_per_hour * quiet_s / 3600.0)
            if nb_tail(posts, expected, cfg.dispersion) > cfg.quiet_p:
                self._resolve(rec, now)
                resolved.append(rec)
        return resolved

    def _resolve(self, rec: IncidentRecord, now: float) -> None:
        rec.state, rec.resolved_at, rec.updated_at = "resolved", now, now
        for index in (self.open_by_cluster, self.open_by_trigger):
            for k in [k for k, v in index.items() if v == rec.id]:
                del index[k]

    def open_records(self) -> list[IncidentRecord]:
        return [r for r in self.records.values() if r.state != "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {"brand": self.brand, "seq": self.seq, "records": [vars(r).copy() for r in self.records.values()],
                "open_by_cluster": dict(self.open_by_cluster), "open_by_trigger": dict(self.open_by_trigger)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentBook:
        records = {r["id"]: IncidentRecord(**r) for r in data["records"]}
        return cls(data["brand"], data["seq"], records, dict(data["open_by_cluster"]), dict(data["open_by_trigger"]))
