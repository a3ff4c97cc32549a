"""Retention against the plain per-person count, on random streams across summer time, with
merged profiles and returns on the periods' edges."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cxloop.journeys.periods import Unit
from cxloop.journeys.retention import RetentionSpec, retention_report
from cxloop.models import Customer, Event
from tests.factories import make_workspace, unique

START = datetime(2026, 2, 23, tzinfo=UTC)  # New York changes its clocks on 8 March
SPAN = {"day": timedelta(days=20), "week": timedelta(weeks=12), "month": timedelta(days=180)}


def _bucket(moment: datetime, unit: Unit, tz: str) -> date:
    day = moment.astimezone(ZoneInfo(tz)).date()
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _step(day: date, unit: Unit, count: int) -> date:
    if unit == "day":
        return day + timedelta(days=count)
    if unit == "week":
        return day + timedelta(weeks=count)
    months = day.year * 12 + day.month - 1 + count
    return date(months // 12, months % 12 + 1, 1)


def _index(first: date, later: date, unit: Unit) -> int:
    if unit == "day":
        return (later - first).days
    if unit == "week":
        return (later - first).days // 7
    return (later.year - first.year) * 12 + later.month - first.month


def reference(
    rows: list[tuple[int, datetime, str]],
    spec: RetentionSpec,
    tz: str,
    cohort_days: list[date],
    now: datetime,
) -> dict[date, tuple[int, list[int | None]]]:
    firsts: dict[int, datetime] = {}
    for person, at, name in rows:
        if name == spec.start_event and (person not in firsts or at < firsts[person]):
            firsts[person] = at
    visits: dict[int, set[int]] = defaultdict(set)
    for person, at, name in rows:
        if person not in firsts:
            continue
        if spec.return_event is not None and name != spec.return_event:
            continue
        offset = _index(
            _bucket(firsts[person], spec.period, tz), _bucket(at, spec.period, tz), spec.period
        )
        if offset >= 1:
            visits[person].add(offset)
    table: dict[date, tuple[int, list[int | None]]] = {}
    zone = ZoneInfo(tz)
    for day in cohort_days:
        members = [p for p, at in firsts.items() if _bucket(at, spec.period, tz) == day]
        retained: list[int | None] = []
        for i in range(1, spec.periods + 1):
            begins = _step(day, spec.period, i)
            if datetime.combine(begins, datetime.min.time(), zone) > now:
                retained.append(None)
                continue
            if spec.bounded:
                retained.append(sum(1 for p in members if i in visits[p]))
            else:
                retained.append(sum(1 for p in members if any(o >= i for o in visits[p])))
        table[day] = (len(members), retained)
    return table


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 1000),  # where in the unit's span, in thousandths
        st.sampled_from(["Signed Up", "Signed Up", "Order Completed", "Page Viewed"]),
        st.sampled_from(["track", "track", "page", "identify"]),
    ),
    max_size=60,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    unit=st.sampled_from(["day", "week", "month"]),
    tz=st.sampled_from(["Asia/Seoul", "America/New_York"]),
    bounded=st.booleans(),
    any_return=st.booleans(),
)
def test_retention_matches_the_per_person_count(
    session: Session, rows: Any, unit: Unit, tz: str, bounded: bool, any_return: bool
) -> None:
    example = session.begin_nested()
    try:
        workspace = make_workspace(session)
        customers = [Customer(workspace_id=workspace.id) for _ in range(6)]
        session.add_all(customers)
        session.flush()
        customers[4].merged_into_id = customers[0].id
        customers[5].merged_into_id = customers[1].id
        stream = []
        now = START + SPAN[unit] * 0.8  # the last periods have not begun
        for who, position, name, kind in rows:
            at = START + SPAN[unit] * position / 1000
            session.add(
                Event(
                    workspace_id=workspace.id,
                    customer_id=customers[who].id,
                    message_id=unique("m-"),
                    type=kind,
                    name=None if kind == "identify" else name,
                    channel="web",
                    timestamp=at,
                    received_at=at,
                    properties={},
                    context={},
                )
            )
            if kind != "identify":
                stream.append((customers[who].merged_into_id or customers[who].id, at, name))
        session.flush()
        periods = {"day": 10, "week": 6, "month": 3}[unit]
        spec = RetentionSpec(
            start_event="Signed Up",
            return_event=None if any_return else "Order Completed",
            period=unit,
            periods=periods,
            cohorts=periods,
            bounded=bounded,
        )
        report = retention_report(
            session,
            workspace_id=workspace.id,
            spec=spec,
            tz=tz,
            start=START + timedelta(days=3),
            now=now,
        )
    finally:
        example.rollback()
    expected = reference(stream, spec, tz, [c.start for c in report.cohorts], now)
    assert {c.start: (c.persons, list(c.retained)) for c in report.cohorts} == expected
