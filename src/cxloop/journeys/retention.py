"""Retention: cohorts of persons by the period of their first event of a kind, and how many come
back in each later period.

Contract: a person (one resolved profile; only a segment's members when one is named) belongs
to the cohort of the period (day, week from Monday, or month, in the workspace's time zone)
holding their first-ever start event, when that period is one of the cohorts asked for. They
are retained in period i (i ≥ 1 periods after their cohort's) when they did the return event
(any track, page or screen event when none is named) in that period; "on or after" (unbounded)
retention counts them in period i when they came back in period i or any later one. Period 0 is
the cohort itself. Periods that have not begun yet are None.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import BigInteger, Integer, Table, case, func, literal, select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc, utcnow
from cxloop.events.consumers import SYSTEM_CHANNEL
from cxloop.insights.segments.compiler import property_matches
from cxloop.insights.segments.language import Text200
from cxloop.insights.segments.service import members_query
from cxloop.journeys.attempts import STREAM_TYPES
from cxloop.journeys.periods import Unit, instants, period_days, period_of, periods_back
from cxloop.journeys.persons import person_events
from cxloop.journeys.spec import Filters
from cxloop.journeys.sql import temporary_table
from cxloop.models import Event
from cxloop.profiles.identity import survivor_id

MAX_PERIODS = {"day": 92, "week": 104, "month": 36}


class RetentionSpec(BaseModel):
    """Who starts a cohort, what counts as coming back, and the periods."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_event: Text200
    start_where: Filters = []
    return_event: Text200 | None = None  # None: any event the person did
    return_where: Filters = []
    period: Unit = "week"
    periods: Annotated[int, Field(ge=1, le=MAX_PERIODS["day"] + 12)] = 12
    cohorts: Annotated[int, Field(ge=1, le=MAX_PERIODS["day"] + 12)] | None = None
    bounded: bool = True
    segment_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None  # only its members

    @model_validator(mode="after")
    def _fits(self) -> RetentionSpec:
        limit = MAX_PERIODS[self.period]
        if self.periods > limit or (self.cohorts or 0) > limit:
            raise ValueError(f"at most {limit} periods and cohorts of a {self.period}")
        if self.return_where and self.return_event is None:
            raise ValueError("return filters need a return event")
        return self

    @property
    def cohort_count(self) -> int:
        return self.cohorts or self.periods


@dataclass(frozen=True, slots=True)
class Cohort:
    start: date  # the period's first day, in the workspace's time zone
    persons: int
    retained: tuple[int | None, ...]  # periods 1..N; None: that period has not begun

    def rate(self, i: int) -> float | None:
        value = self.retained[i - 1]
        return None if value is None or not self.persons else value / self.persons


@dataclass(frozen=True, slots=True)
class RetentionReport:
    spec: RetentionSpec
    timezone: str
    cohorts: tuple[Cohort, ...]
    average: tuple[float | None, ...]  # periods 1..N, over the cohorts that reached them


def _edges(
    spec: RetentionSpec, tz: str, now: datetime, start: datetime | None
) -> tuple[list[date], list[datetime]]:
    count = spec.cohort_count + spec.periods
    if start is None:
        days = periods_back(now, spec.period, spec.cohort_count, tz)
        while len(days) < count + 1:
            days.append(period_days(instants([days[-1]], tz)[0], spec.period, 1, tz)[1])
    else:
        days = period_days(start, spec.period, count, tz)
    return days, instants(days, tz)


