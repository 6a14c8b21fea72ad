"""``triage policy check``: a policy file checked the way the engine will load it, beside the other brands.

``load_policy`` checks one file. The engine loads every policy of the folder at once, and one bad file
stops them all: a file ``acme.yaml`` that says ``brand: default`` passes a one-file check, then collides
with the real default brand and no brand loads. So the check also puts the file in its folder's context:

* its name must be ``<brand>.yaml`` (the engine finds brands by file name and ignores ``.yml``);
* no other file in the folder may declare the same brand, and every other file must load too (a broken
  neighbour stops the engine just the same);
* a reply library shared with another brand must fit both brands' queues (``load_policy`` checks each).

It also warns about routes that will disappoint without being errors: an urgency whose SLA runs around
the clock that a rule (or its language overflow) can send to a desk that closes at night, and a language
no desk reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from triage.config_source import Loc, format_loc
from triage.errors import ConfigError
from triage.routing.policy import Policy, RuleSpec, ThenSpec, known_policy_files, load_policy
from triage.schema import LabelSchema
from triage.types import LANGUAGES

POLICY_SUFFIX = ".yaml"


@dataclass
class CheckReport:
    """What ``check_policy_file`` found: blocking errors, warnings, and the brands checked alongside."""

    path: Path
    policy: Policy | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_policy_file(path: Path, schema: LabelSchema, *, policies_dir: Path, replies_root: Path | None = None
                      ) -> CheckReport:
    """Check ``path`` alone and beside the policies in ``policies_dir`` it will be deployed with."""
    path = Path(path)
    report = CheckReport(path)
    try:
        report.policy = load_policy(path, schema, replies_root=replies_root)
    except ConfigError as exc:
        report.errors.append(str(exc))
        return report
    policy = report.policy
    _check_name(path, policy, report)
    _check_neighbours(path, policy, schema, Path(policies_dir), replies_root, report)
    report.warnings += coverage_warnings(policy)
    return report


def _where(policy: Policy, loc: Loc) -> str:
    line = policy.doc.line_of(loc) if policy.doc is not None else 1
    return f"{policy.source}:{line}: {format_loc(loc)}"


def _check_name(path: Path, policy: Policy, report: CheckReport) -> None:
    if path.suffix != POLICY_SUFFIX:
        report.errors.append(f"{path}:1: (file name): the engine loads only *{POLICY_SUFFIX} files; rename it "
                             f"to {path.stem}{POLICY_SUFFIX}")
    if policy.brand != path.stem:
        report.errors.append(f"{_where(policy, ('brand',))}: brand {policy.brand!r} must be named like its file "
                             f"({path.stem!r}): the engine finds brands by file name and refuses to start — for "
                             "every brand — when they disagree")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _check_neighbours(path: Path, policy: Policy, schema: LabelSchema, folder: Path, replies_root: Path | None,
                      report: CheckReport) -> None:
    # The file replaces the policy of the same name in the folder (that is how it is deployed).
    for other in known_policy_files(folder):
        if _same_file(other, path) or other.stem == path.stem:
            continue
        try:
            neighbour = load_policy(other, schema, replies_root=replies_root)
        except ConfigError as exc:
            if "written for schema" in str(exc):
                continue  # a policy for another model's schema is not loaded beside this one
            report.errors.append(f"{other}:1: (neighbour): this policy, loaded beside {path.name}, is broken "
                                 f"and would stop every brand from loading:\n{exc}")
            continue
        report.neighbours.append(neighbour.brand)
        if neighbour.brand != other.stem:
            report.errors.append(f"{_where(neighbour, ('brand',))}: brand {neighbour.brand!r} must be named like "
                                 f"its file ({other.stem!r}); it stops every brand from loading")
        if neighbour.brand == policy.brand:
            report.errors.append(f"{_where(policy, ('brand',))}: brand {policy.brand!r} is also declared by "
                                 f"{other}: two policies for one brand stop every brand from loading")
        if policy.library is not None and neighbour.library is not None and \
                neighbour.library.name == policy.library.name:
            report.neighbours[-1] += f" (shares reply library {policy.library.name!r})"


# -- warnings ------------------------------------------------------------------------------------------


def _clock_labels(policy: Policy) -> set[str]:
    """Urgency labels whose SLA row runs around the clock on some channel."""
    if policy.spec.urgency_head is None:
        return set()
    labels = policy.schema.head(policy.spec.urgency_head).labels
    return {label for label in labels for row in policy.spec.sla
            if row.around_the_clock and (row.urgency is None or label in row.urgency)
            and _first_row_for(policy, label, row)}


def _first_row_for(policy: Policy, label: str, row: object) -> bool:
    # A row counts for a label only where it is the first row that label can reach on some channel.
    for candidate in policy.spec.sla:
        if candidate.urgency is None or label in candidate.urgency:
            if candidate is row:
                return True
            if candidate.channels is None:
                return False
    return False


def _catches(rule: RuleSpec, head: str) -> set[str]:
    """Labels of ``head`` every post of which this rule takes (it tests nothing else and has no unless)."""
    conditions = rule.when.head_conditions
    others = [name for name in type(rule.when).model_fields if getattr(rule.when, name) is not None]
    if rule.unless is not None or set(conditions) != {head} or others:
        return set()
    return set(conditions[head])


def _routes(policy: Policy) -> Iterable[tuple[Loc, ThenSpec, set[str]]]:
    """Each route (rule, default, protest) with the urgency labels it can receive."""
    spec = policy.spec
    head = spec.urgency_head
    everything = set(policy.schema.head(head).labels) if head else set()
    caught: set[str] = set()
    via_hide: set[str] = set()
    for i, rule in enumerate(spec.rules):
        wanted = set(rule.when.head_conditions.get(head, everything)) if head else set()
        receives = wanted - caught
        if "hide" in rule.then.actions:
            via_hide |= receives       # a withheld hide falls back to the default or protest route
        yield ("rules", i, "then"), rule.then, receives
        if head:
            caught |= _catches(rule, head)
    yield ("default",), spec.default, (everything - caught) | via_hide
    if spec.hide_guard.protest is not None:
        yield ("hide_guard", "protest"), spec.hide_guard.protest, via_hide


def _landing_queues(policy: Policy, queue: str) -> list[tuple[str, str | None]]:
    """Queues a route to ``queue`` can land on, with the language sent there by overflow (None: itself)."""
    spec = policy.spec
    out: list[tuple[str, str | None]] = [(queue, None)]
    for lang in LANGUAGES:
        target = spec.language_overflow.get(lang)
        if lang not in spec.queues[queue].languages and target is not None:
            out.append((target, lang))
    return out


def coverage_warnings(policy: Policy) -> list[str]:
    """Routes that send around-the-clock urgencies to day desks, and languages no desk reads."""
    spec = policy.spec
    warnings: list[str] = []
    clock = _clock_labels(policy)
    for loc, then, receives in _routes(policy):
        labels = sorted(receives & clock)
        if then.sla_minutes is not None:
            labels = ["(the rule's own SLA)"] if then.sla_around_the_clock else []
        elif spec.priority_sla.get(then.priority) in clock:
            labels = sorted(set(labels) | {f"any (priority {then.priority})"})
        if not labels:
            continue
        for queue, lang in _landing_queues(policy, then.queue):
            if policy.calendars[queue].around_the_clock:
                continue
            how = f" in '{lang}' (language_overflow)" if lang else ""
            warnings.append(f"{_where(policy, (*loc, 'queue'))}: urgency {', '.join(labels)} posts{how} land on "
                            f"queue '{queue}', which is not open around the clock, though their SLA runs around "
                            "the clock: give the queue `hours: {around_the_clock: true}` or route them elsewhere")
    covered = {lang for q in spec.queues.values() for lang in q.languages}
    for lang in LANGUAGES:
        if lang not in covered:
            warnings.append(f"{_where(policy, ('queues',))}: no queue reads language '{lang}' and no "
                            f"language_overflow covers it: such posts stay on desks that cannot read them (a "
                            "person is asked to check each one)")
    return warnings
