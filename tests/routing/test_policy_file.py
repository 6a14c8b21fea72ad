"""Policy files: strict format, every mistake rejected at load with its line, and `triage policy check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage.errors import ConfigError
from triage.routing.policy import load_policy
from triage.schema import LabelSchema, load_schema
from triage_cli import _register, app

from .support import MINIMAL_POLICY, POLICIES, REPLIES, ROOT, write, write_library

_register()
runner = CliRunner()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def errors(tmp_path: Path, schema: LabelSchema, text: str, replies: Path | None = None) -> str:
    path = write(tmp_path / "acme.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_policy(path, schema, replies_root=replies)
    return str(err.value)


def test_minimal_policy_loads(tmp_path: Path, default_schema: LabelSchema) -> None:
    policy = load_policy(write(tmp_path / "acme.yaml", MINIMAL_POLICY), default_schema)
    assert policy.brand == "acme" and [r.spec.id for r in policy.rules] == ["probe"]


def test_unknown_label_is_reported_with_its_line(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_POLICY.replace("when: {intent: complaint}", "when: {intent: [praise, complant]}")
    msg = errors(tmp_path, default_schema, text)
    line = line_of(text, "complant")
    assert re.search(rf"acme\.yaml:{line}: rules\[0\]\.when\.intent\[1\]: unknown label 'complant' for head "
                     r"'intent' \(did you mean 'complaint'\? known: spam, churn_risk", msg), msg


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        ("then: {queue: mod,", "then: {queue: moderation,", "rules[0].then.queue", "unknown queue 'moderation'"),
        ("when: {intent: complaint}", "when: {intnt: complaint}", "rules[0].when.intnt",
         "unknown condition or head 'intnt'"),
        ("when: {intent: complaint}", "when: {entities_any: [passport]}", "rules[0].when.entities_any[0]",
         "unknown entity type 'passport'"),
        ("when: {intent: complaint}", "when: {channel: [facebok]}", "rules[0].when.channel[0]",
         "unknown channel 'facebok' (did you mean 'facebook'?"),
        ("when: {intent: complaint}", "when: {language: [iw]}", "rules[0].when.language[0]", "unknown language 'iw'"),
        ("when: {intent: complaint}", "when: {min_confidence: {intention: 0.5}}",
         "rules[0].when.min_confidence.intention", "unknown head 'intention'"),
        ("when: {intent: complaint}", "when: {min_probability: {intent: {churn: 0.3}}}",
         "rules[0].when.min_probability.intent.churn", "unknown label 'churn'"),
        ("when: {intent: complaint}", "when: {min_confidence: {intent: 1.5}}",
         "rules[0].when.min_confidence.intent", "not between 0 and 1"),
        ("when: {intent: complaint}", "when: {regex_any: ['(unclosed']}", "rules[0].when.regex_any[0]",
         "invalid regular expression"),
        ("when: {intent: complaint}", "when: {keywords_any: []}", "rules[0].when.keywords_any", "empty list"),
        ("actions: [reply]}\ndefault", "actions: [reply, none]}\ndefault", "rules[0].then.actions",
         "'none' cannot be combined"),
        ("actions: [reply]}\ndefault", "actions: [reply, archive]}\ndefault", "rules[0].then.actions[1]",
         "Input should be 'reply', 'escalate', 'hide', 'like' or 'none'"),
        ("priority: P2", "priority: P5", "rules[0].then.priority", "Input should be"),
        ('fri: "08:00-13:00"', 'fri: "8-13"', "calendar.weekly.fri", "not like \"08:00-17:00\""),
        ('fri: "08:00-13:00"', 'fri: "13:00-08:00"', "calendar.weekly.fri", "end before they start"),
        ("holidays: israel", "holidays: {country: XX}", "calendar.holidays", "no country 'XX'"),
        ("timezone: Asia/Jerusalem", "timezone: Asia/Jerusalm", "timezone", "unknown time zone"),
        ("schema: default", "schema: banking77", "schema", "written for schema 'banking77'"),
        ("format_version: 1", "format_version: 2", "format_version", "not supported"),
        ("queues:", "queus:", "queus", "unknown field"),
        ("  - {minutes: 60}\n", "", "sla", "no SLA row covers urgency=high on facebook"),
        ("  - {urgency: critical,", "  - {urgency: critcal,", "sla[0].urgency[0]", "unknown label 'critcal'"),
        ("- id: probe", "- id: Probe Rule", "rules[0].id", "String should match pattern"),
        ("languages: [he, en]}\n  mod", "languages: [he, xx]}\n  mod", "queues.care.languages[1]",
         "unknown language 'xx'"),
    ],
)
def test_mistakes_are_rejected_at_load(tmp_path: Path, default_schema: LabelSchema, old: str, new: str,
                                       where: str, words: str) -> None:
    assert old in MINIMAL_POLICY
    text = MINIMAL_POLICY.replace(old, new, 1)
    msg = errors(tmp_path, default_schema, text)
    match = re.search(rf"acme\.yaml:(\d+): {re.escape(where)}: (.*)", msg)
    assert match, msg
    assert words in match.group(2), msg
    # The reported line holds the problem (or, for a missing row, its table).
    assert int(match.group(1)) >= 1


def test_every_problem_is_listed_in_file_order(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = (MINIMAL_POLICY.replace("timezone: Asia/Jerusalem", "timezone: Mars/Olympus")
            .replace("then: {queue: mod,", "then: {queue: nowhere,")
            .replace("when: {intent: complaint}", "when: {intent: complant}"))
    msg = errors(tmp_path, default_schema, text)
    lines = [int(n) for n in re.findall(r"acme\.yaml:(\d+):", msg)]
    assert len(lines) == 3 and lines == sorted(lines)
    assert "(3 problems)" in msg


def test_missing_field_points_at_the_parent(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_POLICY.replace("default: {queue: care, priority: P3, actions: [reply]}\n", "")
    assert "acme.yaml:1: default: required field is missing" in errors(tmp_path, default_schema, text)


def test_duplicate_keys_and_rule_ids(tmp_path: Path, default_schema: LabelSchema) -> None:
    dup_key = MINIMAL_POLICY.replace("timezone: Asia/Jerusalem\n", "timezone: Asia/Jerusalem\ntimezone: UTC\n")
    assert "key 'timezone' appears twice (lines 4 and 5)" in errors(tmp_path, default_schema, dup_key)
    dup_rule = MINIMAL_POLICY.replace(
        "default: {", "  - id: probe\n    then: {queue: care, priority: P3, actions: [reply]}\ndefault: {")
    assert "rule id 'probe' is already used by rules[0]" in errors(tmp_path, default_schema, dup_rule)


def test_yaml_syntax_error_has_a_line(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_POLICY.replace("brand: acme", "brand: [acme")
    assert re.search(r"acme\.yaml:\d+: not valid YAML", errors(tmp_path, default_schema, text))


def test_a_rule_that_hides_only_protected_posts_is_rejected(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = MINIMAL_POLICY.replace("actions: [reply]}\ndefault", "actions: [hide]}\ndefault") + (
        "never_hide: {intent: [complaint, churn_risk]}\n")
    msg = errors(tmp_path, default_schema, text)
    assert "rules[0].then.actions: this rule hides only intent=['complaint'] posts, which never_hide protects" in msg
    default_hides = MINIMAL_POLICY.replace("default: {queue: care, priority: P3, actions: [reply]}",
                                           "default: {queue: care, priority: P3, actions: [hide]}")
    assert "the default route must not hide posts" in errors(tmp_path, default_schema, default_hides)


def test_unknown_template_and_library(tmp_path: Path, default_schema: LabelSchema) -> None:
    replies = tmp_path / "replies"
    write_library(replies)
    with_library = MINIMAL_POLICY.replace("timezone: Asia/Jerusalem\n",
                                          "timezone: Asia/Jerusalem\nreply_library: tiny\n")
    ok = with_library.replace("actions: [reply]}\ndefault", "actions: [reply], templates: [praise-he]}\ndefault")
    assert load_policy(write(tmp_path / "acme.yaml", ok), default_schema, replies_root=replies).library is not None
    text = with_library.replace("actions: [reply]}\ndefault", "actions: [reply], templates: [praise-hee]}\ndefault")
    msg = errors(tmp_path, default_schema, text, replies=replies)
    assert "rules[0].then.templates[0]: unknown template 'praise-hee' (did you mean 'praise-he'?" in msg
    missing = with_library.replace("reply_library: tiny", "reply_library: nowhere")
    assert "reply_library: unknown reply library 'nowhere'" in errors(tmp_path, default_schema, missing, replies)
    no_library = MINIMAL_POLICY.replace("actions: [reply]}\ndefault", "actions: [reply], templates: [x]}\ndefault")
    assert "templates are named but the policy has no reply_library" in errors(tmp_path, default_schema, no_library)


def test_library_queue_filters_must_name_policy_queues(tmp_path: Path, default_schema: LabelSchema) -> None:
    # The shipped default library filters some templates by the default policy's queues (billing, ...):
    # a policy without those queues cannot use it.
    text = MINIMAL_POLICY.replace("timezone: Asia/Jerusalem\n", "timezone: Asia/Jerusalem\nreply_library: default\n")
    library = tmp_path / "replies" / "default"
    library.mkdir(parents=True)
    (library / "templates.yaml").write_text(
        (REPLIES / "default" / "templates.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    msg = errors(tmp_path, default_schema, text, replies=tmp_path / "replies")
    assert re.search(r"templates\.yaml:\d+: templates\[\d+\]\.queues\[0\]: unknown queue 'billing'", msg), msg


def test_policy_for_another_schema(tmp_path: Path) -> None:
    banking = load_schema(ROOT / "data" / "schemas" / "banking77.yaml")
    with pytest.raises(ConfigError, match="written for schema 'default' but the classifier's schema is 'banking77'"):
        load_policy(POLICIES / "default.yaml", banking)


def test_cli_check_passes_with_a_summary() -> None:
    result = runner.invoke(app, ["policy", "check", str(POLICIES / "default.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout and "languages no queue covers (a person checks those posts): ru" in result.stdout
    assert "reply library 'default'" in result.stdout


def test_cli_check_fails_with_line_numbers(tmp_path: Path) -> None:
    text = MINIMAL_POLICY.replace("when: {intent: complaint}", "when: {intent: complant}")
    path = write(tmp_path / "acme.yaml", text)
    result = runner.invoke(app, ["policy", "check", str(path), "--schema", str(ROOT / "data/schemas/default.yaml")])
    assert result.exit_code == 2
    assert f"acme.yaml:{line_of(text, 'complant')}: rules[0].when.intent: unknown label 'complant'" in result.stderr


def test_cli_check_with_another_schema_rejects_the_default_policy() -> None:
    result = runner.invoke(app, ["policy", "check", str(POLICIES / "default.yaml"), "--schema",
                                 str(ROOT / "data" / "schemas" / "banking77.yaml")])
    assert result.exit_code == 2 and "banking77" in result.stderr
