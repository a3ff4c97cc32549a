"""Funnel reports: persons at each step (overall and per breakdown value), conversion, drop-off,
time to convert, conversion over time, the persons behind a step, and the test of a difference
between two periods or two breakdown values."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Table, case, func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.stats import Change, EmptySample, compare_proportions, proportion_interval
from cxloop.journeys.attempts import Period, attempts
from cxloop.journeys.periods import period_of
from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.sql import MICROS, micros

OTHER = "__other__"  # the breakdown values past the limit, counted together
# Upper bounds (seconds) of the time-to-convert distribution's bars; the last is open.
TIME_BARS = (60, 300, 1800, 3600, 6 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400)


@dataclass(frozen=True, slots=True)
class Times:
    """Seconds between two moments of the persons who got there: how many, median, p90."""

    n: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class StepCount:
    index: int  # 1-based
    label: str
    event: str
    persons: int
    dropped: int  # reached the previous step, not this one
    from_previous: float | None  # share of the previous step's persons
    from_first: float | None
    time_from_previous: Times | None  # None for the first step and for unordered funnels


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    value: str | None  # the breakdown value (None: no breakdown, or the value is missing)
    steps: tuple[StepCount, ...]
    time_to_convert: Times

    @property
    def entered(self) -> int:
        return self.steps[0].persons

    @property
    def converted(self) -> int:
        return self.steps[-1].persons

    @property
    def conversion(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True, slots=True)
class TimeBar:
    up_to_seconds: int | None  # None: longer than the last bar
    persons: int


@dataclass(frozen=True, slots=True)
class OverTime:
    start: datetime  # the bucket's first instant (UTC)
    entered: int
    converted: int


@dataclass(frozen=True, slots=True)
class FunnelReport:
    spec: FunnelSpec
    period: Period
    overall: FunnelGroup
    breakdown: tuple[FunnelGroup, ...]  # most persons first; OTHER last when any
    time_bars: tuple[TimeBar, ...]
    over_time: tuple[OverTime, ...]


# --- summaries of the persons table -------------------------------------------------------------


def durations(values: list[float]) -> Times:
    """Median and p90 of seconds (linear between ranks, as PostgreSQL's percentile_cont)."""
    if not values:
        return Times(n=0, median=None, p90=None)
    array = np.asarray(values, dtype=np.float64)
    median, p90 = np.percentile(array, [50, 90])
    return Times(n=len(values), median=round(float(median), 3), p90=round(float(p90), 3))


def _durations(
    session: Session, table: Table, seconds: ColumnElement[Any], *where: Any, by_value: bool
) -> dict[str | None, Times]:
    """Median and p90 of ``seconds`` over the rows passing ``where``, per value or overall."""
    group = [table.c.value] if by_value else []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            select(
                *group,
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .where(*where)
            .group_by(*group)
        ).all()
        found: dict[str | None, Times] = {}
        for row in rows:
            key = row[0] if by_value else None
            n, median, p90 = row[-3:]
            if not n:  # an aggregate over no rows still gives one (of NULLs)
                continue
            found[key] = Times(n=int(n), median=round(float(median), 3), p90=round(float(p90), 3))
        return found
    values: dict[str | None, list[float]] = defaultdict(list)
    result = session.connection().execute(select(*group, seconds).where(*where))
    for row in result.cursor.fetchall():  # plain numbers and text: nothing to convert
        values[row[0] if by_value else None].append(float(row[-1]))
    return {key: durations(found) for key, found in values.items()}


def _seconds(later: Any, earlier: Any) -> ColumnElement[Any]:
    return (later - earlier) / float(MICROS)


def _group(
    spec: FunnelSpec,
    value: str | None,
    reached: dict[int, int],
    step_times: dict[int, Times],
    convert: Times | None,
) -> FunnelGroup:
    """Counts at each step from the persons' furthest steps."""
    n = len(spec.steps)
    at_least = [sum(c for k, c in reached.items() if k >= j) for j in range(1, n + 1)]
    steps = []
    for j, step in enumerate(spec.steps, 1):
        persons = at_least[j - 1]
        previous = at_least[j - 2] if j > 1 else None
        steps.append(
            StepCount(
                index=j,
                label=step.title,
                event=step.event,
                persons=persons,
                dropped=(previous - persons) if previous is not None else 0,
                from_previous=(persons / previous if previous else None) if j > 1 else None,
                from_first=persons / at_least[0] if at_least[0] else None,
                time_from_previous=step_times.get(j) if j > 1 else None,
            )
        )
    return FunnelGroup(
        value=value, steps=tuple(steps), time_to_convert=convert or Times(0, None, None)
    )


def _breakdown_groups(session: Session, spec: FunnelSpec, table: Table) -> tuple[FunnelGroup, ...]:
    assert spec.breakdown is not None
    n = len(spec.steps)
    counts: dict[str | None, dict[int, int]] = defaultdict(dict)
    for value, reached, persons in session.execute(
        select(table.c.value, table.c.reached, func.count()).group_by(
            table.c.value, table.c.reached
        )
    ):
        counts[value][int(reached)] = int(persons)
    converted = _durations(
        session,
        table,
        _seconds(table.c.finish, table.c.start),
        table.c.reached == n,
        by_value=True,
    )
    ranked = sorted(counts, key=lambda v: (-sum(counts[v].values()), v is None, v or ""))
    kept, rest = ranked[: spec.breakdown.limit], ranked[spec.breakdown.limit :]
    groups = [_group(spec, value, counts[value], {}, converted.get(value)) for value in kept]
    if rest:
        merged: dict[int, int] = defaultdict(int)
        for value in rest:
            for k, c in counts[value].items():
                merged[k] += c
        named = [v for v in rest if v is not None]
        among: ColumnElement[bool] = table.c.value.in_(named)
        if None in rest:
            among = among | table.c.value.is_(None)
        times = _durations(
            session,
            table,
            _seconds(table.c.finish, table.c.start),
            table.c.reached == n,
            among,
            by_value=False,
        )
        groups.append(_group(spec, OTHER, merged, {}, times.get(None)))
    return tuple(groups)


def _time_bars(session: Session, table: Table, n: int) -> tuple[TimeBar, ...]:
    seconds = _seconds(table.c.finish, table.c.start)
    bar = case(*((seconds <= bound, i) for i, bound in enumerate(TIME_BARS)), else_=len(TIME_BARS))
    found = {
        int(i): int(count)
        for i, count in session.execute(
            select(bar, func.count()).where(table.c.reached == n).group_by(bar)
        )
    }
    bounds: list[int | None] = [*TIME_BARS, None]
    return tuple(
        TimeBar(up_to_seconds=bound, persons=int(found.get(i, 0))) for i, bound in enumerate(bounds)
    )


def _over_time(
    session: Session, table: Table, n: int, edges: list[datetime]
) -> tuple[OverTime, ...]:
    bucket = period_of(table.c.start, edges)
    rows = {
        int(b): (int(entered), int(converted or 0))
        for b, entered, converted in session.execute(
            select(bucket, func.count(), func.sum(case((table.c.reached == n, 1), else_=0)))
            .where(table.c.start >= micros(edges[0]), table.c.start < micros(edges[-1]))
            .group_by(bucket)
        )
    }
    return tuple(
        OverTime(start=edge, entered=rows.get(i, (0, 0))[0], converted=rows.get(i, (0, 0))[1])
        for i, edge in enumerate(edges[:-1])
    )


def funnel_report(
    session: Session,
    *,
    workspace_id: int,
    spec: FunnelSpec,
    period: Period,
    buckets: list[datetime] | None = None,
) -> FunnelReport:
    """The funnel ``spec`` of the persons whose attempts start in ``period``; ``buckets`` (the
    edges of days, weeks or months in the workspace's time zone) adds conversion over time."""
    n = len(spec.steps)
    with attempts(session, spec, workspace_id=workspace_id, period=period) as table:
        reached = {
            int(k): int(c)
            for k, c in session.execute(
                select(table.c.reached, func.count()).group_by(table.c.reached)
            )
        }
        step_times: dict[int, Times] = {}
        if spec.order != "unordered":
            for j in range(2, n + 1):
                found = _durations(
                    session,
                    table,
                    _seconds(table.c[f"t{j}"], table.c[f"t{j - 1}"]),
                    table.c.reached >= j,
                    by_value=False,
                )
                step_times[j] = found.get(None, Times(0, None, None))
        convert = _durations(
            session,
            table,
            _seconds(table.c.finish, table.c.start),
            table.c.reached == n,
            by_value=False,
        ).get(None)
        overall = _group(spec, None, reached, step_times, convert)
        groups = _breakdown_groups(session, spec, table) if spec.breakdown else ()
        bars = _time_bars(session, table, n)
        over_time = _over_time(session, table, n, buckets) if buckets else ()
    return FunnelReport(
        spec=spec,
        period=period,
        overall=overall,
        breakdown=groups,
        time_bars=bars,
        over_time=over_time,
    )


# --- the persons behind a step -------------------------------------------------------------------


def funnel_persons(
    session: Session,
    *,
    workspace_id: int,
    spec: FunnelSpec,
    period: Period,
    step: int,
    dropped: bool = False,
    value: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[int]:
    """Ids of the profiles that reached ``step`` (or, with ``dropped``, reached the step before
    it and no further), in id order after ``after``; only breakdown ``value`` when given."""
    n = len(spec.steps)
    if not 1 <= step <= n:
        raise ValidationFailed(f"step must be between 1 and {n}.")
    if dropped and step == 1:
        raise ValidationFailed("nobody drops off before the first step: pick step 2 or later.")
    with attempts(session, spec, workspace_id=workspace_id, period=period) as table:
        query = select(table.c.person).order_by(table.c.person).limit(limit)
        query = query.where(table.c.reached == step - 1 if dropped else table.c.reached >= step)
        if value is not None:
            query = query.where(table.c.value == value)
        if after is not None:
            query = query.where(table.c.person > after)
        return [int(p) for p in session.scalars(query)]


# --- differences --------------------------------------------------------------------------------


def conversion_change(before: FunnelGroup, after: FunnelGroup) -> Change | None:
    """Two-proportion test of the conversion from the first to the last step (after − before);
    None when either side has nobody."""
    try:
        a = proportion_interval(before.converted, before.entered)
        b = proportion_interval(after.converted, after.entered)
    except EmptySample:
        return None
    return compare_proportions(a, b)