def retention_report(
    session: Session,
    *,
    workspace_id: int,
    spec: RetentionSpec,
    tz: str,
    start: datetime | None = None,
    now: datetime | None = None,
) -> RetentionReport:
    """The cohort table: ``spec.cohorts`` periods from the one holding ``start`` (the last
    ones up to ``now`` when absent), each followed for ``spec.periods`` periods."""
    now = as_utc(now or utcnow())
    days, edges = _edges(spec, tz, now, start)
    n_cohorts, n = spec.cohort_count, spec.periods
    person = survivor_id()
    first_at = func.min(Event.timestamp)
    first = (
        person_events(workspace_id)
        .add_columns(person.label("person"), first_at.label("first_at"))
        .where(
            Event.name == spec.start_event,
            *(property_matches(Event.properties, f) for f in spec.start_where),
        )
        .where(
            *(
                [person.in_(members_query(session, workspace_id=workspace_id, segment_id=sid))]
                if (sid := spec.segment_id) is not None
                else []
            )
        )
        .group_by(person)
        .having(first_at >= edges[0], first_at < edges[n_cohorts])
        .subquery("first_starts")
    )
    # Each person's cohort, once, in an indexed temporary table that the cohort sizes and the
    # returns both read.
    cohort_of = period_of(first.c.first_at, edges[: n_cohorts + 1])
    with temporary_table(
        session,
        "retention_cohorts",
        [("person", BigInteger()), ("cohort", Integer())],
        select(first.c.person, cohort_of.label("cohort")),
        index=("person",),
    ) as cohort_table:
        counts, sizes = _counted(
            session, spec, cohort_table, workspace_id=workspace_id, edges=edges
        )
    cohorts = []
    for c in range(n_cohorts):
        retained = tuple(
            counts[c].get(i, 0) if edges[c + i] <= now else None for i in range(1, n + 1)
        )
        cohorts.append(Cohort(start=days[c], persons=sizes.get(c, 0), retained=retained))
    average = []
    for i in range(1, n + 1):
        known = [(x.retained[i - 1], x.persons) for x in cohorts if x.retained[i - 1] is not None]
        total = sum(p for _, p in known)
        average.append(sum(r or 0 for r, _ in known) / total if total else None)
    return RetentionReport(spec=spec, timezone=tz, cohorts=tuple(cohorts), average=tuple(average))


def _counted(
    session: Session,
    spec: RetentionSpec,
    cohorts: Table,
    *,
    workspace_id: int,
    edges: list[datetime],
) -> tuple[dict[int, dict[int, int]], dict[int, int]]:
    """Persons back in each period after their cohort's (cohort → offset → persons) and the
    cohorts' sizes, for the persons and cohorts of the table ``cohorts``."""
    sizes = {
        int(c): int(k)
        for c, k in session.execute(
            select(cohorts.c.cohort, func.count()).group_by(cohorts.c.cohort)
        )
    }
    person = survivor_id()
    returns = person_events(workspace_id).join(cohorts, cohorts.c.person == person)
    if spec.return_event is None:
        returns = returns.where(Event.type.in_(STREAM_TYPES), Event.channel != SYSTEM_CHANNEL)
    else:
        returns = returns.where(
            Event.name == spec.return_event,
            *(property_matches(Event.properties, f) for f in spec.return_where),
        )
    returns = returns.where(Event.timestamp >= edges[1])
    last, n = len(edges) - 1, spec.periods
    if spec.bounded:
        returns = returns.where(Event.timestamp < edges[-1])
        bucket = period_of(Event.timestamp, edges)
    else:  # a return after the last period counts for every period
        bucket = case(
            (Event.timestamp >= edges[-1], literal(last, Integer())),
            else_=period_of(Event.timestamp, edges),
        )
    visits = (
        returns.add_columns(
            cohorts.c.person, cohorts.c.cohort, (bucket - cohorts.c.cohort).label("offset")
        )
        .distinct()
        .subquery("visits")
    )
    visits_ok = visits.c.offset >= 1
    counts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    if spec.bounded:
        query = (
            select(visits.c.cohort, visits.c.offset, func.count())
            .where(visits_ok, visits.c.offset <= n)
            .group_by(visits.c.cohort, visits.c.offset)
        )
        for c, offset, k in session.execute(query):
            counts[int(c)][int(offset)] = int(k)
    else:
        furthest = (
            select(visits.c.cohort, func.max(visits.c.offset).label("furthest"))
            .where(visits_ok)
            .group_by(visits.c.person, visits.c.cohort)
            .subquery("furthest")
        )
        for c, far, k in session.execute(
            select(furthest.c.cohort, furthest.c.furthest, func.count()).group_by(
                furthest.c.cohort, furthest.c.furthest
            )
        ):
            for i in range(1, min(int(far), n) + 1):
                counts[int(c)][i] += int(k)
    return counts, sizes
