"""What the post's stream changes in its route: context labels, critical triggers, incidents, cases.

The router reads ``PostContext.history`` (a ``TriageContext``: filled by the engine from the post store or
the request's thread, and by the crisis detector's pass):

- **labels** — a 'me too' reply takes its parent's labels, and a repeated contact raises the urgency to
  its floor (``triage.context.context_labels``), before any rule is matched: rules and the SLA see them;
- **triggers** — the policy's ``triggers:`` name the critical signals in a post (outage, phishing, lawyer,
  media...), a 'me too' reply adds its parent's; the decision lists them for the crisis detector;
- **incidents** — with the policy's ``incidents:`` option, every post of an open incident that matches
  ``when`` goes to ``route_to`` with ONE reason naming the incident (instead of the rule's);
- **cases** — a follow-up (and a 'me too' reply to a stored post) goes to the case's queue, at least at the
  case's priority and the priority ``priority_sla`` gives its urgency, and is answered (``follow_ups:``).
"""

from __future__ import annotations

from dataclasses import replace

from triage.context.block import context_labels, thread_parent
from triage.routing.conditions import MatchContext
from triage.routing.policy import Policy, ThenSpec
from triage.text.normalise import normalise
from triage.types import PRIORITIES, PostContext, Priority, TriageContext


def stricter(a: Priority, b: str | None) -> Priority:
    """The more urgent of two priorities (``b`` may be None or unknown: ``a``)."""
    if b is None or b not in PRIORITIES:
        return a
    return a if PRIORITIES.index(a) <= PRIORITIES.index(b) else b  # type: ignore[return-value]


def context_match(ctx: MatchContext, history: TriageContext | None,
                  urgency_head: str | None) -> tuple[MatchContext, list[str]]:
    """The match context with the decision's labels (parent's, urgency floor) and a reason when they changed."""
    labels, changes = context_labels(ctx.labels, history, urgency_head)
    if not changes:
        return ctx, []
    return replace(ctx, labels=labels), [f"context: {'; '.join(changes)}"]


def find_triggers(policy: Policy, ctx: MatchContext, context: PostContext) -> tuple[list[str], list[str]]:
    """The trigger names of the policy's ``triggers:`` that the post matches (a 'me too' adds its parent's)."""
    names: list[str] = []
    reasons: list[str] = []
    for name, condition in policy.triggers:
        why = condition.match(ctx)
        if why is not None:
            names.append(name)
            reasons.append(f"critical trigger '{name}': {', '.join(why) or 'matched'}")
    history = context.history
    if history is None or not history.me_too:
        return names, reasons
    inherited = list(history.case_triggers)
    parent = thread_parent(context.post) if history.parent_post_id is None else None
    if parent is not None:  # the parent came with the request only: name its triggers from its text
        parent_ctx = replace(ctx, text=normalise(parent.text).text.casefold())
        inherited += [name for name, condition in policy.triggers if condition.match(parent_ctx) is not None]
    for name in dict.fromkeys(inherited):
        if name not in names:
            names.append(name)
            reasons.append(f"critical trigger '{name}' of the post it answers ('me too')")
    return names, reasons


def incident_route(policy: Policy, history: TriageContext | None, then: ThenSpec,
                   rule_id: str) -> tuple[ThenSpec, str] | None:
    """The policy's incident route for a post of an open incident matching ``incidents.when``, with its reason."""
    spec = policy.spec.incidents
    incident = history.incident if history is not None else None
    if spec is None or incident is None or incident.state == "resolved":
        return None
    if spec.when and not set(spec.when) & {incident.kind, *incident.triggers}:
        return None
    route = then.model_copy(update={
        "queue": spec.route_to, "priority": stricter(spec.priority, then.priority), "actions": list(spec.actions),
        "templates": list(spec.templates) if spec.templates is not None else then.templates,
        "needs_human": spec.needs_human or then.needs_human, "reply_mode": None,
        "sla": None, "sla_minutes": None, "sla_around_the_clock": None,
    })
    what = ", ".join([incident.kind, *incident.triggers])
    rule = (f"rule '{rule_id}' sends it there too" if then.queue == spec.route_to
            else f"rule '{rule_id}' would have sent it to '{then.queue}'")
    reason = (f"open incident {incident.id} ({what}; {incident.posts} posts): every post of it goes to queue "
              f"'{spec.route_to}' ({rule})")
    return route, reason


def _urgency_priority(policy: Policy, urgency: str | None) -> str | None:
    """The most urgent priority that ``priority_sla`` maps to ``urgency`` (P2 for high in the default brand)."""
    found = [p for p, label in policy.spec.priority_sla.items() if label == urgency]
    return min(found, key=PRIORITIES.index) if found else None


def case_route(policy: Policy, history: TriageContext | None, then: ThenSpec,
               urgency: str | None) -> tuple[ThenSpec, str] | None:
    """A follow-up (or a 'me too' to a stored post) goes to its case's queue and priority and is answered."""
    spec = policy.spec.follow_ups
    if history is None or not (history.is_follow_up or (history.me_too and history.parent_post_id)):
        return None
    queue, priority = then.queue, then.priority
    case_queue = history.case_queue
    if spec.same_queue and case_queue in policy.spec.queues and queue not in spec.keep_queues:
        queue = case_queue
    if spec.raise_priority:
        priority = stricter(stricter(priority, history.case_priority), _urgency_priority(policy, urgency))
    actions = [a for a in then.actions if a not in ("hide", "none")]
    if not {"reply", "escalate"} & set(actions):
        actions = ["reply", *actions]
    unanswered = (history.is_follow_up and history.awaiting_brand and spec.escalate_after > 0
                  and history.repeat_count >= spec.escalate_after)
    if unanswered and "escalate" not in actions:
        actions.append("escalate")
    if (queue, priority, actions) == (then.queue, then.priority, then.actions):
        return None
    route = then.model_copy(update={"queue": queue, "priority": priority, "actions": actions})
    if history.is_follow_up:
        what = f"follow-up on case {history.case_id or history.linked_post_id or '(stated)'} (contact " \
               f"{history.repeat_count})"
    else:
        what = f"'me too' reply to post {history.parent_post_id}"
    where = f"queue '{queue}' of the case" if queue == case_queue else f"stays in queue '{queue}'"
    escalated = "; no brand reply since the customer's last post: escalated" if unanswered else ""
    return route, f"{what}: {where}, priority {priority}, answered{escalated}"
