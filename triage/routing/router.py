"""The router: a post, its language, entities and labels in; a ``RoutingDecision`` with reasons out.

Deterministic and explainable: the same inputs and ``now`` give the same decision, and every step that
shaped it (the rule that matched and why, the queue's language, the reply mode, the SLA row and the
closures the deadline skipped, why a person must look) is one short sentence in ``reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from triage.errors import InputError
from triage.routing.conditions import MatchContext
from triage.routing.policy import Policy, SlaRow, ThenSpec
from triage.types import (
    PRIVATE_CHANNELS,
    Action,
    Classification,
    Post,
    PostContext,
    ReplyMode,
    RoutingDecision,
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


def _when(dt: datetime) -> str:
    return dt.strftime("%a %Y-%m-%d %H:%M")


def _minutes(n: int) -> str:
    return f"{n} min" if n < 120 or n % 60 else f"{n // 60} h"


class PolicyRouter:
    """Routes posts for one brand with its checked ``Policy``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @property
    def brand(self) -> str:
        return self.policy.brand

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision:
        p = self.policy
        spec = p.spec
        post = context.post
        ctx = match_context(context, classification)
        reasons: list[str] = []

        # 1. First matching rule, else the default route.
        then: ThenSpec = spec.default
        rule_id = "default"
        for rule in p.rules:
            why = rule.when.match(ctx)
            if why is None or (rule.unless is not None and rule.unless.match(ctx) is not None):
                continue
            then, rule_id = rule.spec.then, rule.spec.id
            reasons.append(f"{', '.join(why)} matched rule '{rule_id}'" if why else f"matched rule '{rule_id}' "
                           "(no conditions)")
            break
        else:
            reasons.append("no rule matched: default route")

        # 2. The queue must speak the post's language.
        queue = then.queue
        lang = ctx.language
        uncovered_language = False
        if lang not in spec.queues[queue].languages:
            overflow = spec.language_overflow.get(lang)
            if overflow is not None:
                reasons.append(f"queue '{queue}' does not cover language '{lang}': sent to '{overflow}'")
                queue = overflow
            else:
                uncovered_language = True
                covering = p.covering_queues(lang)
                if covering:
                    reasons.append(f"queue '{queue}' does not cover language '{lang}' (only {', '.join(covering)} do)")
                else:
                    reasons.append(f"no queue covers language '{lang}'")

        # 3. Actions; what never_hide protects is never hidden.
        actions: list[Action] = list(dict.fromkeys(then.actions))
        if "hide" in actions and p.never_hide is not None:
            protected = p.never_hide.match(ctx)
            if protected is not None:
                actions = [a for a in actions if a != "hide"] or ["none"]
                reasons.append(f"hide dropped: {', '.join(protected) or 'this post'} is never hidden")

        # 4. Reply mode.
        # Without a reply action the mode is still reported (an agent may answer anyway), but the
        # reasons stay about what will happen.
        mode_reasons: list[str] = []
        reply_mode, private_due = self._reply_mode(post, ctx, then, rule_id, now, mode_reasons)
        if "reply" in actions:
            reasons += mode_reasons

        # 5. SLA deadline on the queue's calendar.
        row, urgency = self._sla_row(ctx)
        start = min(post.created_at, now) if post.created_at is not None else now
        calendar = p.calendars[queue]
        where = f"urgency {urgency}" if urgency else "SLA"
        if row.around_the_clock:
            deadline = calendar.add_clock_minutes(start, row.minutes)
            reasons.append(f"{where}: {_minutes(row.minutes)} around the clock, due {_when(deadline.due)}")
        else:
            deadline = calendar.add_open_minutes(start, row.minutes)
            hours = "around-the-clock" if calendar.around_the_clock else "open"
            reasons.append(f"{where} on {post.channel}: {_minutes(row.minutes)} of queue '{queue}' {hours} hours, "
                           f"due {_when(deadline.due)}")
            if deadline.skipped:
                reasons.append("clock paused: " + "; ".join(deadline.skipped))

        # 6. Does a person need to look?
        needs_human = False
        for head in p.uncertain_heads:
            pred = classification.heads.get(head)
            if pred is None or not pred.uncertain:
                continue
            needs_human = True
            if pred.confidence < pred.threshold:
                reasons.append(f"{head}={pred.label} uncertain (p={pred.confidence:.2f} < {pred.threshold:.2f}) "
                               "→ a person checks")
            else:
                reasons.append(f"{head}={pred.label} uncertain (top-2 margin {pred.margin:.2f} too small) "
                               "→ a person checks")
        for head, labels in spec.needs_human.labels.items():
            label = ctx.labels.get(head)
            if label in labels:
                needs_human = True
                reasons.append(f"{head}={label} → a person checks")
        if uncovered_language and spec.needs_human.uncovered_language:
            needs_human = True
            reasons.append(f"language '{lang}' is not covered → a person checks")
        if then.needs_human:
            needs_human = True
            reasons.append(f"rule '{rule_id}' always needs a person")

        return RoutingDecision(
            brand=spec.brand,
            queue=queue,
            priority=then.priority,
            rule=rule_id,
            first_response_due=deadline.due,
            sla_minutes=row.minutes,
            around_the_clock=row.around_the_clock or calendar.around_the_clock,
            reply_mode=reply_mode,
            private_reply_due=private_due,
            actions=actions,
            needs_human=needs_human,
            reasons=reasons,
            templates=list(then.templates or []),
        )

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

    def _sla_row(self, ctx: MatchContext) -> tuple[SlaRow, str | None]:
        spec = self.policy.spec
        urgency = ctx.labels.get(spec.urgency_head) if spec.urgency_head else None
        for row in spec.sla:
            if row.urgency is not None and urgency not in row.urgency:
                continue
            if row.channels is not None and ctx.channel not in row.channels:
                continue
            return row, urgency
        # load_policy checks that every urgency x channel has a row; this is unreachable for loaded policies.
        raise AssertionError(f"no SLA row for urgency={urgency} channel={ctx.channel}")


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
