"""Business hours and SLA clocks: checked property-based against a straightforward count, one
minute at a time, over random weekly hours, Korean public holidays, closed days and manual
overrides; and the cases a Korean team meets (설날, 추석 and their substitute days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.care.business_hours import (
    KST,
    BusinessCalendar,
    Override,
    check_weekly,
    korean_holiday_names,
)

MINUTE = timedelta(minutes=1)


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)  # type: ignore[misc]


# --- the straightforward count ----------------------------------------------------------------


def regular_open(calendar: BusinessCalendar, minute: datetime) -> bool:
    local = minute.astimezone(calendar.zone)
    if calendar.is_closed_day(local.date()):
        return False
    of_day = local.hour * 60 + local.minute
    return any(start <= of_day < end for start, end in calendar.weekly[local.weekday()])


def override_end(calendar: BusinessCalendar, since: datetime) -> datetime | None:
    """The first minute after ``since`` at which the regular schedule is not as the minute
    before it was (None when it stays the same for 30 days: a week without hours)."""
    minute = since + MINUTE
    while regular_open(calendar, minute) == regular_open(calendar, minute - MINUTE):
        minute += MINUTE
        if minute - since > timedelta(days=30):
            return None
    return minute


def open_at(calendar: BusinessCalendar, minute: datetime, until: datetime | None) -> bool:
    override = calendar.override
    if override is not None and override.since <= minute and (until is None or minute < until):
        return override.open
    return regular_open(calendar, minute)


def counted(calendar: BusinessCalendar, start: datetime, end: datetime) -> list[datetime]:
    """Every open minute of [start, end), one at a time."""
    until = override_end(calendar, calendar.override.since) if calendar.override else None
    minutes = []
    minute = start
    while minute < end:
        if open_at(calendar, minute, until):
            minutes.append(minute)
        minute += MINUTE
    return minutes


# --- random calendars --------------------------------------------------------------------------

half_hours = st.sets(st.integers(0, 48), max_size=6).map(
    lambda marks: [m * 30 for m in sorted(marks)][: len(marks) // 2 * 2]
)
day_hours = half_hours.map(lambda b: [(b[i], b[i + 1]) for i in range(0, len(b), 2)])
moments = st.integers(0, 760 * 24 * 60).map(
    lambda m: datetime(2025, 1, 10, tzinfo=UTC) + timedelta(minutes=m)
)


@st.composite
def calendars(draw: st.DrawFn, start: datetime) -> BusinessCalendar:
    weekly = check_weekly([draw(day_hours) for _ in range(7)])
    closed = draw(
        st.sets(st.integers(-3, 8).map(lambda d: start.astimezone(KST).date() + timedelta(d)))
    )
    override = None
    if draw(st.booleans()):
        since = start + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 5 * 24 * 60)))
        override = Override(open=draw(st.booleans()), since=since)
    return BusinessCalendar(
        weekly=weekly,
        public_holidays=draw(st.booleans()),
        closed_days=frozenset(closed),
        override=override,
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime, datetime]:
    start = draw(moments)
    end = start + timedelta(minutes=draw(st.integers(0, 5 * 24 * 60)))
    return draw(calendars(start)), start, end


@settings(max_examples=60, deadline=None)
@given(cases())
def test_business_time_is_the_count_of_open_minutes(
    case: tuple[BusinessCalendar, datetime, datetime],
) -> None:
    calendar, start, end = case

    assert calendar.business_time(start, end) == MINUTE * len(counted(calendar, start, end))


@settings(max_examples=60, deadline=None)
@given(cases(), st.data())
def test_a_deadline_is_the_minute_the_open_time_runs_out(
    case: tuple[BusinessCalendar, datetime, datetime], data: st.DataObject
) -> None:
    calendar, start, end = case
    open_minutes = counted(calendar, start, end)
    target = data.draw(st.integers(0, len(open_minutes)))

    deadline = calendar.add(start, MINUTE * target)

    assert deadline == (open_minutes[target - 1] + MINUTE if target else start)
    assert calendar.business_time(start, deadline) == MINUTE * target


@settings(max_examples=60, deadline=None)
@given(cases())
def test_open_now_and_next_opening_agree_with_the_count(
    case: tuple[BusinessCalendar, datetime, datetime],
) -> None:
    calendar, start, end = case
    open_minutes = counted(calendar, start, end)

    assert calendar.is_open(start) == bool(counted(calendar, start, start + MINUTE))
    if open_minutes:
        assert calendar.next_open(start) == open_minutes[0]


# --- what a Korean team meets ------------------------------------------------------------------


OFFICE = BusinessCalendar.office_hours()  # Monday to Friday, 09:00–18:00 KST


def test_four_hours_from_friday_afternoon_before_seollal_fall_due_after_the_holidays() -> None:
    # 2026-02-13 is the Friday before 설날 (Monday 16th to Wednesday 18th)
    deadline = OFFICE.add(kst(2026, 2, 13, 17, 0), timedelta(hours=4))

    assert deadline == kst(2026, 2, 19, 12, 0)


def test_chuseok_and_its_substitute_day_and_hangul_day_are_closed() -> None:
    # 추석 2025: 5th–7th October, the 8th in lieu of the Sunday, the 9th 한글날
    opened = [OFFICE.is_open(kst(2025, 10, day, 10, 0)) for day in range(6, 11)]

    assert opened == [False, False, False, False, True]
    assert OFFICE.business_time(kst(2025, 10, 2, 9), kst(2025, 10, 11)) == timedelta(hours=18)


def test_holidays_have_korean_names() -> None:
    names = korean_holiday_names(2026)

    assert names[date(2026, 2, 17)] == "설날"
    assert "추석" in names[date(2026, 9, 25)]


def test_a_team_may_work_through_public_holidays_and_close_its_own_days() -> None:
    everyday = BusinessCalendar(
        weekly=check_weekly([((600, 1320),)] * 7),
        public_holidays=False,
        closed_days=frozenset({date(2026, 5, 1)}),
    )

    assert everyday.is_open(kst(2026, 2, 17, 11, 0))  # 설날, open
    assert not everyday.is_open(kst(2026, 5, 1, 11, 0))  # the team's own closed day


def test_closing_early_lasts_until_the_usual_closing_time() -> None:
    closed_early = BusinessCalendar(
        weekly=OFFICE.weekly, override=Override(open=False, since=kst(2026, 12, 9, 15, 0))
    )

    assert closed_early.override_until() == kst(2026, 12, 9, 18, 0)
    assert not closed_early.is_open(kst(2026, 12, 9, 16, 0))
    assert closed_early.is_open(kst(2026, 12, 10, 9, 0))
    assert closed_early.next_open(kst(2026, 12, 9, 15, 30)) == kst(2026, 12, 10, 9, 0)


def test_opening_on_a_sunday_evening_lasts_until_monday_opens() -> None:
    weekend_duty = BusinessCalendar(
        weekly=OFFICE.weekly, override=Override(open=True, since=kst(2026, 12, 6, 20, 0))
    )

    assert weekend_duty.override_until() == kst(2026, 12, 7, 9, 0)
    assert weekend_duty.business_time(kst(2026, 12, 6, 19), kst(2026, 12, 7, 10)) == timedelta(
        hours=14
    )


def test_midnight_hours_join_across_days() -> None:
    around_the_clock = BusinessCalendar(
        weekly=check_weekly([((0, 120), (1320, 1440))] * 7), public_holidays=False
    )

    assert around_the_clock.add(kst(2026, 12, 7, 23, 0), timedelta(hours=2)) == kst(
        2026, 12, 8, 1, 0
    )
    closed_tonight = BusinessCalendar(
        weekly=around_the_clock.weekly,
        public_holidays=False,
        override=Override(open=False, since=kst(2026, 12, 7, 23, 0)),
    )
    assert closed_tonight.override_until() == kst(2026, 12, 8, 2, 0)


def test_a_deadline_that_uses_up_the_day_is_the_closing_time() -> None:
    monday = kst(2026, 12, 7, 9, 0)

    assert OFFICE.add(monday, timedelta(hours=9)) == kst(2026, 12, 7, 18, 0)
    assert OFFICE.add(monday, timedelta(hours=9, minutes=1)) == kst(2026, 12, 8, 9, 1)


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ([()] * 6, "seven days"),
        ([((600, 540),)] + [()] * 6, "run forward"),
        ([((0, 1500),)] + [()] * 6, "run forward"),
        ([((540, 720), (700, 900))] + [()] * 6, "overlap"),
    ],
    ids=["six-days", "backwards", "past-midnight", "overlapping"],
)
def test_weekly_hours_that_make_no_sense_are_refused(weekly: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        check_weekly(weekly)


def test_a_calendar_never_open_has_no_deadline() -> None:
    never = BusinessCalendar(weekly=check_weekly([()] * 7))

    with pytest.raises(ValueError, match="not open long enough"):
        never.add(kst(2026, 12, 7, 9), timedelta(hours=1))
    assert never.next_open(kst(2026, 12, 7, 9)) is None
