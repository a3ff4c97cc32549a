"""Business hours: when a team is open, and SLA clocks that count only those hours.

A calendar is a time zone (KST by default), weekly opening hours (any number of intervals a
day, in minutes from local midnight), the Korean public holidays (설날, 추석 and substitute days
included, from the ``holidays`` package), the team's own closed days, and a manual override:
"open now" or "closed now", which lasts until the regular schedule next changes (closing early
today ends at the usual closing time; opening on a Sunday evening ends when Monday's hours
begin).

Clock arithmetic runs over the calendar's open intervals in UTC, so a first-response target of
four business hours set at 17:00 on Friday before 설날 falls due after the holidays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays

from cxloop.core.timeutil import as_utc

MINUTES_A_DAY = 24 * 60
KST = ZoneInfo("Asia/Seoul")
# How far ahead a deadline or the next opening is looked for before the calendar counts as
# never open.
HORIZON_DAYS = 400

Interval = tuple[int, int]  # minutes from local midnight, start < end <= 1440


@lru_cache(maxsize=64)
def _korean_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("KR", years=year))


def korean_holiday_names(year: int, *, language: str = "ko") -> dict[date, str]:
    """The Korean public holidays of ``year`` with their names (``ko`` or ``en_US``)."""
    return dict(holidays.country_holidays("KR", years=year, language=language))


def check_weekly(weekly: Sequence[Sequence[Interval]]) -> tuple[tuple[Interval, ...], ...]:
    """Weekly hours as stored: seven days (Monday first) of sorted, non-overlapping intervals of
    whole minutes within the day; ValueError says what is wrong."""
    if len(weekly) != 7:
        raise ValueError("Weekly hours need seven days, Monday first.")
    days: list[tuple[Interval, ...]] = []
    for number, intervals in enumerate(weekly):
        ordered = sorted((int(start), int(end)) for start, end in intervals)
        for start, end in ordered:
            if not 0 <= start < end <= MINUTES_A_DAY:
                raise ValueError(
                    f"Day {number + 1}: hours must run forward within the day (00:00–24:00)."
                )
        for (_s1, end1), (start2, _e2) in pairwise(ordered):
            if start2 < end1:
                raise ValueError(f"Day {number + 1}: opening hours overlap.")
        days.append(tuple(ordered))
    return tuple(days)


@dataclass(frozen=True)
class Override:
    """A manual "open" or "closed" from ``since`` until the regular schedule next changes."""

    open: bool
    since: datetime


@dataclass(frozen=True)
class BusinessCalendar:
    weekly: tuple[tuple[Interval, ...], ...]
    zone: ZoneInfo = KST
    public_holidays: bool = True
    closed_days: frozenset[date] = frozenset()
    override: Override | None = None

    @classmethod
    def office_hours(
        cls, start: int = 9 * 60, end: int = 18 * 60, *, zone: ZoneInfo = KST
    ) -> BusinessCalendar:
        """Monday to Friday, ``start`` to ``end`` (minutes), closed on public holidays."""
        day = ((start, end),)
        return cls(weekly=check_weekly([day] * 5 + [(), ()]), zone=zone)

    # --- the regular schedule --------------------------------------------------------------

    def is_closed_day(self, day: date) -> bool:
        return day in self.closed_days or (
            self.public_holidays and day in _korean_holidays(day.year)
        )

    def _local(self, day: date, minute: int) -> datetime:
        if minute >= MINUTES_A_DAY:
            return self._local(day + timedelta(days=1), minute - MINUTES_A_DAY)
        moment = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return moment.astimezone(UTC)

    def _regular(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The regular schedule's open intervals that meet [start, end), merged and clipped."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        pending: tuple[datetime, datetime] | None = None
        while day <= last:
            if not self.is_closed_day(day):
                for open_minute, close_minute in self.weekly[day.weekday()]:
                    a, b = self._local(day, open_minute), self._local(day, close_minute)
                    if b <= start or a >= end or a >= b:
                        continue
                    a, b = max(a, start), min(b, end)
                    if pending is not None and a <= pending[1]:
                        pending = (pending[0], max(pending[1], b))
                        continue
                    if pending is not None:
                        yield pending
                    pending = (a, b)
            day += timedelta(days=1)
        if pending is not None:
            yield pending

    def _regular_open(self, at: datetime) -> bool:
        return any(True for _ in self._regular(at, at + timedelta(microseconds=1)))

    def _next_regular_change(self, at: datetime) -> datetime | None:
        """The first moment after ``at`` at which the regular schedule opens or closes."""
        horizon = at + timedelta(days=HORIZON_DAYS)
        for a, b in self._regular(at, horizon):
            if a > at:
                return a
            if b < horizon:
                return b
        return None

    # --- with the override -------------------------------------------------------------------

    def override_until(self) -> datetime | None:
        """When the manual override ends (None: no override, or it never ends)."""
        if self.override is None:
            return None
        return self._next_regular_change(as_utc(self.override.since))

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals (UTC) that meet [start, end), clipped to it, in order."""
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            return
        override = self.override
        if override is None:
            yield from self._regular(start, end)
            return
        since = as_utc(override.since)
        until = self.override_until() or datetime.max.replace(tzinfo=UTC)
        pieces: list[tuple[datetime, datetime]] = []
        if start < since:
            pieces += self._regular(start, min(end, since))
        if override.open and start < until and end > since:
            pieces.append((max(start, since), min(end, until)))
        if end > until:
            pieces += self._regular(max(start, until), end)
        merged: list[tuple[datetime, datetime]] = []
        for a, b in sorted(pieces):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        yield from merged

    def is_open(self, at: datetime) -> bool:
        at = as_utc(at)
        return any(True for _ in self.open_intervals(at, at + timedelta(microseconds=1)))

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` if open then, else when the calendar next opens (None: not within a year)."""
        at = as_utc(at)
        for a, _b in self.open_intervals(at, at + timedelta(days=HORIZON_DAYS)):
            return a
        return None

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) the calendar is open (zero when end is before start)."""
        total = timedelta(0)
        for a, b in self.open_intervals(start, end):
            total += b - a
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of open time after ``start`` (a deadline); ValueError when
        the calendar is not open that long within a year."""
        start = as_utc(start)
        if duration <= timedelta(0):
            return start
        left = duration
        for a, b in self.open_intervals(start, start + timedelta(days=HORIZON_DAYS)):
            if b - a >= left:
                return a + left
            left -= b - a
        raise ValueError("The calendar is not open long enough within a year.")
