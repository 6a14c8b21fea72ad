"""All detector state of one brand, and what one event does to it.

Per event: late events are counted at the brand's clock; every post feeds the brand's seasonal profile
and is clustered (``all|cluster`` counts every post of a cluster, for the trouble-share gate); calm posts
(not trouble) feed the calm series that measures brand-wide busyness; trouble posts are counted in two
topics, ``intent|queue|cluster`` and ``*|*|cluster`` (the whole cluster, so that an outage whose posts
the classifier spreads over complaint / question / churn is still one count); then the volume windows,
the critical triggers (of posts the classifier also calls urgent) and the virality check raise signals,
which open or join the incident of that cluster. Sweeps (once a minute of stream time) resolve quiet incidents;
hourly ones expire old clusters and topics.

``to_dict`` / ``from_dict`` give the state as plain JSON-able data; nothing else carries decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from triage.stream.clusters import ClusterIndex
from triage.stream.config import DetectorConfig
from triage.stream.events import IncidentChange, Observation, StreamEvent
from triage.stream.incidents import IncidentBook, IncidentRecord, Signal
from triage.stream.season import BrandSeason, LocalClock
from triage.stream.signals import trigger_signal, viral_signal, volume_signal
from triage.stream.topics import BrandContext, TopicState
from triage.stream.virality import ViralHit, ViralityStats
from triage.stream.volume import scan_topic

STATE_VERSION = 1
VIRAL_POSTS_KEPT = 2000
NOT_BEFORE_KEEP_S = 24 * 3600.0


@dataclass
class BrandState:
    brand: str
    cfg: DetectorConfig
    season: BrandSeason
    calm: TopicState
    started: float | None = None
    now: float = 0.0
    next_sweep: float = 0.0
    next_expire: float = 0.0
    topics: dict[str, TopicState] = field(default_factory=dict)
    clusters: ClusterIndex = field(default_factory=ClusterIndex)
    virality: ViralityStats = field(default_factory=ViralityStats)
    book: IncidentBook | None = None
    not_before: dict[str, float] = field(default_factory=dict)  # cluster → when its last incident resolved
    viral_posts: dict[str, str] = field(default_factory=dict)  # post id → incident it opened or joined

    def __post_init__(self) -> None:
        self.clock = LocalClock(self.cfg.tz_for(self.brand))
        self.ctx = BrandContext(self.cfg, self.season, self.clock)
        if self.book is None:
            self.book = IncidentBook(self.brand)

    @classmethod
    def new(cls, brand: str, cfg: DetectorConfig) -> BrandState:
        season = BrandSeason(cfg.season_alpha_day, cfg.season_alpha_week, cfg.season_alpha_mean, cfg.winsor_ratio)
        return cls(brand, cfg, season, TopicState("calm", 0.0, keep_recent=False))

    # --- one event ------------------------------------------------------------------------------------------

    def observe(self, event: StreamEvent) -> Observation:
        t = max(event.time.timestamp(), self.now)  # a late event counts now: every series stays in time order
        changes = self.advance(t)
        if event.refresh:
            return self._refresh(event, t, changes)
        hour = math.floor(t / 3600)
        self.season.add(hour, self.clock)
        trouble, calm_mood = self._is_trouble(event)
        viral = self.virality.check(event, self.cfg)
        if calm_mood:
            viral = None  # a viral compliment is good news
        if not trouble:
            self.calm.add(t, hour, self.ctx, learn=True, post=None)
        cid = self._cluster(event, t, learn=True)
        post = (event.post_id, event.channel, event.author or event.post_id)
        self._topic(f"all|{cid}", t).add(t, hour, self.ctx, False, post)
        if not trouble and viral is None:
            return Observation(event.post_id, cid, None, tuple(changes))
        return self._trouble(event, cid, t, hour, trouble, viral, changes)

    def _is_trouble(self, event: StreamEvent) -> tuple[bool, bool]:
        """(is the post trouble, is its sentiment calm): calm posts are never trouble."""
        cfg = self.cfg
        calm_mood = event.sentiment in cfg.calm_sentiments
        trouble = not calm_mood and (
            event.intent in cfg.concern_intents or event.urgency in cfg.concern_urgencies or bool(event.triggers)
        )
        return trouble, calm_mood

    def _trouble(self, event: StreamEvent, cid: str, t: float, hour: int, trouble: bool, viral: ViralHit | None,
                 changes: list[IncidentChange]) -> Observation:
        book = self._book()
        post = (event.post_id, event.channel, event.author or event.post_id)
        rec = book.find(cid, event.triggers, self.cfg)
        if rec is not None and not (trouble and book.related(rec, event.triggers)):
            rec = None  # the cluster has an incident, but this post is not (yet) evidence of it
        if rec is not None:
            book.register(rec, cid, event.triggers, self.cfg)
            if book.attach(rec, t, post, (event.intent, event.queue), self.cfg):
                changes.append(IncidentChange("growing", rec.public()))
        signals: list[Signal] = []
        if trouble:
            signals += self._count(event, cid, t, hour, post)
            if event.urgency in self.cfg.trigger_urgencies:
                signals += [trigger_signal(event, name, cid, t, self.cfg) for name in event.triggers]
        if viral is not None:
            signals.append(viral_signal(event, viral, cid, t))
        for sig in signals:
            rec = self._apply(sig, event, post, changes) or rec
        if viral is not None and rec is not None:
            self._remember_viral(event.post_id, rec.id)
        return Observation(event.post_id, cid, rec.id if rec is not None else None, tuple(changes))

    def _topic(self, key: str, t: float) -> TopicState:
        topic = self.topics.get(key)
        if topic is None:
            topic = self.topics[key] = TopicState(key, t)
        return topic

    def _count(self, event: StreamEvent, cid: str, t: float, hour: int, post: tuple[str, str, str]) -> list[Signal]:
        """Count the post in its two topics and return the volume signals they raise."""
        learn = cid not in self._book().open_by_cluster
        warm_end = (self.started or t) + self.cfg.warmup_hours * 3600.0
        warmed = t >= warm_end
        everything = self.topics[f"all|{cid}"]
        # A window is only tested against a baseline that had the whole warm-up to learn, and never on posts
        # that were already the evidence of an incident of this cluster that has since resolved.
        not_before = max(self.not_before.get(cid, float("-inf")), warm_end)
        out = []
        for key in (f"{event.intent}|{event.queue}|{cid}", f"*|*|{cid}"):
            topic = self._topic(key, t)
            topic.add(t, hour, self.ctx, learn, post)
            if warmed:
                hit = scan_topic(topic, everything, t, self.ctx, self.calm, not_before)
                if hit is not None:
                    out.append(volume_signal(hit, topic, cid, t))
        return out

    def _apply(self, sig: Signal, event: StreamEvent, post: tuple[str, str, str],
               changes: list[IncidentChange]) -> IncidentRecord:
        book = self._book()
        rec = book.find(sig.cluster, [sig.trigger] if sig.trigger else [], self.cfg)
        if rec is None:
            rec = book.open(sig, event.text, self.cfg)
            book.register(rec, sig.cluster, event.triggers, self.cfg)
            rec.intents[event.intent] = rec.intents.get(event.intent, 0) + 1
            rec.queues[event.queue] = rec.queues.get(event.queue, 0) + 1
            rec.authors.append(post[2])
            changes.append(IncidentChange("opened", rec.public()))
        elif book.merge(rec, sig, self.cfg):
            changes.append(IncidentChange("growing", rec.public()))
        return rec

    def _refresh(self, event: StreamEvent, t: float, changes: list[IncidentChange]) -> Observation:
        """Newer engagement counts of a post already seen: only virality can change."""
        hit = self.virality.check(event, self.cfg, learn=False)
        if hit is None or event.sentiment in self.cfg.calm_sentiments:
            return Observation(event.post_id, None, None, tuple(changes))
        known = self.viral_posts.get(event.post_id)
        book = self._book()
        if known is not None and (known not in book.records or book.records[known].state == "resolved"):
            return Observation(event.post_id, None, known, tuple(changes))  # its incident is over
        cid = self._cluster(event, t, learn=False)
        post = (event.post_id, event.channel, event.author or event.post_id)
        rec = self._apply(viral_signal(event, hit, cid, t), event, post, changes)
        self._remember_viral(event.post_id, rec.id)
        return Observation(event.post_id, cid, rec.id, tuple(changes))

    # --- helpers -------------------------------------------------------------------------------------------------

    def _book(self) -> IncidentBook:
        assert self.book is not None
        return self.book

    def _cluster(self, event: StreamEvent, t: float, learn: bool) -> str:
        protected = self._book().open_by_cluster
        cid, evicted = self.clusters.assign(event.embedding, event.text, t, cfg=self.cfg, protected=protected,
                                            learn=learn)
        if evicted is not None:
            self._forget_clusters([evicted])
        return cid

    def _forget_clusters(self, gone: list[str]) -> None:
        suffixes = tuple(f"|{cid}" for cid in gone)
        for key in [k for k in self.topics if k.endswith(suffixes)]:
            del self.topics[key]
        for cid in gone:
            self.not_before.pop(cid, None)

    def _remember_viral(self, post_id: str, incident_id: str) -> None:
        self.viral_posts.pop(post_id, None)
        self.viral_posts[post_id] = incident_id
        if len(self.viral_posts) > VIRAL_POSTS_KEPT:
            del self.viral_posts[next(iter(self.viral_posts))]

    # --- time passing ------------------------------------------------------------------------------------------

    def advance(self, t: float) -> list[IncidentChange]:
        """Move the brand's clock to ``t``; run the sweeps that are due. Returns resolutions."""
        if self.started is None:
            self.started = t
            self.next_sweep = t + self.cfg.sweep_seconds
            self.next_expire = t + 3600.0
        self.now = max(self.now, t)
        changes: list[IncidentChange] = []
        if self.now >= self.next_sweep:
            self.next_sweep = self.now + self.cfg.sweep_seconds
            changes = self._resolve_quiet()
        if self.now >= self.next_expire:
            self.next_expire = self.now + 3600.0
            self._expire()
        return changes

    def _resolve_quiet(self) -> list[IncidentChange]:
        changes = []
        for rec in self._book().sweep(self.now, self.cfg, self._baseline):
            for cid in rec.clusters:
                self.not_before[cid] = self.now
            changes.append(IncidentChange("resolved", rec.public()))
        return changes

    def _baseline(self, cluster: str, start: float, end: float) -> float:
        """Trouble posts the whole cluster is expected to get in [start, end]."""
        topic = self.topics.get(f"*|*|{cluster}")
        if topic is None:
            return self.cfg.floor_per_hour * (end - start) / 3600.0
        share = topic.share_at(math.floor(start / 3600), self.ctx)
        return topic.expected_between(start, end, share, self.ctx)

    def _expire(self) -> None:
        cutoff = self.now - self.cfg.cluster_ttl_hours * 3600.0
        gone = self.clusters.expire(cutoff, self._book().open_by_cluster)
        idle = [k for k, topic in self.topics.items() if topic.last_seen < cutoff]
        for key in idle:
            del self.topics[key]
        self._forget_clusters(gone)
        for cid in [c for c, at in self.not_before.items() if self.now - at > NOT_BEFORE_KEEP_S]:
            del self.not_before[cid]

    # --- plain data ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data (lists, dicts, numbers, strings; matrices as base64)."""
        return {
            "state_version": STATE_VERSION, "brand": self.brand, "started": self.started, "now": self.now,
            "next_sweep": self.next_sweep, "next_expire": self.next_expire, "season": self.season.to_dict(),
            "calm": self.calm.to_dict(), "topics": {k: v.to_dict() for k, v in self.topics.items()},
            "clusters": self.clusters.to_dict(), "virality": self.virality.to_dict(), "book": self._book().to_dict(),
            "not_before": dict(self.not_before), "viral_posts": dict(self.viral_posts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], cfg: DetectorConfig) -> BrandState:
        if data.get("state_version") != STATE_VERSION:
            raise ValueError(f"stream state version {data.get('state_version')!r} is not {STATE_VERSION}")
        return cls(
            brand=data["brand"], cfg=cfg, season=BrandSeason.from_dict(data["season"]),
            calm=TopicState.from_dict(data["calm"]), started=data["started"], now=data["now"],
            next_sweep=data["next_sweep"], next_expire=data["next_expire"],
            topics={k: TopicState.from_dict(v) for k, v in data["topics"].items()},
            clusters=ClusterIndex.from_dict(data["clusters"]), virality=ViralityStats.from_dict(data["virality"]),
            book=IncidentBook.from_dict(data["book"]), not_before=dict(data["not_before"]),
            viral_posts=dict(data["viral_posts"]),
        )
