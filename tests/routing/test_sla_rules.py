"""A rule's priority and its own SLA settings decide the first-response deadline.

The incident: a rule sent a post as P1, but the SLA table only looked at the post's urgency (normal), so
the post got 240 open minutes. Now ``priority_sla`` gives each priority the SLA of an urgency label (the
stricter of the two applies), and a rule can name the SLA row (``sla:``) or the minutes (``sla_minutes:``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from triage.errors import ConfigError
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema

from .support import MINIMAL_POLICY, POLICIES, at, route, write

TUESDAY = at(2026, 9, 15, 12)
SLA = """\
sla:
  - {urgency: critical, minutes: 15, around_the_clock: true}
  - {urgency: high, minutes: 30}
  - {minutes: 240}
"""


def policy(tmp_path: Path, schema: LabelSchema, then: str, extra: str = "") -> PolicyRouter:
    text = MINIMAL_POLICY.replace(
        "sla:\n  - {urgency: critical, minutes: 15, around_the_clock: true}\n  - {minutes: 60}\n", SLA
    ).replace("then: {queue: mod, priority: P2, actions: [reply]}", f"then: {then}")
    return PolicyRouter(load_policy(write(tmp_path / "acme.yaml", text + extra), schema))


def test_a_p1_rule_gets_the_sla_of_its_priority(tmp_path: Path, default_schema: LabelSchema) -> None:
    r = policy(tmp_path, default_schema, "{queue: care, priority: P1, actions: [reply]}",
               "priority_sla: {P1: critical, P2: high}\n")
    d = route(r, default_schema, "bad", intent="complaint", urgency="normal")
    assert (d.priority, d.sla_minutes, d.around_the_clock) == ("P1", 15, True)
    assert d.first_response_due == TUESDAY + timedelta(minutes=15)
    assert "priority P1 is stricter than urgency normal: its SLA applies" in d.reasons
    assert "priority P1 (SLA of urgency critical): 15 min around the clock, due Tue 2026-09-15 12:15" in d.reasons


def test_priority_never_loosens_the_urgency_sla(tmp_path: Path, default_schema: LabelSchema) -> None:
    r = policy(tmp_path, default_schema, "{queue: care, priority: P2, actions: [reply]}",
               "priority_sla: {P1: critical, P2: high}\n")
    d = route(r, default_schema, "glass in my food", intent="complaint", urgency="critical")
    assert (d.sla_minutes, d.around_the_clock) == (15, True)
    assert not any("stricter" in reason for reason in d.reasons)


def test_without_priority_sla_only_urgency_counts(tmp_path: Path, default_schema: LabelSchema) -> None:
    r = policy(tmp_path, default_schema, "{queue: care, priority: P1, actions: [reply]}")
    assert route(r, default_schema, "bad", intent="complaint").sla_minutes == 240


def test_a_rule_names_the_sla_row(tmp_path: Path, default_schema: LabelSchema) -> None:
    r = policy(tmp_path, default_schema, "{queue: care, priority: P3, actions: [reply], sla: critical}")
    d = route(r, default_schema, "bad", intent="complaint", urgency="low")
    assert (d.sla_minutes, d.around_the_clock) == (15, True)
    assert any(x.startswith("rule 'probe' sets the SLA (as urgency critical): 15 min around the clock")
               for x in d.reasons)


def test_a_rule_sets_minutes_and_wins_over_its_priority(tmp_path: Path, default_schema: LabelSchema) -> None:
    r = policy(tmp_path, default_schema, "{queue: care, priority: P1, actions: [reply], sla_minutes: 600}",
               "priority_sla: {P1: critical}\n")
    d = route(r, default_schema, "bad", intent="complaint")
    assert (d.sla_minutes, d.around_the_clock) == (600, False)      # open minutes of the queue
    assert d.first_response_due == at(2026, 9, 16, 13)              # 5 h today (12-17) + 5 h from 08:00
    clock = policy(tmp_path, default_schema, "{queue: care, priority: P1, actions: [reply], sla_minutes: 5, "
                   "sla_around_the_clock: true}")
    d = route(clock, default_schema, "bad", intent="complaint", now=at(2026, 9, 19, 2))   # Shabbat night
    assert (d.sla_minutes, d.around_the_clock) == (5, True)
    assert d.first_response_due == at(2026, 9, 19, 2, 5)


def test_shipped_default_policy_p2_rules_get_the_high_sla(default_schema: LabelSchema) -> None:
    router = PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))
    d = route(router, default_schema, "Charged twice this month. Again.", intent="complaint", urgency="normal")
    assert (d.rule, d.priority, d.sla_minutes) == ("billing-complaints", "P2", 30)   # not normal's 240
    ordinary = route(router, default_schema, "the delivery was late", intent="complaint", urgency="normal")
    assert (ordinary.priority, ordinary.sla_minutes) == ("P3", 240)


@pytest.mark.parametrize(
    ("then", "extra", "where", "words"),
    [
        ("{queue: care, priority: P1, actions: [reply], sla: critcal}", "", "rules[0].then.sla",
         "unknown label 'critcal'"),
        ("{queue: care, priority: P1, actions: [reply], sla_around_the_clock: true}", "",
         "rules[0].then.sla_around_the_clock", "only applies together with sla_minutes"),
        ("{queue: care, priority: P1, actions: [reply], sla_minutes: 9999999}", "", "rules[0].then.sla_minutes",
         "less than or equal to 525600"),
        ("{queue: care, priority: P1, actions: [reply]}", "priority_sla: {P1: urgent}\n", "priority_sla.P1",
         "unknown label 'urgent'"),
        ("{queue: care, priority: P1, actions: [reply]}", "priority_sla: {P9: high}\n", "priority_sla.P9",
         "Input should be"),
    ],
)
def test_sla_settings_are_checked_at_load(tmp_path: Path, default_schema: LabelSchema, then: str, extra: str,
                                          where: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        policy(tmp_path, default_schema, then, extra)
    assert f": {where}: " in str(err.value) and words in str(err.value), str(err.value)
