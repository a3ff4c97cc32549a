"""Funnel reports: persons at each step (overall and per breakdown value), conversion, drop-off,
time to convert, conversion over time, the persons behind a step, and the test of a difference
between two periods or two breakdown values."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.stats import Change, EmptySample, compare_proportions, proportion_interval
from cxloop.journeys.attempts import Period, persons
from cxloop.journeys.columnar import Persons
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


def durations(values: list[float] | np.ndarray) -> Times:
    """Median and p90 of seconds (linear between ranks, as PostgreSQL's percentile_cont)."""
    array = np.asarray(values, dtype=np.float64)
    if not array.size:
        return Times(n=0, median=None, p90=None)
    median, p90 = np.percentile(array, [50, 90])
    return Times(n=int(array.size), median=round(float(median), 3), p90=round(float(p90), 3))


def _seconds(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
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


def _reached(reached: np.ndarray) -> dict[int, int]:
    """Persons per furthest step."""
    steps, counts = np.unique(reached, return_counts=True)
    return dict(zip(steps.tolist(), counts.tolist(), strict=True))


def _breakdown_groups(spec: FunnelSpec, found: Persons) -> tuple[FunnelGroup, ...]:
    assert spec.breakdown is not None
    n = len(spec.steps)
    codes: dict[str | None, int] = {}
    code = np.fromiter(
        (codes.setdefault(v, len(codes)) for v in found.value), dtype=np.int64, count=found.size
    )
    pairs, persons = np.unique(code * (n + 1) + found.reached, return_counts=True)
    values = list(codes)
    counts: dict[str | None, dict[int, int]] = defaultdict(dict)
    for pair, count in zip(pairs.tolist(), persons.tolist(), strict=True):
        counts[values[pair // (n + 1)]][pair % (n + 1)] = count
    ranked = sorted(counts, key=lambda v: (-sum(counts[v].values()), v is None, v or ""))
    kept, rest = ranked[: spec.breakdown.limit], ranked[spec.breakdown.limit :]
    converted = found.reached == n
    seconds = _seconds(found.finish, found.start)
    groups = []
    for value in kept:
        times = durations(seconds[converted & (code == codes[value])])
        groups.append(_group(spec, value, counts[value], {}, times))
    if rest:
        merged: dict[int, int] = defaultdict(int)
        for value in rest:
            for k, c in counts[value].items():
                merged[k] += c
        among = ~np.isin(code, [codes[value] for value in kept])
        groups.append(_group(spec, OTHER, merged, {}, durations(seconds[converted & among])))
    return tuple(groups)


def _time_bars(found: Persons, n: int) -> tuple[TimeBar, ...]:
    converted = found.reached == n
    seconds = _seconds(found.finish[converted], found.start[converted])
    # The first bar whose bound the seconds do not pass.
    bar = np.searchsorted(np.asarray(TIME_BARS, dtype=np.float64), seconds, side="left")
    persons = np.bincount(bar, minlength=len(TIME_BARS) + 1).tolist()
    bounds: list[int | None] = [*TIME_BARS, None]
    return tuple(TimeBar(up_to_seconds=bound, persons=persons[i]) for i, bound in enumerate(bounds))


def _over_time(found: Persons, n: int, edges: list[datetime]) -> tuple[OverTime, ...]:
    bounds = np.array([micros(edge) for edge in edges], dtype=np.int64)
    inside = (found.start >= bounds[0]) & (found.start < bounds[-1])
    bucket = np.searchsorted(bounds, found.start[inside], side="right") - 1
    periods = len(edges) - 1
    entered = np.bincount(bucket, minlength=periods).tolist()
    converted = np.bincount(bucket[found.reached[inside] == n], minlength=periods).tolist()
    return tuple(
        OverTime(start=edge, entered=entered[i], converted=converted[i])
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
    found = persons(session, spec, workspace_id=workspace_id, period=period)
    step_times: dict[int, Times] = {}
    if spec.order != "unordered":
        for j in range(2, n + 1):
            got = found.reached >= j
            step_times[j] = durations(_seconds(found.times[j - 1][got], found.times[j - 2][got]))
    converted = found.reached == n
    convert = durations(_seconds(found.finish[converted], found.start[converted]))
    overall = _group(spec, None, _reached(found.reached), step_times, convert)
    return FunnelReport(
        spec=spec,
        period=period,
        overall=overall,
        breakdown=_breakdown_groups(spec, found) if spec.breakdown else (),
        time_bars=_time_bars(found, n),
        over_time=_over_time(found, n, buckets) if buckets else (),
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
    found = persons(session, spec, workspace_id=workspace_id, period=period)
    chosen = found.reached == step - 1 if dropped else found.reached >= step
    if value is not None:
        chosen &= np.fromiter((v == value for v in found.value), dtype=bool, count=found.size)
    if after is not None:
        chosen &= found.person > after
    return [int(p) for p in np.sort(found.person[chosen])[:limit]]


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
