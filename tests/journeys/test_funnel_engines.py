"""The column-wise engine against the SQL engine on the funnels both answer: the whole persons
table must agree (every step's time, the steps' event ids, the breakdown value), not only what
the contract test checks; and SQLite's stored times, read as one text, to the microsecond."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.journeys import columnar
from cxloop.journeys.attempts import attempts, attempts_query
from cxloop.journeys.spec import FunnelBreakdown, FunnelSpec, FunnelStep
from tests.journeys.test_funnel_contract import EXAMPLES, PERIOD, _load, events_strategy


@st.composite
def fitting_specs(draw: Any) -> FunnelSpec:
    order = draw(st.sampled_from(["ordered", "strict", "unordered"]))
    n = draw(st.integers(2, 4))
    if order == "strict":
        names = [draw(st.sampled_from(["A", "B", "C"])) for _ in range(n)]
    else:
        names = draw(st.permutations(["A", "B", "C", "D"]))[:n]
    steps = []
    for i, name in enumerate(names):
        where = [{"key": "p", "value": "x"}] if draw(st.integers(0, 4)) == 0 else []
        within = None
        if i > 0 and order == "strict" and draw(st.integers(0, 4)) == 0:
            within = draw(st.sampled_from([1.0, 24.0]))
        steps.append(FunnelStep(event=name, where=where, within_hours=within))
    attribution = "first" if order == "unordered" else draw(st.sampled_from(["first", "last"]))
    step = None
    if order != "unordered" and draw(st.booleans()):
        attribution, step = "step", draw(st.integers(1, n))
    breakdown = draw(
        st.sampled_from([None, FunnelBreakdown(key="p", attribution=attribution, step=step)])
    )
    window = draw(st.sampled_from([1.0, 2.0, 14.0]))
    return FunnelSpec(steps=steps, window_days=window, order=order, breakdown=breakdown)


@EXAMPLES
@given(rows=events_strategy, spec=fitting_specs())
def test_the_column_wise_engine_fills_the_persons_table_as_the_sql_engine(
    session: Session, rows: Any, spec: FunnelSpec
) -> None:
    assert columnar.fits(spec)
    example = session.begin_nested()  # each example's rows go away after it
    try:
        _load(session, rows)
        workspace_id = session.info["workspace_id"]
        with attempts(session, spec, workspace_id=workspace_id, period=PERIOD) as table:
            found = [tuple(r) for r in session.execute(select(table))]
        expected = session.execute(
            attempts_query(spec, workspace_id=workspace_id, period=PERIOD)
        ).all()
    finally:
        example.rollback()
    n = len(spec.steps)
    if spec.order == "unordered":  # the SQL engine keeps no event ids there
        found = [(*r[: 4 + n], *([None] * n), r[-1]) for r in found]
    assert sorted(found) == sorted(tuple(r) for r in expected)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param(
            ["2026-03-02 09:00:00.000001", "2026-03-02 09:00:00.999999"],
            [1_772_442_000_000_001, 1_772_442_000_999_999],
            id="every-time-with-its-fraction",
        ),
        pytest.param(
            ["2026-03-02 09:00:00", "2026-03-02 09:00:00.5", "2026-03-02 09:00:00.000001"],
            [1_772_442_000_000_000, 1_772_442_000_500_000, 1_772_442_000_000_001],
            id="times-of-other-widths",
        ),
        pytest.param([], [], id="none"),
    ],
)
def test_sqlite_times_read_as_one_text_are_exact_microseconds(
    stored: list[str], expected: list[int]
) -> None:
    found = columnar._times(",".join(stored), count=len(stored))

    assert found.tolist() == expected
