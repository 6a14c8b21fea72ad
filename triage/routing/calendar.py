"""The business calendar: when a queue is open, and deadlines that count only open minutes.

An Israeli brand works Sunday to Thursday, closes early on Friday and on the eve of a holiday (erev
chag), and is closed on Shabbat and on the Jewish holidays. Holiday dates move every year with the
Hebrew calendar, so they come from the maintained ``holidays`` package (``country_holidays("IL")``
computes them from the Hebrew calendar) and never from a hand-typed table. Other countries work the
same way (a UK brand uses ``GB``).

All wall-clock hours are in the policy's time zone (``zoneinfo``), so a deadline is right across
daylight-saving changes; arithmetic itself is done in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

# Python's weekday(): Monday is 0. Policies name days by their first three letters.
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_TITLES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How far ahead a deadline may be searched for: a calendar that is open at least one day a week always
# finds one well within this (the longest Israeli closure is a few days around Rosh Hashanah / Sukkot).
MAX_SEARCH_DAYS = 800

_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[int, int]  # [start, end) in minutes after local midnight; end may be 1440


def parse_hours(spec: str | Sequence[str]) -> list[Interval]:
    """``"08:00-13:00"``, ``["08:00-12:00", "13:00-17:00"]``, ``"closed"`` -> sorted intervals.

    Raises ValueError with a readable message (the policy loader reports it with the line).
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[Interval] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"hours must be text like \"08:00-17:00\" or \"closed\", got {item!r}")
        if item.strip().lower() == "closed":
            if len(items) > 1:
                raise ValueError("'closed' cannot be combined with opening hours")
            return []
        m = _RANGE_RE.match(item)
        if not m:
            raise ValueError(f"hours {item!r} are not like \"08:00-17:00\" (quote them in YAML) or \"closed\"")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
            raise ValueError(f"hours {item!r} are not valid times (00:00 to 24:00)")
        if end <= start:
            raise ValueError(f"hours {item!r} end before they start (a night shift is two ranges on two days)")
        out.append((start, end))
    out.sort()
    for (_, e1), (s2, _) in pairwise(out):
        if s2 < e1:
            raise ValueError(f"hours {items!r} overlap")
    return out


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_hours(intervals: Sequence[Interval]) -> str:
    return ", ".join(f"{_fmt(s)}-{_fmt(e)}" for s, e in intervals) or "closed"


@lru_cache(maxsize=256)
def _holidays_for(country: str, categories: tuple[str, ...], year: int) -> dict[date, str]:
    import holidays

    table = holidays.country_holidays(country, years=year, categories=categories)
    return {d: str(name) for d, name in sorted(table.items())}


def check_holiday_source(country: str, categories: Sequence[str]) -> None:
    """Raise ValueError when the ``holidays`` package does not know this country or category."""
    try:
        _holidays_for(country, tuple(categories), 2026)
    except NotImplementedError as exc:
        raise ValueError(f"the holidays package has no country {country!r}") from exc
    except Exception as exc:  # the package raises ValueError / NotImplementedError / KeyError by version
        raise ValueError(f"cannot load holidays for {country!r} {list(categories)}: {exc}") from exc


