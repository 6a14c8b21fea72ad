"""Score the detector's incidents against the injected truth.

A detected incident is matched to the injected incident whose posts it holds: the truth of the post that
opened it when that post was injected, else the truth with the most posts among those it holds (its opening
evidence plus every post attached while open) if they are at least a quarter of them. Anything else — or a
match to a decoy flood — is a false incident. The first matched incident gives the detection delay (its
opening time minus the truth's first post); later ones for the same truth are duplicates.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.stream.generate import StreamSpec, Truth
from triage.stream.events import Incident, Observation, StreamEvent

ISSUE_SHAPES = ("outage", "viral", "recall", "phishing", "billing")
MATCH_SHARE = 0.25


@dataclass
class Detected:
    id: str
    brand: str
    kind: str
    opened_at: float
    opener_truth: str | None
    reasons: list[str]
    truths: Counter[str | None] = field(default_factory=Counter)
    first_at: dict[str, float] = field(default_factory=dict)  # when it first held a post of each truth
    grew: bool = False
    resolved_at: float | None = None
    decoy: str | None = None  # the decoy flood it matched, when it did


class Evaluator:
    def __init__(self, spec: StreamSpec, truths: list[Truth]) -> None:
        self.spec = spec
        self.truths = {t.id: t for t in truths}
        self.post_truth: dict[str, str] = {}  # injected posts only: the background is the default
        self.detected: dict[str, Detected] = {}
        self.events = 0

    def see(self, event: StreamEvent, truth: str | None, obs: Observation) -> None:
        self.events += 1
        if truth is not None:
            self.post_truth[event.post_id] = truth
        opened_now = set()
        for change in obs.changes:
            inc = change.incident
            if change.change == "opened":
                self._opened(inc, truth if inc.example_post_ids and event.post_id in inc.example_post_ids else None)
                opened_now.add(inc.id)
            elif inc.id in self.detected:
                self.detected[inc.id].grew |= change.change == "growing"
                if change.change == "resolved":
                    self.detected[inc.id].resolved_at = inc.resolved_at.timestamp() if inc.resolved_at else None
        if obs.incident_id in self.detected and obs.incident_id not in opened_now and not event.refresh:
            found = self.detected[obs.incident_id]
            found.truths[truth] += 1
            if truth is not None:
                found.first_at.setdefault(truth, event.time.timestamp())

    def _opened(self, inc: Incident, opener_truth: str | None) -> None:
        found = Detected(inc.id, inc.brand, inc.kind, inc.opened_at.timestamp(), opener_truth, list(inc.reasons))
        for pid in inc.example_post_ids:
            truth = self.post_truth.get(pid)
            found.truths[truth] += 1
            if truth is not None:
                found.first_at.setdefault(truth, found.opened_at)
        self.detected[inc.id] = found

    def match(self, found: Detected) -> str | None:
        if found.opener_truth is not None:
            return found.opener_truth
        injected = [(n, t) for t, n in found.truths.items() if t is not None]
        if not injected:
            return None
        n, best = max(injected)
        return best if n >= MATCH_SHARE * sum(found.truths.values()) else None

    def report(self) -> dict[str, Any]:
        matches: dict[str, list[Detected]] = {}
        false: list[Detected] = []
        for found in sorted(self.detected.values(), key=lambda d: d.opened_at):
            truth = self.match(found)
            if truth is None or not self.truths[truth].incident:
                found.decoy = truth
                false.append(found)
            else:
                matches.setdefault(truth, []).append(found)
        return {
            "per_truth": [self._truth_row(t, matches.get(t.id, [])) for t in self.truths.values()
                          if t.shape not in ("sale", "holiday")],
            "false": [self._false_row(f) for f in false],
            "detected_total": len(self.detected),
        }

    def _truth_row(self, truth: Truth, found: list[Detected]) -> dict[str, Any]:
        first = min(found, key=lambda d: d.first_at.get(truth.id, d.opened_at)) if found else None
        # An incident opened earlier by something else that this one then joined counts from the joining.
        seen = max(first.opened_at, first.first_at.get(truth.id, first.opened_at)) if first else None
        delay = (seen - truth.first_post) / 60.0 if seen is not None and truth.first_post is not None else None
        return {
            "id": truth.id, "brand": truth.brand, "shape": truth.shape, "incident": truth.incident,
            "start_day": round((truth.start - self.spec.t0) / 86400.0, 2), "posts": truth.posts,
            "detected": first is not None, "delay_min": None if delay is None else round(max(delay, 0.0), 2),
            "kind": first.kind if first else None, "duplicates": max(len(found) - 1, 0),
            "grew": bool(first and first.grew),
            "reason": first.reasons[0] if first and first.reasons else None,
        }

    def _false_row(self, found: Detected) -> dict[str, Any]:
        during = [t.shape for t in self.truths.values()
                  if t.brand == found.brand and not t.incident and t.start <= found.opened_at < t.end]
        return {"id": found.id, "brand": found.brand, "kind": found.kind,
                "day": round((found.opened_at - self.spec.t0) / 86400.0, 2), "after_warmup":
                found.opened_at >= self.spec.warm_end, "during": during[0] if during else None,
                "decoy": found.decoy, "reason": found.reasons[0] if found.reasons else None}


def summarise(report: dict[str, Any], spec: StreamSpec) -> dict[str, Any]:
    """Recall, delays and false incidents per brand per week, overall and per shape."""
    rows = [r for r in report["per_truth"] if r["incident"]]
    issue = [r for r in rows if r["shape"] in ISSUE_SHAPES]
    weeks = max(spec.days - spec.warmup_hours / 24.0, 1e-9) / 7.0
    false_after = [f for f in report["false"] if f["after_warmup"]]
    return {
        "issue_shapes": _scores(issue),
        "all_incidents": _scores(rows),
        "per_shape": {shape: _scores([r for r in rows if r["shape"] == shape])
                      for shape in (*ISSUE_SHAPES, "critical")},
        "decoy_floods": len([r for r in report["per_truth"] if r["shape"] == "flood"]),
        "decoy_floods_fired": len({f["decoy"] for f in report["false"] if f["decoy"]}),
        "false_incidents": len(false_after),
        "false_incidents_in_warmup": len(report["false"]) - len(false_after),
        "evaluated_brand_weeks": round(len(spec.brands) * weeks, 2),
        "false_per_brand_week": round(len(false_after) / (len(spec.brands) * weeks), 3),
        "false_by_kind": dict(Counter(f["kind"] for f in false_after)),
        "false_during": dict(Counter(f["during"] or ("a decoy flood" if f["decoy"] else "ordinary time")
                                     for f in false_after)),
        "duplicates": sum(r["duplicates"] for r in rows),
    }


def _scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [r["delay_min"] for r in rows if r["detected"] and r["delay_min"] is not None]
    return {
        "n": len(rows), "detected": sum(r["detected"] for r in rows),
        "recall": round(sum(r["detected"] for r in rows) / len(rows), 4) if rows else None,
        "median_delay_min": round(statistics.median(delays), 2) if delays else None,
        "worst_delay_min": round(max(delays), 2) if delays else None,
    }
