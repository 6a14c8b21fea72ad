"""The router and the post's stream: context labels, critical triggers, the incident route, case routes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from triage.errors import ConfigError
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema
from triage.text.normalise import normalise
from triage.types import IncidentRef, Post, PostContext, RoutingDecision, ThreadMessage, TriageContext

from .support import POLICIES, at, classification, policy_with_probe, prepare, write

NOW = at(2026, 9, 15, 12)  # a Tuesday noon in Israel


@pytest.fixture(scope="module")
def router(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))


def route(router: PolicyRouter, schema: LabelSchema, text: str, history: TriageContext | None = None, *,
          channel: str = "facebook", thread: list[ThreadMessage] | None = None, when: datetime = NOW,
          **labels: str) -> RoutingDecision:
    post = Post(text=text, channel=channel, thread=thread or [], created_at=when)
    language, entities = prepare(text)
    context = PostContext(post, normalise(text), language, entities, history=history)
    return router.route(context, classification(schema, **labels), when)


def incident(state: str = "growing", kind: str = "trigger", triggers: tuple[str, ...] = ("outage",)) -> IncidentRef:
    return IncidentRef(id="default-000007", state=state, kind=kind, triggers=list(triggers), posts=14,  # type: ignore[arg-type]
                       first_post_id="fb-1")


def test_the_policy_names_critical_triggers(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "אין אינטרנט בגבעתיים מהבוקר", intent="complaint")
    assert d.triggers == ["outage"]
    assert "critical trigger 'outage': keyword 'אין אינטרנט'" in d.reasons
    d = route(router, default_schema, "Got a fake SMS with a suspicious link, my lawyer will hear of it",
              intent="complaint")
    assert d.triggers == ["phishing", "lawyer"]
    assert route(router, default_schema, "תודה על השירות", intent="praise").triggers == []


def test_every_post_of_an_open_incident_goes_to_crisis_with_one_reason(
    router: PolicyRouter, default_schema: LabelSchema
) -> None:
    text = "אין אינטרנט בגבעתיים"
    alone = route(router, default_schema, text, intent="other", urgency="low")
    assert (alone.queue, alone.rule) == ("community", "chatter")
    d = route(router, default_schema, text, TriageContext(incident=incident()), intent="other", urgency="low")
    assert (d.queue, d.priority, d.rule) == ("crisis", "P2", "incidents")
    assert d.actions == ["escalate", "reply"] and d.around_the_clock
    about = [r for r in d.reasons if "incident" in r]
    assert about == ["open incident default-000007 (trigger, outage; 14 posts): every post of it goes to queue "
                     "'crisis' (rule 'chatter' would have sent it to 'community')"]
    assert not any(r.startswith("critical trigger") for r in d.reasons)  # the one reason says it all
    critical = route(router, default_schema, text, TriageContext(incident=incident()), intent="complaint",
                     urgency="critical")
    assert (critical.queue, critical.priority) == ("crisis", "P1")  # a stricter rule keeps its priority


@pytest.mark.parametrize(("ref", "routed"), [
    (incident(state="resolved"), False),
    (incident(kind="trigger", triggers=("lawyer",)), False),  # not in the policy's `when`
    (incident(kind="volume", triggers=()), True),
    (incident(kind="viral", triggers=()), True),
])
def test_only_open_incidents_the_policy_names_are_rerouted(
    router: PolicyRouter, default_schema: LabelSchema, ref: IncidentRef, routed: bool
) -> None:
    d = route(router, default_schema, "the app keeps crashing", TriageContext(incident=ref), intent="complaint")
    assert (d.rule == "incidents") is routed


def test_a_follow_up_raises_urgency_and_goes_to_its_case(router: PolicyRouter, default_schema: LabelSchema) -> None:
    history = TriageContext(is_follow_up=True, repeat_count=3, case_id="fb-200", linked_post_id="fb-200",
                            case_queue="billing", case_priority="P3", urgency_floor="high")
    d = route(router, default_schema, "נו??? עדיין מחכה", history, channel="whatsapp", intent="other",
              urgency="normal")
    assert (d.queue, d.priority, d.rule) == ("billing", "P2", "chatter")
    assert "reply" in d.actions and "none" not in d.actions
    assert d.reasons[0] == "context: urgency normal → high (contact 3 on the case)"
    assert "follow-up on case fb-200 (contact 3): queue 'billing' of the case, priority P2, answered" in d.reasons
    assert "urgency high on whatsapp: 60 min of queue 'billing' open hours, due Tue 2026-09-15 13:00" in d.reasons


def test_a_follow_up_stays_in_crisis(router: PolicyRouter, default_schema: LabelSchema) -> None:
    history = TriageContext(is_follow_up=True, repeat_count=2, case_id="t1", case_queue="care", case_priority="P3")
    d = route(router, default_schema, "still waiting, my lawyer is ready", history, intent="complaint",
              urgency="critical")
    assert (d.queue, d.priority) == ("crisis", "P1")


def test_a_me_too_reply_takes_its_parents_case(router: PolicyRouter, default_schema: LabelSchema) -> None:
    history = TriageContext(me_too=True, parent_post_id="fb-100", case_queue="technical", case_priority="P2",
                            case_labels={"intent": "complaint", "sentiment": "negative", "urgency": "high"},
                            case_triggers=["outage"])
    d = route(router, default_schema, "גם אצלי", history, intent="other", sentiment="neutral", urgency="low")
    assert (d.queue, d.priority) == ("technical", "P2") and d.triggers == ["outage"]
    assert d.reasons[0].startswith("context: intent other → complaint (the parent's)")
    assert "critical trigger 'outage' of the post it answers ('me too')" in d.reasons


def test_a_me_too_reply_in_a_request_thread_names_the_parents_triggers(
    router: PolicyRouter, default_schema: LabelSchema
) -> None:
    thread = [ThreadMessage(role="customer", text="אין אינטרנט בכל רמת גן כבר שעתיים")]
    d = route(router, default_schema, "גם אצלי", TriageContext(me_too=True), thread=thread, intent="other")
    assert d.triggers == ["outage"]


def test_without_history_nothing_changes(router: PolicyRouter, default_schema: LabelSchema) -> None:
    plain = route(router, default_schema, "charged twice", intent="complaint")
    empty = route(router, default_schema, "charged twice", TriageContext(), intent="complaint")
    assert plain == empty and not plain.reasons[0].startswith("context")


def test_policy_checks_the_stream_options(tmp_path: Path, default_schema: LabelSchema) -> None:
    extra = ("triggers:\n  outage: {}\n  phishing: {keywords_any: [phishing]}\n"
             "incidents: {route_to: pr, actions: [hide], templates: [nope]}\n"
             "follow_ups: {keep_queues: [nowhere]}\n")
    path = write(tmp_path / "acme.yaml", policy_with_probe("{intent: complaint}", extra))
    with pytest.raises(ConfigError) as err:
        load_policy(path, default_schema)
    text = str(err.value)
    assert "triggers.outage: a trigger needs conditions" in text
    assert "incidents.route_to: unknown queue 'pr'" in text
    assert "incidents.actions: posts of an incident are never hidden" in text
    assert "incidents.templates[0]: templates are named but the policy has no reply_library" in text
    assert "follow_ups.keep_queues[0]: unknown queue 'nowhere'" in text


def test_a_policy_without_stream_options_routes_follow_ups_to_the_case(tmp_path: Path,
                                                                       default_schema: LabelSchema) -> None:
    policy = load_policy(write(tmp_path / "acme.yaml", policy_with_probe("{intent: complaint}")), default_schema)
    history = TriageContext(is_follow_up=True, repeat_count=2, case_id="a", case_queue="mod", case_priority="P2")
    d = route(PolicyRouter(policy), default_schema, "still waiting", history, intent="question")
    assert (d.queue, d.priority, d.triggers) == ("mod", "P2", [])
    assert route(PolicyRouter(policy), default_schema, "x", TriageContext(incident=incident()),
                 intent="question").rule == "default"  # no incidents option: no incident route


def test_context_labels_feed_the_sla(router: PolicyRouter, default_schema: LabelSchema) -> None:
    history = TriageContext(is_follow_up=True, repeat_count=2, urgency_floor="normal", case_queue="care")
    d = route(router, default_schema, "any update?", history, intent="question", urgency="low")
    assert "urgency normal on facebook: 4 h of queue 'care' open hours, due Tue 2026-09-15 16:00" in d.reasons


def test_the_third_unanswered_contact_is_escalated(router: PolicyRouter, default_schema: LabelSchema) -> None:
    history = TriageContext(is_follow_up=True, repeat_count=3, case_id="fb-200", case_queue="billing",
                            case_priority="P3", urgency_floor="high", awaiting_brand=True)
    d = route(router, default_schema, "still waiting about the double charge", history, intent="complaint")
    assert d.actions == ["reply", "escalate"] and d.reasons[-1] != d.reasons[0]
    assert any(r.endswith("no brand reply since the customer's last post: escalated") for r in d.reasons)
    answered = route(router, default_schema, "still waiting about the double charge",
                     history.model_copy(update={"awaiting_brand": False}), intent="complaint")
    assert answered.actions == ["reply"]


def test_an_incident_reason_says_when_the_rule_agrees(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "אין אינטרנט", TriageContext(incident=incident()), intent="complaint",
              urgency="critical")
    assert "(rule 'crisis' sends it there too)" in d.reasons[0]
