"""A brand's routing policy: the file format, its checks, and the compiled form the router runs.

``data/policies/<brand>.yaml`` says which queues exist (languages, hours), which rule sends a post where
(first match wins, then the default route), the SLA table, when a reply must be private, what may never
be hidden and when a person must look. Everything is checked when the policy loads — against the
classifier's label schema, the engine's channels / languages / entity types and the brand's reply
library — and every mistake is reported with its line: ``acme.yaml:42: rules[3].when.intent[0]:
unknown label 'complant' for head 'intent' (did you mean 'complaint'? ...)``.

The format is documented in docs/ROUTING.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from triage.config_source import Issue, Loc, SourceDoc, validate_model
from triage.errors import ConfigError
from triage.replies.library import ReplyLibrary, load_library
from triage.routing.calendar import DAY_NAMES, BusinessCalendar, check_holiday_source, parse_hours
from triage.routing.conditions import Condition, WhenSpec, validate_when
from triage.routing.hide_guard import HideGuard
from triage.routing.source import read_config
from triage.schema import LabelSchema, check_head_label, suggest_names
from triage.types import CHANNELS, LANGUAGES, PRIVATE_CHANNELS, Action, Priority, ReplyMode

POLICY_FORMAT_VERSION = 1

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Hours = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class HolidaySpec(_Strict):
    """Closing holidays from the ``holidays`` package (computed, never typed in)."""

    country: str = Field(description="ISO code the holidays package knows: IL, GB, US...")
    categories: list[str] = Field(default_factory=lambda: ["public"])


class HoursSpec(_Strict):
    """Opening hours. In ``calendar:`` these are the brand's; under a queue they override field by field
    (``weekly`` day by day)."""

    weekly: dict[DayName, Hours] | None = None
    holidays: Literal["israel", "none"] | HolidaySpec | None = None
    erev_chag: Hours | None = Field(default=None, description="Hours on the working day before a holiday.")
    closed_dates: list[date] | None = None
    around_the_clock: bool | None = None


class QueueSpec(_Strict):
    name: str
    description: str = ""
    languages: list[str] = Field(min_length=1)
    hours: HoursSpec | None = None


class SlaRow(_Strict):
    """First-response budget. Rows are tried in order; the first whose urgency and channel fit wins."""

    urgency: list[str] | None = None
    channels: list[str] | None = None
    minutes: int = Field(ge=0)
    around_the_clock: bool = False

    @field_validator("urgency", "channels", mode="before")
    @classmethod
    def _listy(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, list) else [value]


# A rule's own SLA may not run past a year: deadlines are searched day by day on the business calendar.
MAX_SLA_MINUTES = 525_600


class ThenSpec(_Strict):
    queue: str
    priority: Priority
    actions: list[Action] = Field(min_length=1)
    reply_mode: ReplyMode | None = Field(default=None, description="Force public/private (personal data still "
                                         "forces private).")
    needs_human: bool = False
    templates: list[str] | None = Field(default=None, description="Prefer these reply templates.")
    sla: str | None = Field(default=None, description="Use the SLA row of this urgency label (on the post's "
                            "channel) instead of the post's own urgency.")
    sla_minutes: int | None = Field(default=None, ge=0, le=MAX_SLA_MINUTES,
                                    description="First-response budget for this rule, in minutes.")
    sla_around_the_clock: bool | None = Field(default=None, description="With sla_minutes: clock minutes (true) "
                                              "or open minutes of the queue (false, the default).")


class RuleSpec(_Strict):
    id: Id
    description: str = ""
    when: WhenSpec = Field(default_factory=WhenSpec)
    unless: WhenSpec | None = None
    then: ThenSpec


class PrivateWhenSpec(_Strict):
    """A reason to answer privately (personal data, the author's own account or money, legal, health)."""

    id: Id
    reason: str
    when: WhenSpec


class HideGuardSpec(_Strict):
    """What a post must pass before a rule may hide it (see ``triage.routing.hide_guard``)."""

    confident_heads: list[str] = Field(default_factory=list, description="Heads that must be confident (not "
                                       "uncertain) for any hide, besides the heads the hiding rule tests.")
    extra_words: list[str] = Field(default_factory=list, description="The brand's own complaint words.")
    protest: ThenSpec | None = Field(default=None, description="Route for posts that rally others against the "
                                     "brand; without it they take the default route.")


class IncidentsSpec(_Strict):
    """Route every post of an open incident (``triage.stream``) to one queue, with one reason."""

    route_to: str = Field(description="The PR / crisis queue.")
    priority: Priority = Field(default="P2", description="At least this priority (a stricter rule keeps its own).")
    actions: list[Action] = Field(default_factory=lambda: list[Action](["escalate", "reply"]), min_length=1)
    templates: list[str] | None = None
    needs_human: bool = False
    when: list[Id] = Field(default_factory=list, description="Trigger names (outage, phishing...) or incident "
                           "kinds (volume, viral, trigger) that make an incident count; empty: every incident.")


class FollowUpsSpec(_Strict):
    """How a follow-up on a case (and a 'me too' reply to a stored post) is routed."""

    same_queue: bool = Field(default=True, description="Send it to the case's queue (never open a second case).")
    keep_queues: list[str] = Field(default_factory=list, description="A post whose own route is one of these "
                                   "queues (e.g. crisis) stays there.")
    raise_priority: bool = Field(default=True, description="At least the case's priority, and the priority "
                                 "`priority_sla` gives its (raised) urgency.")
    escalate_after: int = Field(default=3, ge=0, description="Escalate a follow-up from this contact on when no "
                                "brand reply came since the customer's last post (0: never).")


class NeedsHumanSpec(_Strict):
    uncertain_heads: Literal["all"] | list[str] = "all"
    labels: dict[str, list[str]] = Field(default_factory=dict, description="Head -> labels a person must see.")
    uncovered_language: bool = True


class PolicySpec(_Strict):
    format_version: int
    brand: Id
    name: str = ""
    schema_name: str = Field(alias="schema")
    timezone: str
    reply_library: str | None = None
    urgency_head: str | None = Field(default="urgency", description="Head whose label picks the SLA row.")
    queues: dict[Id, QueueSpec] = Field(min_length=1)
    language_overflow: dict[str, str] = Field(default_factory=dict)
    calendar: HoursSpec
    sla: list[SlaRow] = Field(min_length=1)
    private_reply_window_hours: dict[str, float] = Field(default_factory=dict)
    private_when: list[PrivateWhenSpec] = Field(default_factory=list)
    never_hide: WhenSpec | None = None
    hide_guard: HideGuardSpec = Field(default_factory=HideGuardSpec)
    needs_human: NeedsHumanSpec = Field(default_factory=NeedsHumanSpec)
    sector: Id | None = Field(default=None, description="The brand's line of business (telecom, retail...): "
                              "reply templates may be limited to sectors.")
    priority_sla: dict[Priority, str] = Field(default_factory=dict, description="Priority -> urgency label whose "
                                              "SLA a post of that priority gets at least.")
    rules: list[RuleSpec] = Field(default_factory=list)
    default: ThenSpec
    triggers: dict[Id, WhenSpec] = Field(default_factory=dict, description="Critical trigger name -> the "
                                         "conditions that name it (the crisis detector's single-post signals).")
    incidents: IncidentsSpec | None = None
    follow_ups: FollowUpsSpec = Field(default_factory=FollowUpsSpec)


@dataclass
class CompiledRule:
    spec: RuleSpec
    when: Condition
    unless: Condition | None


@dataclass
class Policy:
    """A checked policy, ready to route. Build with ``load_policy``."""

    spec: PolicySpec
    source: str
    schema: LabelSchema
    rules: list[CompiledRule]
    calendars: dict[str, BusinessCalendar]
    private_when: list[tuple[PrivateWhenSpec, Condition]]
    never_hide: Condition | None
    library: ReplyLibrary | None = None
    uncertain_heads: list[str] = field(default_factory=list)
    hide_guard: HideGuard = field(default_factory=HideGuard)
    triggers: list[tuple[str, Condition]] = field(default_factory=list)
    doc: SourceDoc | None = field(default=None, repr=False, compare=False)

    @property
    def brand(self) -> str:
        return self.spec.brand

    def covering_queues(self, language: str) -> list[str]:
        return [q for q, spec in self.spec.queues.items() if language in spec.languages]


def _holiday_source(spec: Literal["israel", "none"] | HolidaySpec | None) -> tuple[str | None, tuple[str, ...]]:
    if spec is None or spec == "none":
        return None, ()
    if spec == "israel":
        return "IL", ("public",)
    assert isinstance(spec, HolidaySpec)
    return spec.country, tuple(spec.categories)


def build_calendar(timezone: str, base: HoursSpec, override: HoursSpec | None) -> BusinessCalendar:
    """The brand calendar with a queue's overrides applied (ValueError on bad hours)."""
    o = override or HoursSpec()
    weekly_spec: dict[str, Hours] = {}
    for source in (base.weekly or {}, o.weekly or {}):
        weekly_spec.update(source.items())
    weekly = {DAY_NAMES.index(day): parse_hours(hours) for day, hours in weekly_spec.items()}
    holidays = o.holidays if o.holidays is not None else base.holidays
    country, categories = _holiday_source(holidays)
    erev = o.erev_chag if o.erev_chag is not None else base.erev_chag
    closed = o.closed_dates if o.closed_dates is not None else (base.closed_dates or [])
    return BusinessCalendar(
        timezone=timezone,
        weekly=weekly,
        holiday_country=country,
        holiday_categories=categories,
        erev_chag=parse_hours(erev) if erev is not None else None,
        closed_dates=frozenset(closed),
        around_the_clock=bool(o.around_the_clock if o.around_the_clock is not None else base.around_the_clock),
    )


def _check_hours(spec: HoursSpec, loc: Loc, issues: list[Issue]) -> None:
    for day, hours in (spec.weekly or {}).items():
        try:
            parse_hours(hours)
        except ValueError as exc:
            issues.append(Issue((*loc, "weekly", day), str(exc)))
    if spec.erev_chag is not None:
        try:
            parse_hours(spec.erev_chag)
        except ValueError as exc:
            issues.append(Issue((*loc, "erev_chag"), str(exc)))
    country, categories = _holiday_source(spec.holidays)
    if country is not None:
        try:
            check_holiday_source(country, categories)
        except ValueError as exc:
            issues.append(Issue((*loc, "holidays"), str(exc)))


class _Checker:
    """Collects every problem of a parsed policy (so one run lists them all)."""

    def __init__(self, spec: PolicySpec, schema: LabelSchema, template_ids: set[str] | None) -> None:
        self.spec = spec
        self.schema = schema
        self.template_ids = template_ids
        self.issues: list[Issue] = []
        self.queues = list(spec.queues)

    def add(self, loc: Loc, message: str) -> None:
        self.issues.append(Issue(loc, message))

    def language(self, value: str, loc: Loc) -> None:
        if value not in LANGUAGES:
            self.add(loc, f"unknown language {value!r} {suggest_names(value, LANGUAGES)}")

    def channel(self, value: str, loc: Loc) -> None:
        if value not in CHANNELS:
            self.add(loc, f"unknown channel {value!r} {suggest_names(value, CHANNELS)}")

    def queue(self, value: str, loc: Loc) -> None:
        if value not in self.spec.queues:
            self.add(loc, f"unknown queue {value!r} {suggest_names(value, self.queues)}")

    def head(self, value: str, loc: Loc) -> bool:
        heads = [h.name for h in self.schema.public_heads]
        if value not in heads:
            self.add(loc, f"unknown head {value!r} in schema {self.schema.name!r} {suggest_names(value, heads)}")
            return False
        return True

    def urgency_label(self, label: str, loc: Loc) -> None:
        """``label`` must be a label of the policy's urgency head (for SLA references)."""
        head = self.spec.urgency_head
        if head is None:
            self.add(loc, "naming an urgency label for the SLA needs urgency_head")
        elif head in [h.name for h in self.schema.public_heads]:
            msg = check_head_label(self.schema, head, label)
            if msg:
                self.add(loc, msg)

    def templates(self, templates: list[str] | None, loc: Loc) -> None:
        for i, template in enumerate(templates or []):
            if self.template_ids is None:
                self.add((*loc, "templates", i), "templates are named but the policy has no reply_library")
            elif template not in self.template_ids:
                self.add((*loc, "templates", i), f"unknown template {template!r} "
                         f"{suggest_names(template, sorted(self.template_ids))}")

    def then(self, then: ThenSpec, loc: Loc) -> None:
        self.queue(then.queue, (*loc, "queue"))
        if "none" in then.actions and len(then.actions) > 1:
            self.add((*loc, "actions"), "'none' cannot be combined with other actions")
        if len(set(then.actions)) != len(then.actions):
            self.add((*loc, "actions"), "an action is listed twice")
        self.templates(then.templates, loc)
        if then.sla is not None:
            self.urgency_label(then.sla, (*loc, "sla"))
        if then.sla_around_the_clock is not None and then.sla_minutes is None:
            self.add((*loc, "sla_around_the_clock"), "only applies together with sla_minutes")

    def run(self) -> list[Issue]:
        s = self.spec
        if s.format_version != POLICY_FORMAT_VERSION:
            self.add(("format_version",), f"format_version {s.format_version} is not supported "
                     f"(expected {POLICY_FORMAT_VERSION})")
        if s.schema_name != self.schema.name:
            self.add(("schema",), f"the policy is written for schema {s.schema_name!r} but the classifier's "
                     f"schema is {self.schema.name!r}")
            return self.issues  # every label check below would fail for the same reason
        try:
            ZoneInfo(s.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.add(("timezone",), f"unknown time zone {s.timezone!r} (an IANA name like Asia/Jerusalem)")
        self._queues_and_calendar()
        self._sla_table()
        self._private_replies()
        self._needs_human()
        self._rules()
        self._hide_guard()
        self._stream()
        return self.issues

    def _stream(self) -> None:
        """``triggers``, ``incidents`` and ``follow_ups``: known queues and templates, no empty trigger."""
        s = self.spec
        for name, when in s.triggers.items():
            if when.is_empty():
                self.add(("triggers", name), "a trigger needs conditions (an empty block would name every post)")
            self.issues += validate_when(when, self.schema, ("triggers", name))
        if s.incidents is not None:
            loc: Loc = ("incidents",)
            self.queue(s.incidents.route_to, (*loc, "route_to"))
            self.templates(s.incidents.templates, loc)
            if "none" in s.incidents.actions and len(s.incidents.actions) > 1:
                self.add((*loc, "actions"), "'none' cannot be combined with other actions")
            if "hide" in s.incidents.actions:
                self.add((*loc, "actions"), "posts of an incident are never hidden")
        for i, queue in enumerate(s.follow_ups.keep_queues):
            self.queue(queue, ("follow_ups", "keep_queues", i))

    def _queues_and_calendar(self) -> None:
        s = self.spec
        for qid, q in s.queues.items():
            for i, lang in enumerate(q.languages):
                self.language(lang, ("queues", qid, "languages", i))
            if q.hours is not None:
                _check_hours(q.hours, ("queues", qid, "hours"), self.issues)
        for lang, qid in s.language_overflow.items():
            self.language(lang, ("language_overflow", lang))
            self.queue(qid, ("language_overflow", lang))
            if qid in s.queues and lang not in s.queues[qid].languages:
                self.add(("language_overflow", lang), f"queue {qid!r} does not list language {lang!r}")
        if s.calendar.weekly is None:
            self.add(("calendar", "weekly"), "the brand calendar needs weekly hours (sun..sat)")
        else:
            missing = [d for d in DAY_NAMES if d not in s.calendar.weekly]
            if missing:
                self.add(("calendar", "weekly"), f"give hours (or 'closed') for every day; missing {missing}")
        _check_hours(s.calendar, ("calendar",), self.issues)
        if not any(self.issues) and s.calendar.weekly is not None:
            for qid, q in s.queues.items():
                cal = build_calendar(s.timezone, s.calendar, q.hours)
                if not cal.around_the_clock and not any(cal.weekly.get(d) for d in range(7)):
                    self.add(("queues", qid), "this queue is never open (no weekly hours)")

    def _sla_table(self) -> None:
        """Known labels and channels, and every urgency x channel covered."""
        s = self.spec
        urgency_labels: list[str] = []
        if s.urgency_head is not None and self.head(s.urgency_head, ("urgency_head",)):
            urgency_labels = self.schema.head(s.urgency_head).labels
        for i, row in enumerate(s.sla):
            for j, label in enumerate(row.urgency or []):
                if s.urgency_head is None:
                    self.add(("sla", i, "urgency"), "urgency rows need urgency_head")
                    break
                msg = check_head_label(self.schema, s.urgency_head, label)
                if msg:
                    self.add(("sla", i, "urgency", j), msg)
            for j, ch in enumerate(row.channels or []):
                self.channel(ch, ("sla", i, "channels", j))
            if row.minutes > MAX_SLA_MINUTES:
                self.add(("sla", i, "minutes"), f"more than a year ({MAX_SLA_MINUTES} minutes)")
        labels_to_cover: list[str | None] = [*urgency_labels] or [None]
        for wanted in labels_to_cover:
            for ch in CHANNELS:
                if not any((r.urgency is None or wanted in r.urgency) and (r.channels is None or ch in r.channels)
                           for r in s.sla):
                    where = f"urgency={wanted} on {ch}" if wanted else f"channel {ch}"
                    self.add(("sla",), f"no SLA row covers {where}; end the table with a row without urgency/channels")
                    break
        for priority, label in s.priority_sla.items():
            self.urgency_label(label, ("priority_sla", priority))

    def _private_replies(self) -> None:
        s = self.spec
        for ch, hours in s.private_reply_window_hours.items():
            self.channel(ch, ("private_reply_window_hours", ch))
            if ch in PRIVATE_CHANNELS:
                self.add(("private_reply_window_hours", ch), f"{ch} is already private; the window is for public "
                         "channels")
            if not 0 < hours <= 24 * 366:
                self.add(("private_reply_window_hours", ch), "the window must be positive and at most a year")
        for i, pw in enumerate(s.private_when):
            self.issues += validate_when(pw.when, self.schema, ("private_when", i, "when"))
        if s.never_hide is not None:
            self.issues += validate_when(s.never_hide, self.schema, ("never_hide",))

    def _needs_human(self) -> None:
        s = self.spec
        if s.needs_human.uncertain_heads != "all":
            for i, h in enumerate(s.needs_human.uncertain_heads):
                self.head(h, ("needs_human", "uncertain_heads", i))
        for h, labels in s.needs_human.labels.items():
            if self.head(h, ("needs_human", "labels", h)):
                for i, label in enumerate(labels):
                    msg = check_head_label(self.schema, h, label)
                    if msg:
                        self.add(("needs_human", "labels", h, i), msg)

    def _rules(self) -> None:
        s = self.spec
        ids: dict[str, int] = {}
        for i, rule in enumerate(s.rules):
            loc: Loc = ("rules", i)
            if rule.id in ids:
                self.add((*loc, "id"), f"rule id {rule.id!r} is already used by rules[{ids[rule.id]}]")
            ids[rule.id] = i
            self.issues += validate_when(rule.when, self.schema, (*loc, "when"))
            if rule.unless is not None:
                self.issues += validate_when(rule.unless, self.schema, (*loc, "unless"))
            self.then(rule.then, (*loc, "then"))
            self._hide_guard_rule(rule, loc)
        self.then(s.default, ("default",))
        if "hide" in s.default.actions:
            self.add(("default", "actions"), "the default route must not hide posts (hide spam and abuse by rule)")

    def _hide_guard(self) -> None:
        guard = self.spec.hide_guard
        for i, head in enumerate(guard.confident_heads):
            self.head(head, ("hide_guard", "confident_heads", i))
        for i, word in enumerate(guard.extra_words):
            if not word.strip():
                self.add(("hide_guard", "extra_words", i), "empty word")
        if guard.protest is not None:
            self.then(guard.protest, ("hide_guard", "protest"))
            if "hide" in guard.protest.actions:
                self.add(("hide_guard", "protest", "actions"), "protest posts are never hidden")

    def _hide_guard_rule(self, rule: RuleSpec, loc: Loc) -> None:
        # A rule that can only ever see protected posts and hides them is a mistake in the file, not
        # something to fix silently at request time.
        guard = self.spec.never_hide
        if guard is None or "hide" not in rule.then.actions:
            return
        protected = guard.head_conditions
        conditions = rule.when.head_conditions
        for head, labels in protected.items():
            if head in conditions and set(conditions[head]) <= set(labels):
                self.add((*loc, "then", "actions"), f"this rule hides only {head}={conditions[head]} posts, "
                         "which never_hide protects")


def load_policy(
    path: Path,
    schema: LabelSchema,
    *,
    replies_root: Path | None = None,
    library: ReplyLibrary | None = None,
) -> Policy:
    """Read ``path``, check it against ``schema`` and its reply library, and compile it.

    ``replies_root`` is where ``reply_library`` folders live (default: the shipped ``data/replies``);
    ``library`` passes an already loaded library instead. Raises ConfigError with every problem found.
    """
    doc: SourceDoc = read_config(Path(path))
    spec = validate_model(doc, PolicySpec, "policy")
    issues: list[Issue] = []
    library_error: ConfigError | None = None
    if library is None and spec.reply_library is not None and spec.schema_name == schema.name:
        if replies_root is None:
            from triage.resources import replies_dir

            replies_root = replies_dir()
        folder = Path(replies_root) / spec.reply_library
        if not folder.is_dir():
            known = sorted(p.name for p in Path(replies_root).iterdir()
                           if p.is_dir()) if Path(replies_root).is_dir() else []
            issues.append(Issue(("reply_library",), f"unknown reply library {spec.reply_library!r} "
                                f"(no folder {folder}) {suggest_names(spec.reply_library, known)}"))
        else:
            try:
                library = load_library(folder, schema, queues=list(spec.queues))
            except ConfigError as exc:
                library_error = exc
    # While the library itself is broken its own errors are reported; template names are not judged.
    template_ids: set[str] | None = (
        _AnyIds() if library_error is not None else library.template_ids if library is not None else None
    )
    issues += _Checker(spec, schema, template_ids).run()
    if issues or library_error is not None:
        parts = [str(doc.fail(issues, "policy"))] if issues else []
        if library_error is not None:
            parts.append(str(library_error))
        raise ConfigError("\n".join(parts))
    heads = [h.name for h in schema.public_heads]
    return Policy(
        spec=spec,
        source=str(path),
        schema=schema,
        rules=[CompiledRule(r, Condition(r.when), Condition(r.unless) if r.unless else None) for r in spec.rules],
        calendars={q: build_calendar(spec.timezone, spec.calendar, qs.hours) for q, qs in spec.queues.items()},
        private_when=[(pw, Condition(pw.when)) for pw in spec.private_when],
        never_hide=Condition(spec.never_hide) if spec.never_hide is not None else None,
        library=library,
        uncertain_heads=heads if spec.needs_human.uncertain_heads == "all" else list(spec.needs_human.uncertain_heads),
        hide_guard=HideGuard(spec.hide_guard.extra_words),
        triggers=[(name, Condition(when)) for name, when in spec.triggers.items()],
        doc=doc,
    )


class _AnyIds(set[str]):
    """Stands in for the template ids while the library itself is broken (its own errors are reported)."""

    def __contains__(self, item: object) -> bool:
        return True


def policy_schema_name(path: Path) -> str | None:
    """The ``schema:`` a policy file declares, without checking the rest (to pick policies for a model)."""
    doc = read_config(Path(path))
    if isinstance(doc.data, dict):
        value = doc.data.get("schema")
        return str(value) if value is not None else None
    return None


def summarise(policy: Policy) -> list[str]:
    """A few lines describing a loaded policy (for ``triage policy check``)."""
    s = policy.spec
    lines = [
        f"brand {s.brand!r} ({s.name or s.brand}), schema {s.schema_name!r}, time zone {s.timezone}",
        f"{len(s.queues)} queues: " + ", ".join(f"{q} [{'/'.join(qs.languages)}]" for q, qs in s.queues.items()),
        f"{len(s.rules)} rules, then default -> {s.default.queue} {s.default.priority}",
        f"{len(s.sla)} SLA rows, {len(s.private_when)} private-reply conditions",
    ]
    if s.triggers:
        lines.append(f"{len(s.triggers)} critical triggers: {', '.join(s.triggers)}")
    if s.incidents is not None:
        when = ", ".join(s.incidents.when) or "every incident"
        lines.append(f"posts of open incidents ({when}) -> {s.incidents.route_to} {s.incidents.priority}")
    covered = {lang for qs in s.queues.values() for lang in qs.languages}
    uncovered = [lang for lang in LANGUAGES if lang not in covered]
    if uncovered:
        lines.append(f"languages no queue covers (a person checks those posts): {', '.join(uncovered)}")
    if policy.library is not None:
        lib = policy.library
        lines.append(f"reply library {lib.name!r}: {len(lib.templates)} templates in "
                     f"{', '.join(sorted(lib.languages))}; {len(lib.kb)} knowledge-base entries")
    return lines


def known_policy_files(folder: Path) -> Sequence[Path]:
    return sorted(Path(folder).glob("*.yaml")) if Path(folder).is_dir() else []
