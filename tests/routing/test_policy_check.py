"""`triage policy check` judges a file in the folder it will be deployed to, and warns about routes that
will disappoint: an around-the-clock urgency sent to a day desk, a language no desk reads.

The incidents: `acme.yaml` with `brand: default` passed the check, then stopped every brand from loading;
a critical Russian post was sent by language overflow to a day-only desk without a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage.routing.check import check_policy_file
from triage.schema import LabelSchema
from triage_cli import _register, app

from .support import MINIMAL_POLICY, POLICIES, write

_register()
runner = CliRunner()


def check(path: Path, folder: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "check", str(path), "--policies", str(folder), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_a_file_whose_brand_is_not_its_name_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    path = write(folder / "acme.yaml", MINIMAL_POLICY.replace("brand: acme", "brand: default"))
    code, out, err = check(path, folder)
    assert code == 2 and "OK" not in out
    assert re.search(r"acme\.yaml:2: brand: brand 'default' must be named like its file \('acme'\)", err), err
    assert "\nTraceback" not in err


def test_a_draft_outside_the_folder_is_checked_against_the_shipped_brands(tmp_path: Path) -> None:
    path = write(tmp_path / "default.yaml", MINIMAL_POLICY.replace("brand: acme", "brand: northwind"))
    code, _, err = check(path, POLICIES)
    assert code == 2
    assert "brand 'northwind' must be named like its file ('default')" in err
    assert "brand 'northwind' is also declared by" in err and "northwind.yaml" in err


def test_duplicate_and_broken_neighbours_stop_the_check(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    path = write(folder / "acme.yaml", MINIMAL_POLICY)
    write(folder / "zeta.yaml", MINIMAL_POLICY)                         # says brand: acme too
    code, _, err = check(path, folder)
    assert code == 2
    assert "zeta.yaml:2: brand: brand 'acme' must be named like its file ('zeta')" in err
    assert "acme.yaml:2: brand: brand 'acme' is also declared by" in err
    write(folder / "zeta.yaml", MINIMAL_POLICY.replace("brand: acme", "brand: zeta").replace("intent: complaint",
                                                                                         "intent: complant"))
    code, _, err = check(path, folder)
    assert code == 2 and "this policy, loaded beside acme.yaml, is broken" in err and "complant" in err


def test_a_yml_file_is_never_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    path = write(folder / "acme.yml", MINIMAL_POLICY)
    code, _, err = check(path, folder)
    assert code == 2 and "the engine loads only *.yaml files; rename it to acme.yaml" in err


def test_policies_for_another_schema_are_not_neighbours(tmp_path: Path, default_schema: LabelSchema) -> None:
    folder = tmp_path / "policies"
    path = write(folder / "acme.yaml", MINIMAL_POLICY)
    write(folder / "bank.yaml", MINIMAL_POLICY.replace("brand: acme", "brand: bank").replace("schema: default",
                                                                                         "schema: banking77"))
    report = check_policy_file(path, default_schema, policies_dir=folder)
    assert report.ok and report.neighbours == []


def test_the_shipped_policies_pass_beside_each_other() -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        code, out, err = check(path, POLICIES)
        assert code == 0, err
        assert "checked beside" in out


OVERFLOW_POLICY = MINIMAL_POLICY.replace(
    "  mod: {name: Moderation, languages: [he, en, other], hours: {around_the_clock: true}}\n",
    "  mod: {name: Moderation, languages: [he, en, other], hours: {around_the_clock: true}}\n"
    "  care_ru: {name: Russian desk, languages: [ru]}\n"
    "  crisis: {name: PR, languages: [he, en], hours: {around_the_clock: true}}\n"
    "language_overflow: {ru: care_ru}\n",
).replace("rules:\n", "rules:\n  - id: crisis\n    when: {urgency: critical}\n"
          "    then: {queue: crisis, priority: P1, actions: [escalate]}\n")


def test_critical_posts_overflowing_to_a_day_desk_are_warned_about(tmp_path: Path,
                                                                   default_schema: LabelSchema) -> None:
    folder = tmp_path / "policies"
    path = write(folder / "acme.yaml", OVERFLOW_POLICY)
    report = check_policy_file(path, default_schema, policies_dir=folder)
    assert report.ok
    line = next(i for i, row in enumerate(OVERFLOW_POLICY.splitlines(), 1) if "then: {queue: crisis" in row)
    assert (f"{path}:{line}: rules[0].then.queue: urgency critical posts in 'ru' (language_overflow) land on "
            "queue 'care_ru', which is not open around the clock") in "\n".join(report.warnings)
    # The rule takes every critical post, so later rules and the default route are not warned about.
    assert not any("rules[1]" in w or "default.queue" in w for w in report.warnings), report.warnings
    code, out, err = check(path, folder)
    assert code == 0 and "warning: " in err and "warning(s), see above" in out
    code, _, err = check(path, folder, "--strict")
    assert code == 2 and "--strict" in err


def test_an_around_the_clock_desk_for_the_overflow_silences_the_warning(tmp_path: Path,
                                                                        default_schema: LabelSchema) -> None:
    text = OVERFLOW_POLICY.replace("care_ru: {name: Russian desk, languages: [ru]}",
                                   "care_ru: {name: Russian desk, languages: [ru], hours: {around_the_clock: true}}")
    report = check_policy_file(write(tmp_path / "acme.yaml", text), default_schema, policies_dir=tmp_path)
    assert not any("around the clock" in w for w in report.warnings), report.warnings


def test_critical_posts_without_a_crisis_rule_land_on_day_desks(tmp_path: Path, default_schema: LabelSchema) -> None:
    report = check_policy_file(write(tmp_path / "acme.yaml", MINIMAL_POLICY), default_schema, policies_dir=tmp_path)
    joined = "\n".join(report.warnings)
    assert "default.queue: urgency critical posts land on queue 'care', which is not open around the clock" in joined
    assert "rules[0]" not in joined                                # 'mod' is open around the clock


@pytest.mark.parametrize("lang", ["ar", "ru"])
def test_a_language_no_desk_reads_is_warned_about(tmp_path: Path, default_schema: LabelSchema, lang: str) -> None:
    report = check_policy_file(write(tmp_path / "acme.yaml", MINIMAL_POLICY), default_schema, policies_dir=tmp_path)
    assert any(f"no queue reads language '{lang}'" in w for w in report.warnings)
