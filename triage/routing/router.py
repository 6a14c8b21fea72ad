"""The router: a post, its language, entities and labels in; a ``RoutingDecision`` with reasons out.

Deterministic and explainable: the same inputs and ``now`` give the same decision, and every step that
shaped it (the rule that matched and why, the queue's language, the reply mode, the SLA row and the
closures the deadline skipped, why a person must look) is one short sentence in ``reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triage.errors import InputError
from triage.routing.conditions import MatchContext
from triage.routing.policy import CompiledRule, Policy, SlaRow, ThenSpec
from triage.routing.stream import case_route, context_match, find_triggers, incident_route
from triage.types import (
    PRIVATE_CHANNELS,
    Classification,
    Post,
    PostContext,
    ReplyMode,
    RoutingDecision,
    TriageContext,
)


def match_context(ctx: PostContext, classification: Classification) -> MatchContext:
    """What rule conditions look at. Keywords match the normalised, case-folded text."""
    heads = classification.heads
    post = ctx.post
    return MatchContext(
        text=ctx.normalised.text.casefold(),
        language=ctx.language.language,
        channel=post.channel,
        is_public=post.is_public,
        entity_types=frozenset(e.type for e in ctx.entities.entities),
        labels={h: p.label for h, p in heads.items()},
        probabilities={h: p.probabilities for h, p in heads.items()},
        confidences={h: p.confidence for h, p in heads.items()},
        fields=dict(post.metadata),
    )


@dataclass(frozen=True)
class _Sla:
    due: datetime
    minutes: int
    around_the_clock: bool
    reasons: list[str]


def _when(dt: datetime) -> str:
    return dt.strftime("%a %Y-%m-%d %H:%M")


def _minutes(n: int) -> str:
    return f"{n} min" if n < 120 or n % 60 else f"{n // 60} h"


@dataclass
class _Route:
    """The route being decided: what the matched rule (or a guard) says, and why."""

    then: ThenSpec
    rule_id: str
    reasons: list[str] = field(default_factory=list)
    needs_human: list[str] = field(default_factory=list)
    matched: CompiledRule | None = None


class PolicyRouter:
    """Routes posts for one brand with its checked ``Policy``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @property
    def brand(self) -> str:
        return self.policy.brand

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision:
        p = self.policy
        post = context.post
        # 0. The post's stream: the decision's labels (a 'me too' takes its parent's, a repeated contact
        # raises urgency) and the critical triggers it names.
        ctx, context_reasons = context_match(match_context(context, classification), context.history,
                                             p.spec.urgency_head)
        triggers, trigger_reasons = find_triggers(p, ctx, context)
        # 1. First matching rule, else the default route; 2. a hide must pass its guards.
        r = self._match_rule(ctx)
        if "hide" in r.then.actions:
            self._guard_hide(r, ctx, classification, ctx.text)
        # 2b. An open incident, else the post's case, may take it elsewhere (one reason each).
        self._stream_route(r, context.history, ctx)
        if r.rule_id != "incidents":
            r.reasons[1:1] = trigger_reasons
        reasons, then = [*context_reasons, *r.reasons], r.then
        # 3. The queue must speak the post's language.
        queue, uncovered_language = self._queue_for_language(then.queue, ctx.language, reasons)
        # 4. Reply mode. Without a reply action the mode is still reported (an agent may answer anyway), but
        # the reasons stay about what will happen.
        mode_reasons: list[str] = []
        reply_mode, private_due = self._reply_mode(post, ctx, then, r.rule_id, now, mode_reasons)
        if "reply" in then.actions:
            reasons += mode_reasons
        # 5. SLA deadline on the queue's calendar.
        start = min(post.created_at, now) if post.created_at is not None else now
        sla = self._sla(ctx, then, r.rule_id, queue, post.channel, start, reasons)
        # 6. Does a person need to look?
        needs_human = self._needs_human(classification, ctx, r, uncovered_language, reasons)
        return RoutingDecision(
            brand=p.spec.brand,
            queue=queue,
            priority=then.priority,
            rule=r.rule_id,
            first_response_due=sla.due,
            sla_minutes=sla.minutes,
            around_the_clock=sla.around_the_clock,
            reply_mode=reply_mode,
            private_reply_due=private_due,
            actions=list(dict.fromkeys(then.actions)),
            needs_human=needs_human,
            reasons=reasons,
            templates=list(then.templates or []),
            triggers=triggers,
        )

    def _stream_route(self, r: _Route, history: TriageContext | None, ctx: MatchContext) -> None:
        """The policy's incident route for a post of an open incident, else its case's route (follow-ups)."""
        incident = incident_route(self.policy, history, r.then, r.rule_id)
        if incident is not None:
            r.then, r.rule_id, r.reasons = incident[0], "incidents", [incident[1]]
            return
        urgency_head = self.policy.spec.urgency_head
        case = case_route(self.policy, history, r.then, ctx.labels.get(urgency_head) if urgency_head else None)
        if case is not None:
            r.then = case[0]
            r.reasons.append(case[1])

    def _match_rule(self, ctx: MatchContext) -> _Route:
        for rule in self.policy.rules:
            why = rule.when.match(ctx)
            if why is None or (rule.unless is not None and rule.unless.match(ctx) is not None):
                continue
            rule_id = rule.spec.id
            if why:
                reason = f"{', '.join(why)} matched rule '{rule_id}'"
            else:
                reason = f"matched rule '{rule_id}' (no conditions)"
            return _Route(rule.spec.then, rule_id, [reason], matched=rule)
        return _Route(self.policy.spec.default, "default", ["no rule matched: default route"])

    def _guard_hide(self, r: _Route, ctx: MatchContext, classification: Classification, text: str) -> None:
        """Hide only spam and abuse the model is sure of, with no complaint words and no protest in it.

        A post that fails any check is not hidden: it takes the default route (or, for a protest, the
        policy's protest route) and a person checks it, with the reason.
        """
        p = self.policy
        guard = p.spec.hide_guard
        protest = p.hide_guard.protest_signal(text, folded=True)
        if protest is not None:
            r.then = guard.protest or p.spec.default
            r.rule_id = "hide_guard.protest" if guard.protest is not None else "default"
            r.needs_human.append(f"hide withheld: {protest} — a post against the brand goes to people, never "
                                 f"hidden → queue '{r.then.queue}'")
            return
        why = self._hide_blocker(r, ctx, classification, text)
        if why is not None:
            r.then, r.rule_id = p.spec.default, "default"
            r.needs_human.append(f"hide withheld: {why} → default route, a person checks")

    def _hide_blocker(self, r: _Route, ctx: MatchContext, classification: Classification, text: str) -> str | None:
        p = self.policy
        if p.never_hide is not None:
            protected = p.never_hide.match(ctx)
            if protected is not None:
                return f"{', '.join(protected) or 'this post'} is never hidden"
        hit = p.hide_guard.complaint_signal(text, folded=True)
        if hit is not None:
            return f"the post has the {hit} (a complaint may hide behind it)"
        heads = list(p.spec.hide_guard.confident_heads)
        if r.matched is not None:
            heads += [h for h in r.matched.when.heads if h not in heads]
        for head in heads:
            pred = classification.heads.get(head)
            if pred is not None and pred.uncertain:
                return f"{head}={pred.label} is uncertain (p={pred.confidence:.2f}, threshold {pred.threshold:.2f})"
        return None

    def _queue_for_language(self, queue: str, lang: str, reasons: list[str]) -> tuple[str, bool]:
        p = self.policy
        if lang in p.spec.queues[queue].languages:
            return queue, False
        overflow = p.spec.language_overflow.get(lang)
        if overflow is not None:
            reasons.append(f"queue '{queue}' does not cover language '{lang}': sent to '{overflow}'")
            return overflow, False
        covering = p.covering_queues(lang)
        if covering:
            reasons.append(f"queue '{queue}' does not cover language '{lang}' (only {', '.join(covering)} do)")
        else:
            reasons.append(f"no queue covers language '{lang}'")
        return queue, True

    def _needs_human(self, classification: Classification, ctx: MatchContext, r: _Route, uncovered_language: bool,
                     reasons: list[str]) -> bool:
        p = self.policy
        spec = p.spec
        before = len(reasons)
        reasons += r.needs_human
        for head in p.uncertain_heads:
            pred = classification.heads.get(head)
            if pred is None or not pred.uncertain:
                continue
            if pred.confidence < pred.threshold:
                reasons.append(f"{head}={pred.label} uncertain (p={pred.confidence:.2f} < {pred.threshold:.2f}) "
                               "→ a person checks")
            else:
                reasons.append(f"{head}={pred.label} uncertain (top-2 margin {pred.margin:.2f} too small) "
                               "→ a person checks")
        for head, labels in spec.needs_human.labels.items():
            label = ctx.labels.get(head)
            if label in labels:
                reasons.append(f"{head}={label} → a person checks")
        if uncovered_language and spec.needs_human.uncovered_language:
            reasons.append(f"language '{ctx.language}' is not covered → a person checks")
        if r.then.needs_human:
            reasons.append(f"rule '{r.rule_id}' always needs a person")
        return len(reasons) > before

    # -- SLA ---------------------------------------------------------------------------------------------

    def _sla(self, ctx: MatchContext, then: ThenSpec, rule_id: str, queue: str, channel: str, start: datetime,
             reasons: list[str]) -> _Sla:
        """The first-response deadline: the rule's own SLA, else the stricter of urgency and priority."""
        spec = self.policy.spec
        urgency = ctx.labels.get(spec.urgency_head) if spec.urgency_head else None
        if then.sla is not None or then.sla_minutes is not None:
            row = self._sla_row(then.sla if then.sla is not None else urgency, channel)
            minutes = then.sla_minutes if then.sla_minutes is not None else row.minutes
            clock = then.sla_around_the_clock if then.sla_minutes is not None else row.around_the_clock
            what = f"rule '{rule_id}' sets the SLA" + (f" (as urgency {then.sla})" if then.sla else "")
            return self._deadline(what, minutes, bool(clock), queue, channel, start, reasons)
        row = self._sla_row(urgency, channel)
        where = f"urgency {urgency}" if urgency else "SLA"
        by_urgency = self._deadline(where, row.minutes, row.around_the_clock, queue, channel, start, [])
        label = spec.priority_sla.get(then.priority)
        if label is not None and label != urgency:
            prow = self._sla_row(label, channel)
            by_priority = self._deadline(f"priority {then.priority} (SLA of urgency {label})", prow.minutes,
                                         prow.around_the_clock, queue, channel, start, [])
            if by_priority.due < by_urgency.due:
                reasons.append(f"priority {then.priority} is stricter than urgency {urgency}: its SLA applies")
                reasons += by_priority.reasons
                return by_priority
        reasons += by_urgency.reasons
        return by_urgency

    def _deadline(self, what: str, minutes: int, clock: bool, queue: str, channel: str, start: datetime,
                  reasons: list[str]) -> _Sla:
        calendar = self.policy.calendars[queue]
        out: list[str] = []
        if clock:
            deadline = calendar.add_clock_minutes(start, minutes)
            out.append(f"{what}: {_minutes(minutes)} around the clock, due {_when(deadline.due)}")
        else:
            deadline = calendar.add_open_minutes(start, minutes)
            hours = "around-the-clock" if calendar.around_the_clock else "open"
            out.append(f"{what} on {channel}: {_minutes(minutes)} of queue '{queue}' {hours} hours, "
                       f"due {_when(deadline.due)}")
            if deadline.skipped:
                out.append("clock paused: " + "; ".join(deadline.skipped))
        reasons += out
        return _Sla(deadline.due, minutes, clock or calendar.around_the_clock, out)

    def _reply_mode(
        self, post: Post, ctx: MatchContext, then: ThenSpec, rule_id: str, now: datetime, reasons: list[str]
    ) -> tuple[ReplyMode, datetime | None]:
        spec = self.policy.spec
        mode: ReplyMode = "public"
        if post.channel in PRIVATE_CHANNELS:
            reasons.append(f"{post.channel} is a private channel → private reply")
            return "private", None
        for pw, condition in self.policy.private_when:
            why = condition.match(ctx)
            if why is not None:
                reasons.append(f"{', '.join(why)} → private reply ({pw.reason})")
                mode = "private"
                break
        if mode == "public" and then.reply_mode == "private":
            reasons.append(f"rule '{rule_id}' asks for a private reply")
            mode = "private"
        elif mode == "private" and then.reply_mode == "public":
            reasons.append(f"rule '{rule_id}' asks for a public reply, but the reply stays private")
        if mode == "public":
            reasons.append(f"public reply on {post.channel}")
            return mode, None
        window = spec.private_reply_window_hours.get(post.channel)
        if window is None:
            reasons.append(f"{post.channel} has no private-reply window in the policy: ask the author to send a "
                           "private message")
            return mode, None
        base = post.created_at or now
        due = (base + timedelta(hours=window)).astimezone(self.policy.calendars[then.queue].tz)
        reasons.append(f"{post.channel} allows one private reply to a public comment within {window:g} h: "
                       f"until {_when(due)}")
        return mode, due

    def _sla_row(self, urgency: str | None, channel: str) -> SlaRow:
        for row in self.policy.spec.sla:
            if row.urgency is not None and urgency not in row.urgency:
                continue
            if row.channels is not None and channel not in row.channels:
                continue
            return row
        # load_policy checks that every urgency x channel has a row; this is unreachable for loaded policies.
        raise AssertionError(f"no SLA row for urgency={urgency} channel={channel}")


class BrandRouter:
    """Routes each post with its brand's policy (``post.brand``; the default brand when unset)."""

    def __init__(self, routers: Mapping[str, PolicyRouter], default_brand: str | None) -> None:
        if default_brand is not None and default_brand not in routers:
            raise ValueError(f"default brand {default_brand!r} has no router")
        self.routers = dict(routers)
        self.default_brand = default_brand

    @property
    def brands(self) -> tuple[str, ...]:
        return tuple(sorted(self.routers))

    def for_brand(self, brand: str | None) -> PolicyRouter:
        name = brand or self.default_brand
        if name is None:
            raise InputError(
                f"the post names no brand and there is no default one: set its brand "
                f"({', '.join(sorted(self.routers))})",
                code="unknown_brand",
                field="brand",
            )
        router = self.routers.get(name)
        if router is None:
            raise InputError(
                f"unknown brand {name!r}: no policy data/policies/{name}.yaml for this model "
                f"(brands: {', '.join(sorted(self.routers))})",
                code="unknown_brand",
                field="brand",
            )
        return router

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision:
        return self.for_brand(context.post.brand).route(context, classification, now)
