"""The funnel engine against the plain per-person computation of the counting contract, on
random event streams with merged profiles, ties at one instant and events on the window's edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.journeys.attempts import Period, attempts, persons
from cxloop.journeys.spec import FunnelExclusion, FunnelSpec, FunnelStep
from cxloop.journeys.sql import micros
from cxloop.models import Customer, Event
from tests.factories import make_workspace, unique
from tests.journeys.reference import Ev, reference_funnel

T0 = datetime(2026, 3, 2, tzinfo=UTC)
PERIOD = Period(T0, T0 + timedelta(days=2))
DAY = 86_400
# Offsets (seconds) that land on the period's and a one-day window's edges, and repeat so that
# several events share an instant.
OFFSETS = [
    -3600.0,
    0.0,
    0.0,
    0.000001,
    1.0,
    3600.0,
    DAY - 1.0,
    DAY,
    DAY,
    DAY + 0.000001,
    2 * DAY - 0.000001,
    2 * DAY,
    2 * DAY + 1,
    3 * DAY,
]

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 5),  # the profile (4 and 5 are merged into 0 and 1)
        st.sampled_from(OFFSETS),
        st.sampled_from(["A", "B", "C", "D"]),
        st.sampled_from([None, "x", "y"]),
        st.sampled_from(["track", "track", "track", "page", "identify"]),
    ),
    min_size=0,
    max_size=30,
)


@st.composite
def specs(draw: Any) -> FunnelSpec:
    order = draw(st.sampled_from(["ordered", "ordered", "strict", "unordered"]))
    n = draw(st.integers(2, 4))
    if order == "unordered":
        names = draw(st.permutations(["A", "B", "C", "D"]))[:n]
    else:
        names = [draw(st.sampled_from(["A", "B", "C"])) for _ in range(n)]
    steps = []
    for i, name in enumerate(names):
        where = [{"key": "p", "value": "x"}] if draw(st.integers(0, 4)) == 0 else []
        within = None
        if i > 0 and order != "unordered" and draw(st.integers(0, 4)) == 0:
            within = draw(st.sampled_from([1.0, 24.0]))
        steps.append(FunnelStep(event=name, where=where, within_hours=within))
    exclusions = []
    if order == "ordered" and draw(st.booleans()):
        after = draw(st.integers(1, n - 1))
        before = draw(st.integers(after + 1, n))
        exclusions.append(
            FunnelExclusion(
                event=draw(st.sampled_from(["C", "D"])), after_step=after, before_step=before
            )
        )
    window = draw(st.sampled_from([1.0, 2.0, 14.0]))
    return FunnelSpec(steps=steps, window_days=window, order=order, exclusions=exclusions)


def _load(session: Session, rows: list[tuple[int, float, str, str | None, str]]) -> list[Ev]:
    workspace = make_workspace(session)
    customers = [Customer(workspace_id=workspace.id) for _ in range(6)]
    session.add_all(customers)
    session.flush()
    customers[4].merged_into_id = customers[0].id
    customers[5].merged_into_id = customers[1].id
    survivors = {c.id: (c.merged_into_id or c.id) for c in customers}
    models = []
    for who, offset, name, p, kind in rows:
        at = T0 + timedelta(seconds=offset)
        props = {} if p is None else {"p": p}
        models.append(
            Event(
                workspace_id=workspace.id,
                customer_id=customers[who].id,
                message_id=unique("m-"),
                type=kind,
                name=None if kind == "identify" else name,
                channel="web",
                timestamp=at,
                received_at=at,
                properties=props,
                context={},
            )
        )
    session.add_all(models)
    session.flush()
    session.info["workspace_id"] = workspace.id
    return [
        Ev(
            person=survivors[m.customer_id],
            ts=micros(m.timestamp),
            eid=m.id,
            name=m.name or "",
            props=m.properties,
            kind=m.type,
        )
        for m in models
    ]


# Every example on the test's own database session, however slow the example.
EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@EXAMPLES
@given(rows=events_strategy, spec=specs())
def test_funnel_matches_the_per_person_contract(
    session: Session, rows: Any, spec: FunnelSpec
) -> None:
    example = session.begin_nested()  # each example's rows go away after it
    try:
        events = _load(session, rows)
        expected = reference_funnel(spec, events, micros(PERIOD.start), micros(PERIOD.end))
        workspace_id = session.info["workspace_id"]
        with attempts(session, spec, workspace_id=workspace_id, period=PERIOD) as table:
            found = {
                int(r.person): (int(r.reached), int(r.start), int(r.finish))
                for r in session.execute(
                    select(table.c.person, table.c.reached, table.c.start, table.c.finish)
                )
            }
        # What the report reads: the same rows, column-wise.
        columns = persons(session, spec, workspace_id=workspace_id, period=PERIOD)
    finally:
        example.rollback()
    wanted = {p: (o.reached, o.start, o.finish) for p, o in expected.items()}
    assert found == wanted
    rows = zip(columns.person, columns.reached, columns.start, columns.finish, strict=True)
    assert {int(p): (int(r), int(s), int(f)) for p, r, s, f in rows} == wanted
