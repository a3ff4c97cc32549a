"""Durations for the care metrics: moments read from the database as epoch seconds (so 100,000
conversations are floats, not datetime objects), each team's business time between two of
them in two lookups, and medians and 90th percentiles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cxloop.care.business_hours import BusinessCalendar
from cxloop.care.sla import calendar_of
from cxloop.models import CareTeamHours


class epoch(FunctionElement[float]):
    """Seconds since 1970 of a stored UTC time, as the database computes them (SQLite to the
    millisecond, with a rounding error far below it: durations are rounded to the millisecond
    once computed)."""

    type = Float()
    name = "epoch"
    inherit_cache = True


@compiles(epoch)
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps times as UTC text; julianday counts whole milliseconds.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"
    )


@dataclass(frozen=True)
class Durations:
    """Seconds: how many, the median and the 90th percentile (None when there are none)."""

    n: int
    median: float | None
    p90: float | None


def durations(values: Sequence[float] | np.ndarray) -> Durations:
    """Median and 90th percentile (linear interpolation between the closest ranks, as
    PostgreSQL's ``percentile_cont``), to the millisecond."""
    if len(values) == 0:
        return Durations(n=0, median=None, p90=None)
    median, p90 = np.percentile(np.asarray(values, dtype=float), [50, 90])
    return Durations(n=len(values), median=round(float(median), 3), p90=round(float(p90), 3))


class OpenTime:
    """A calendar's open seconds counted once over a span, so the business time between any
    two moments in it is two lookups (the calendar walks its days only here)."""

    def __init__(self, calendar: BusinessCalendar, start: datetime, end: datetime) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.before: list[float] = []
        total = 0.0
        for a, b in calendar.open_intervals(start, end):
            self.starts.append(a.timestamp())
            self.ends.append(b.timestamp())
            self.before.append(total)
            total += (b - a).total_seconds()

    def _upto(self, moments: np.ndarray) -> np.ndarray:
        """Open seconds from the span's start up to each moment."""
        if not self.starts:  # never open (a calendar without hours)
            return np.zeros_like(moments, dtype=float)
        starts, ends = np.asarray(self.starts), np.asarray(self.ends)
        i = np.searchsorted(starts, moments, side="right") - 1
        at = np.clip(i, 0, None)
        counted = np.asarray(self.before)[at] + np.minimum(moments, ends[at]) - starts[at]
        return np.where(i < 0, 0.0, counted)

    def seconds_between(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Open seconds in each [start, end) given as epoch seconds (0 where end is not after
        start)."""
        return np.maximum(0.0, self._upto(end) - self._upto(start))

    def between(self, start: datetime, end: datetime) -> float:
        """Open seconds in [start, end) (0 when end is not after start)."""
        span = self.seconds_between(np.array([start.timestamp()]), np.array([end.timestamp()]))
        return float(span[0])


class TeamClocks:
    """Each team's business calendar (its own hours, else the workspace's default, else office
    hours), measured once over [start, end) (epoch seconds)."""

    def __init__(self, session: Session, *, workspace_id: int, start: float, end: float):
        self.hours = {
            h.team: h
            for h in session.scalars(
                select(CareTeamHours).where(CareTeamHours.workspace_id == workspace_id)
            )
        }
        self.start = datetime.fromtimestamp(start, UTC)
        self.end = datetime.fromtimestamp(end, UTC)
        self._clocks: dict[str, OpenTime] = {}

    def of(self, team: str) -> OpenTime:
        clock = self._clocks.get(team)
        if clock is None:
            hours = self.hours.get(team) or self.hours.get("")
            clock = OpenTime(calendar_of(hours), self.start, self.end)
            self._clocks[team] = clock
        return clock

    def spans(self, rows: Iterable[tuple[str, float, float]]) -> tuple[Durations, Durations]:
        """Wall-clock and business durations of (team, start, end) spans (epoch seconds)."""
        by_team: dict[str, tuple[list[float], list[float]]] = {}
        for team, start, end in rows:
            if end >= start:
                starts, ends = by_team.setdefault(team, ([], []))
                starts.append(start)
                ends.append(end)
        walls: list[np.ndarray] = []
        business: list[np.ndarray] = []
        for team, (starts, ends) in by_team.items():
            a, b = np.asarray(starts), np.asarray(ends)
            walls.append(b - a)
            business.append(self.of(team).seconds_between(a, b))
        if not walls:
            return durations([]), durations([])
        return durations(np.concatenate(walls)), durations(np.concatenate(business))
