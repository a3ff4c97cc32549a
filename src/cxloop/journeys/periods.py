"""Calendar periods in the workspace's time zone: the edges of days, weeks (Monday first) and
months as UTC instants, and the SQL that puts a stored time into its period by a balanced tree
of comparisons, the same on SQLite (which knows no time zones) and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, literal

from cxloop.core.timeutil import as_utc

Unit = Literal["day", "week", "month"]
UNITS: tuple[Unit, ...] = ("day", "week", "month")


def _first_day(day: date, unit: Unit) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _next_day(day: date, unit: Unit) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_days(moment: datetime, unit: Unit, count: int, tz: str) -> list[date]:
    """The first days of ``count + 1`` consecutive periods, the first holding ``moment``."""
    day = _first_day(as_utc(moment).astimezone(ZoneInfo(tz)).date(), unit)
    days = [day]
    for _ in range(count):
        days.append(_next_day(days[-1], unit))
    return days


def periods_back(now: datetime, unit: Unit, count: int, tz: str) -> list[date]:
    """The first days of the ``count`` periods ending with the one holding ``now``, and of the
    period after them."""
    day = _first_day(as_utc(now).astimezone(ZoneInfo(tz)).date(), unit)
    for _ in range(count - 1):
        day = _first_day(day - timedelta(days=1), unit)
    return period_days(datetime.combine(day, datetime.min.time(), ZoneInfo(tz)), unit, count, tz)


def instants(days: list[date], tz: str) -> list[datetime]:
    """Local midnights of ``days`` as aware times (their UTC instants follow summer time)."""
    zone = ZoneInfo(tz)
    return [datetime.combine(day, datetime.min.time(), zone) for day in days]


def period_of(time: Any, edges: list[datetime]) -> Any:
    """The index of the period [edges[i], edges[i+1]) holding a stored time (a UTC time column,
    or an expression of its type); only for times within [edges[0], edges[-1]) (filter them
    first). The times are compared as stored: SQLite keeps them as fixed-width UTC text, which
    sorts as time does, so no row's time is converted."""

    def tree(low: int, high: int) -> Any:
        if high - low == 1:
            return literal(low, Integer())
        middle = (low + high) // 2
        return case((time < edges[middle], tree(low, middle)), else_=tree(middle, high))

    return tree(0, len(edges) - 1)