@dataclass(frozen=True)
class Deadline:
    """A computed due time and the closures it had to skip (for the decision's reasons)."""

    due: datetime
    open_minutes: int
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday, holiday closures, short days before holidays, extra closed dates."""

    timezone: str
    weekly: Mapping[int, Sequence[Interval]]
    holiday_country: str | None = None
    holiday_categories: tuple[str, ...] = ("public",)
    erev_chag: Sequence[Interval] | None = None
    closed_dates: frozenset[date] = frozenset()
    around_the_clock: bool = False
    # day -> (open intervals, why): every SLA deadline walks the same few days, and a day's hours never change.
    _hours: dict[date, tuple[tuple[Interval, ...], str]] = field(default_factory=dict, init=False, repr=False,
                                                                 compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def holiday(self, day: date) -> str | None:
        """The name of the holiday that closes ``day``, if any."""
        if self.holiday_country is None:
            return None
        return _holidays_for(self.holiday_country, self.holiday_categories, day.year).get(day)

    def erev(self, day: date) -> str | None:
        """The holiday whose eve ``day`` is, when short eve hours apply to it.

        An eve is the working day before a closing holiday; a holiday eve that is itself a holiday (the
        first day of Rosh Hashanah before the second) or a day the weekly hours already close is not one.
        """
        if self.erev_chag is None or self.holiday(day) is not None:
            return None
        return self.holiday(day + timedelta(days=1))

    def hours(self, day: date) -> tuple[list[Interval], str]:
        """Open intervals on ``day`` (local wall clock) and why they are what they are."""
        known = self._hours.get(day)
        if known is None:
            intervals, why = self._hours_of(day)
            known = self._hours[day] = (tuple(intervals), why)
        return list(known[0]), known[1]

    def _hours_of(self, day: date) -> tuple[list[Interval], str]:
        if self.around_the_clock:
            return [(0, 24 * 60)], "around the clock"
        if day in self.closed_dates:
            return [], f"{day.isoformat()} closed (brand closure)"
        name = self.holiday(day)
        if name is not None:
            return [], f"{day.isoformat()} closed ({name})"
        weekly = list(self.weekly.get(day.weekday(), []))
        eve = self.erev(day)
        if eve is not None and weekly:
            assert self.erev_chag is not None
            short = _intersect(weekly, self.erev_chag)
            return short, f"{day.isoformat()} erev {eve}: {format_hours(short)}"
        title = _DAY_TITLES[day.weekday()]
        if not weekly:
            return [], f"{day.isoformat()} closed ({title})"
        return weekly, f"{day.isoformat()} {title} {format_hours(weekly)}"

    def _span(self, day: date, interval: Interval) -> tuple[datetime, datetime]:
        tz = self.tz
        start = datetime.combine(day, time(interval[0] // 60, interval[0] % 60), tzinfo=tz)
        if interval[1] >= 24 * 60:
            end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
        else:
            end = datetime.combine(day, time(interval[1] // 60, interval[1] % 60), tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        at_utc = _aware(at).astimezone(UTC)
        local_day = at_utc.astimezone(self.tz).date()
        for day in (local_day - timedelta(days=1), local_day):
            for interval in self.hours(day)[0]:
                start, end = self._span(day, interval)
                if start <= at_utc < end:
                    return True
        return False

    def add_open_minutes(self, start: datetime, minutes: int) -> Deadline:
        """The moment ``minutes`` open minutes after ``start``; closed time does not count.

        A post that arrives while closed starts its clock at the next opening. ``minutes == 0`` gives the
        next open moment (``start`` itself when open).
        """
        if minutes < 0:
            raise ValueError("minutes must be >= 0")
        cursor = _aware(start).astimezone(UTC)
        remaining = timedelta(minutes=minutes)
        day = cursor.astimezone(self.tz).date() - timedelta(days=1)  # an interval may run past midnight UTC
        skipped: list[str] = []
        for _ in range(MAX_SEARCH_DAYS):
            intervals, why = self.hours(day)
            is_short = intervals != list(self.weekly.get(day.weekday(), []))
            for interval in intervals:
                a, b = self._span(day, interval)
                if b <= cursor:
                    continue
                s = max(a, cursor)
                if remaining <= b - s:
                    return Deadline((s + remaining).astimezone(self.tz), minutes, skipped)
                remaining -= b - s
            # Record the closures and short days the clock ran through, after the start day.
            if (not intervals or is_short) and not self.around_the_clock and day >= cursor.astimezone(self.tz).date():
                skipped.append(why)
            day += timedelta(days=1)
        raise ValueError(f"the calendar has no open hours within {MAX_SEARCH_DAYS} days of {start.isoformat()}")

    def add_clock_minutes(self, start: datetime, minutes: int) -> Deadline:
        """``minutes`` wall-clock minutes after ``start`` (for around-the-clock SLA rows)."""
        due = (_aware(start).astimezone(UTC) + timedelta(minutes=minutes)).astimezone(self.tz)
        return Deadline(due, minutes, [])


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


def _aware(at: datetime) -> datetime:
    # Naive datetimes are UTC, like Post.created_at.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def weekly_from_names(spec: Mapping[str, str | Sequence[str]]) -> dict[int, list[Interval]]:
    """``{"sun": "08:00-20:00", "sat": "closed"}`` -> ``{6: [(480, 1200)], 5: []}``."""
    return {DAY_NAMES.index(name): parse_hours(hours) for name, hours in spec.items()}
