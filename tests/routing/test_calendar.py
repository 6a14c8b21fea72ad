"""The business calendar: Shabbat, Israeli holidays from the Hebrew calendar, erev chag, short Fridays,
per-queue hours, and deadlines that count only open minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.routing.calendar import BusinessCalendar, format_hours, parse_hours, weekly_from_names
from triage.routing.policy import load_policy
from triage.schema import LabelSchema

from .support import POLICIES, TZ, at

WEEK = {"sun": "08:00-20:00", "mon": "08:00-20:00", "tue": "08:00-20:00", "wed": "08:00-20:00",
        "thu": "08:00-20:00", "fri": "08:00-13:00", "sat": "closed"}


@pytest.fixture(scope="module")
def care() -> BusinessCalendar:
    """The Israeli brand calendar used by the tests: Sun-Thu 08-20, Fri 08-13, erev chag 08-13."""
    return BusinessCalendar(
        timezone="Asia/Jerusalem", weekly=weekly_from_names(WEEK), holiday_country="IL",
        holiday_categories=("public",), erev_chag=parse_hours("08:00-13:00"),
    )


def test_parse_hours_forms_and_errors() -> None:
    assert parse_hours("08:00-13:00") == [(480, 780)]
    assert parse_hours(["13:00-17:00", "08:00-12:00"]) == [(480, 720), (780, 1020)]
    assert parse_hours("closed") == []
    assert parse_hours("00:00-24:00") == [(0, 1440)]
    assert format_hours([(480, 780)]) == "08:00-13:00"
    for bad, words in [("8-13", "not like"), ("13:00-08:00", "end before"), ("08:00-25:00", "not valid"),
                       (["08:00-12:00", "11:00-13:00"], "overlap"), (["closed", "08:00-09:00"], "cannot be combined")]:
        with pytest.raises(ValueError, match=words):
            parse_hours(bad)


def test_holidays_come_from_the_hebrew_calendar(care: BusinessCalendar) -> None:
    # Dates move every Gregorian year; none of these is typed into the code.
    assert care.holiday(date(2026, 9, 21)) == "Yom Kippur"
    assert care.holiday(date(2026, 9, 12)) == care.holiday(date(2026, 9, 13)) == "Rosh Hashanah"
    assert care.holiday(date(2027, 4, 22)) == "Pesach"
    assert care.holiday(date(2027, 10, 11)) == "Yom Kippur"
    assert care.holiday(date(2026, 9, 22)) is None


def test_saturday_is_closed_and_friday_short(care: BusinessCalendar) -> None:
    assert not care.is_open(at(2026, 9, 19, 12))          # Shabbat
    assert care.is_open(at(2026, 9, 18, 12, 59))          # Friday before 13:00
    assert not care.is_open(at(2026, 9, 18, 13, 0))       # Friday after the short day
    assert care.is_open(at(2026, 9, 17, 19, 59))          # Thursday evening
    assert care.hours(date(2026, 9, 19))[1] == "2026-09-19 closed (Saturday)"


def test_holiday_and_erev_chag(care: BusinessCalendar) -> None:
    # Yom Kippur 2026 is a Monday: closed all day; the Sunday before is erev chag, open only until 13:00.
    assert not care.is_open(at(2026, 9, 21, 10))
    assert care.erev(date(2026, 9, 20)) == "Yom Kippur"
    assert care.hours(date(2026, 9, 20)) == ([(480, 780)], "2026-09-20 erev Yom Kippur: 08:00-13:00")
    assert care.is_open(at(2026, 9, 20, 12)) and not care.is_open(at(2026, 9, 20, 14))
    # The first day of Rosh Hashanah is not "erev" of the second: it is a holiday itself.
    assert care.erev(date(2026, 9, 12)) is None
    # Erev Pesach 2027 (Wednesday 21 April) is short.
    assert care.hours(date(2027, 4, 21))[0] == [(480, 780)]


def test_deadline_from_friday_afternoon_runs_to_sunday(care: BusinessCalendar) -> None:
    # Friday 14:00 is after the short day: nothing counts until Sunday 08:00.
    d = care.add_open_minutes(at(2026, 9, 4, 14), 60)
    assert d.due == at(2026, 9, 6, 9, 0)
    assert "2026-09-05 closed (Saturday)" in d.skipped


def test_deadline_spends_the_short_friday_then_skips_shabbat(care: BusinessCalendar) -> None:
    d = care.add_open_minutes(at(2026, 9, 4, 12), 240)    # 1 h on Friday, 3 h on Sunday
    assert d.due == at(2026, 9, 6, 11, 0)


def test_deadline_across_erev_chag_and_yom_kippur(care: BusinessCalendar) -> None:
    # Sunday 20 Sep 12:00 (erev Yom Kippur, until 13:00): 1 h; Monday is Yom Kippur; Tuesday 08:00 + 3 h.
    d = care.add_open_minutes(at(2026, 9, 20, 12), 240)
    assert d.due == at(2026, 9, 22, 11, 0)
    assert d.skipped == ["2026-09-20 erev Yom Kippur: 08:00-13:00", "2026-09-21 closed (Yom Kippur)"]


def test_deadline_across_rosh_hashanah_on_a_weekend(care: BusinessCalendar) -> None:
    # Rosh Hashanah 2026 is Saturday-Sunday 12-13 Sep; Friday the 11th is both Friday and erev chag.
    d = care.add_open_minutes(at(2026, 9, 11, 12), 240)
    assert d.due == at(2026, 9, 14, 11, 0)
    assert d.skipped == ["2026-09-12 closed (Rosh Hashanah)", "2026-09-13 closed (Rosh Hashanah)"]


def test_post_arriving_while_closed_starts_at_the_next_opening(care: BusinessCalendar) -> None:
    assert care.add_open_minutes(at(2026, 9, 19, 22), 0).due == at(2026, 9, 20, 8, 0)
    assert care.add_open_minutes(at(2026, 9, 15, 6), 30).due == at(2026, 9, 15, 8, 30)
    assert care.add_open_minutes(at(2026, 9, 15, 19, 30), 60).due == at(2026, 9, 16, 8, 30)


def test_around_the_clock_counts_wall_clock_time(care: BusinessCalendar) -> None:
    start = at(2026, 9, 21, 3)                            # 03:00 on Yom Kippur
    assert care.add_clock_minutes(start, 15).due == at(2026, 9, 21, 3, 15)
    always = BusinessCalendar(timezone="Asia/Jerusalem", weekly={}, around_the_clock=True)
    assert always.add_open_minutes(start, 15).due == at(2026, 9, 21, 3, 15)
    # Across the end of daylight saving time (25 Oct 2026, 02:00 -> 01:00) real minutes are counted.
    night = at(2026, 10, 24, 23)
    due = care.add_clock_minutes(night, 240).due
    # (same-zone subtraction in Python is wall-clock, so compare in UTC)
    assert due.astimezone(UTC) - night.astimezone(UTC) == timedelta(hours=4)
    assert (due.hour, due.utcoffset()) == (2, timedelta(hours=2))


def test_per_queue_hours_override_the_brand_calendar(default_schema: LabelSchema) -> None:
    policy = load_policy(POLICIES / "default.yaml", default_schema)
    tech, care, crisis = policy.calendars["technical"], policy.calendars["care"], policy.calendars["crisis"]
    evening = at(2026, 9, 15, 21)
    assert tech.is_open(evening) and not care.is_open(evening)
    assert not tech.is_open(at(2026, 9, 21, 12))          # overrides keep the holidays
    assert crisis.is_open(at(2026, 9, 19, 3)) and crisis.is_open(at(2026, 9, 21, 3))
    # Friday was not overridden for technical, so it keeps the brand's short Friday.
    assert tech.hours(date(2026, 9, 18))[0] == [(480, 780)]


def test_another_country_and_brand_closures(default_schema: LabelSchema) -> None:
    london = ZoneInfo("Europe/London")
    policy = load_policy(POLICIES / "northwind.yaml", default_schema)
    cal = policy.calendars["frontline"]
    assert cal.holiday(date(2026, 12, 25)) == "Christmas Day"
    # Wed 23 Dec 17:00: 1 h, then the company closure (24th), Christmas, Boxing Day (Saturday), Sunday,
    # the observed Boxing Day holiday (Monday 28th); 7 h on Tuesday from 09:00.
    d = cal.add_open_minutes(datetime(2026, 12, 23, 17, tzinfo=london), 480)
    assert d.due == datetime(2026, 12, 29, 16, tzinfo=london)
    assert d.skipped[0] == "2026-12-24 closed (brand closure)"


def _open_minutes_between(cal: BusinessCalendar, start: datetime, end: datetime) -> int:
    count, t = 0, start
    while t < end:
        count += cal.is_open(t)
        t += timedelta(minutes=1)
    return count


@settings(max_examples=40, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 9, 8), max_value=datetime(2026, 10, 12)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    minutes=st.integers(min_value=1, max_value=900),
)
def test_deadline_counts_exactly_the_open_minutes(start: datetime, minutes: int) -> None:
    cal = BusinessCalendar(timezone="Asia/Jerusalem", weekly=weekly_from_names(WEEK), holiday_country="IL",
                           erev_chag=parse_hours("08:00-13:00"))
    due = cal.add_open_minutes(start, minutes).due
    assert _open_minutes_between(cal, start, due) == minutes
    assert cal.is_open(due - timedelta(minutes=1))


def test_deadlines_are_in_the_policy_time_zone(care: BusinessCalendar) -> None:
    due = care.add_open_minutes(datetime(2026, 9, 15, 9, tzinfo=UTC), 60).due
    assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=3)
    assert due == at(2026, 9, 15, 13, 0).astimezone(TZ)
