"""Turn a volume hit, a critical trigger or a viral post into a ``Signal`` with its evidence and reason."""

from __future__ import annotations

from triage.stream.config import DetectorConfig
from triage.stream.events import StreamEvent
from triage.stream.incidents import Signal
from triage.stream.stats import minus_log10
from triage.stream.topics import RECENT_S, TopicState
from triage.stream.virality import ViralHit
from triage.stream.volume import VolumeHit


def topic_label(key: str) -> str:
    """'complaint|technical|e12' → 'complaint|technical'."""
    return key.rsplit("|", 1)[0]


def volume_signal(hit: VolumeHit, topic: TopicState, cluster: str, now: float) -> Signal:
    since = max(hit.start, now - RECENT_S)
    evidence = [(t, pid, ch) for t, pid, ch in zip(topic.times, topic.ids, topic.channels, strict=True) if t >= since]
    channels = sorted({ch for _t, _pid, ch in evidence})
    spread = f"; on {len(channels)} channels ({', '.join(channels)})" if len(channels) > 1 else ""
    label = topic_label(topic.key)
    reason = (
        f"{hit.count} trouble posts in {_span(hit.window_s)} on {label} where {hit.expected:.1f} were expected "
        f"(p = {hit.p:.1e}, {hit.authors}+ authors{spread})"
    )
    return Signal("volume", cluster, label, minus_log10(hit.p), f"volume:{label}:{hit.window_s}", reason, now,
                  evidence, hit.count, rate=hit.expected * 3600.0 / hit.window_s, window_s=hit.window_s)


def trigger_signal(event: StreamEvent, trigger: str, cluster: str, now: float, cfg: DetectorConfig) -> Signal:
    reason = f"critical trigger '{trigger}' in post {event.post_id} ({event.channel})"
    return Signal("trigger", cluster, f"{event.intent}|{event.queue}", cfg.severity(trigger), f"trigger:{trigger}",
                  reason, now, [(now, event.post_id, event.channel)], 1, trigger=trigger)


def viral_signal(event: StreamEvent, hit: ViralHit, cluster: str, now: float) -> Signal:
    reason = f"post {event.post_id} on {event.channel}: {hit.reason}"
    return Signal("viral", cluster, f"{event.intent}|{event.queue}", hit.score, "viral", reason, now,
                  [(now, event.post_id, event.channel)], 1, reach=hit.reach)


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
