"""The common funnels in one pass over each person's events: ordered funnels whose steps name
different events, with no per-step window and no exclusion, and unordered funnels.

Where no two steps can share an event, the earliest continuing event always dominates, so an
attempt's step k+1 is simply the first step-(k+1) event at or after its step k. One window
function per step gives every event "the next step-k time from here" (``nx{k}``); an ordered
attempt then follows its chain by equi-joins on (person, time), and an unordered attempt reads
its whole answer from its own row. Same counts as :mod:`cxloop.journeys.attempts` (the
property tests run both); this is only faster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    null,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.sql import MICROS, temporary_table


def fits(spec: FunnelSpec) -> bool:
    """Whether this engine answers ``spec``."""
    breakdown = spec.breakdown
    if breakdown is not None and breakdown.kind == "property" and breakdown.attribution != "first":
        return False
    if spec.order == "unordered":
        return True
    if spec.order != "ordered" or spec.exclusions:
        return False
    names = [step.event for step in spec.steps]
    return len(set(names)) == len(names) and all(s.within_hours is None for s in spec.steps)


def _next_times(spec: FunnelSpec, events: Any, first: int) -> Select[Any]:
    """Each event with, per step k ≥ ``first``, the earliest step-k time at or after it."""
    later = {
        # Newest first, from the start to this row's instant (peers included): a running
        # minimum, which both databases keep in one pass (a frame from the current row on
        # would be aggregated again for every row).
        f"nx{k}": func.min(case((events.c[f"m{k}"] == 1, events.c.ts)))
        .over(
            partition_by=events.c.person,
            order_by=events.c.ts.desc(),
            range_=(None, 0),
        )
        .label(f"nx{k}")
        for k in range(first, len(spec.steps) + 1)
    }
    return select(*events.c, *later.values())


def _time(value: Any) -> Any:
    return sql_cast(value, BigInteger())


def _ordered(spec: FunnelSpec, marked: Table, lookup: Table, start: int, end: int) -> Select[Any]:
    n = len(spec.steps)
    window = int(spec.window.total_seconds() * MICROS)
    times: list[Any] = [marked.c.ts, marked.c.nx2]
    query = select().select_from(marked)
    for k in range(3, n + 1):
        hop = aliased(lookup, name=f"hop{k}")
        query = query.outerjoin(hop, and_(hop.c.person == marked.c.person, hop.c.ts == times[-1]))
        times.append(hop.c[f"nx{k}"])
    reached: Any = literal(1, Integer())
    for k in range(2, n + 1):  # the times only grow: the last within the window decides
        ok = and_(times[k - 1].is_not(None), times[k - 1] <= marked.c.ts + window)
        reached = case((ok, literal(k, Integer())), else_=reached)
    chains = (
        query.add_columns(
            marked.c.person,
            marked.c.eid.label("first_id"),
            reached.label("reached"),
            *(t.label(f"c{k}") for k, t in enumerate(times, 1)),
            (marked.c.bv if "bv" in marked.c else _text_null()).label("value"),
        )
        .where(marked.c.m1 == 1, marked.c.ts >= start, marked.c.ts < end)
        .subquery("chains")
    )
    return _shaped(chains, n)


def _shaped(chains: Any, n: int) -> Select[Any]:
    """Attempts from their chains (``c1``..: each step's time, reached or not): the steps past
    the one reached are NULL."""
    reached = chains.c.reached
    return select(
        chains.c.person,
        chains.c.first_id,
        reached,
        chains.c.c1.label("start"),
        case(*((reached == k, chains.c[f"c{k}"]) for k in range(1, n + 1))).label("finish"),
        *(
            case((reached >= k, chains.c[f"c{k}"]), else_=_time(None)).label(f"t{k}")
            for k in range(1, n + 1)
        ),
        chains.c.value,
    )


def _unordered(spec: FunnelSpec, marked: Table, start: int, end: int) -> Select[Any]:
    n = len(spec.steps)
    window = int(spec.window.total_seconds() * MICROS)
    inside = [
        and_(marked.c[f"nx{k}"].is_not(None), marked.c[f"nx{k}"] <= marked.c.ts + window)
        for k in range(1, n + 1)
    ]
    reached: Any = literal(0, Integer())
    for k in range(1, n + 1):  # steps 1..k all within the window; the largest such k
        reached = case((and_(*inside[:k]), literal(k, Integer())), else_=reached)
    any_step = sum((marked.c[f"m{k}"] for k in range(1, n + 1)), literal(0, Integer()))
    rows = (
        select(
            marked.c.person,
            marked.c.eid.label("first_id"),
            reached.label("reached"),
            marked.c.ts.label("start"),
            *(marked.c[f"nx{k}"].label(f"c{k}") for k in range(1, n + 1)),
            (marked.c.bv if "bv" in marked.c else _text_null()).label("value"),
        )
        .where(any_step > 0, marked.c.ts >= start, marked.c.ts < end)
        .subquery("anchored")
    )
    reached_k = rows.c.reached
    finish: Any = rows.c.c1
    finishes = [finish]
    for k in range(2, n + 1):  # the latest of the first k steps' times
        finish = case((rows.c[f"c{k}"] > finish, rows.c[f"c{k}"]), else_=finish)
        finishes.append(finish)
    return select(
        rows.c.person,
        rows.c.first_id,
        reached_k,
        rows.c.start,
        case(*((reached_k == k, finishes[k - 1]) for k in range(1, n + 1))).label("finish"),
        *(
            case((reached_k >= k, rows.c[f"c{k}"]), else_=_time(None)).label(f"t{k}")
            for k in range(1, n + 1)
        ),
        rows.c.value,
    ).where(reached_k >= 1)


def _text_null() -> Any:
    return sql_cast(null(), String())


def _best(spec: FunnelSpec, attempts: Any) -> Select[Any]:
    n = len(spec.steps)
    every = attempts.subquery("attempts")
    ranked = select(
        every,
        func.row_number()
        .over(
            partition_by=every.c.person,
            order_by=(every.c.reached.desc(), every.c.start, every.c.first_id),
        )
        .label("choice"),
    ).subquery("ranked")
    return select(
        ranked.c.person,
        ranked.c.reached,
        ranked.c.start,
        ranked.c.finish,
        *(ranked.c[f"t{j}"] for j in range(1, n + 1)),
        ranked.c.first_id,
        ranked.c.value,
    ).where(ranked.c.choice == 1)


@contextmanager
def best_attempts(
    session: Session,
    spec: FunnelSpec,
    events: Any,
    columns: list[tuple[str, Any]],
    *,
    start: int,
    end: int,
) -> Iterator[tuple[Select[Any], Table]]:
    """Each person's furthest attempt (``person, reached, start, finish, t1..tn, first_id,
    value``) as a statement over temporary tables kept while it is used, and the table of the
    events read (``columns`` name those of ``events``, a subquery), indexed by person and
    time."""
    n = len(spec.steps)
    first = 1 if spec.order == "unordered" else 2
    marked_columns = [*columns, *((f"nx{k}", BigInteger()) for k in range(first, n + 1))]
    marked_query = _next_times(spec, events, first)
    with temporary_table(
        session, "funnel_next", marked_columns, marked_query, index=("person", "ts")
    ) as marked:
        if spec.order == "unordered":
            yield _best(spec, _unordered(spec, marked, start, end)), marked
            return
        distinct = select(
            marked.c.person,
            marked.c.ts,
            *(func.min(marked.c[f"nx{k}"]).label(f"nx{k}") for k in range(3, n + 1)),
        ).group_by(marked.c.person, marked.c.ts)
        lookup_columns = [("person", BigInteger()), ("ts", BigInteger())]
        lookup_columns += [(f"nx{k}", BigInteger()) for k in range(3, n + 1)]
        with temporary_table(
            session, "funnel_hops", lookup_columns, distinct, index=("person", "ts")
        ) as lookup:
            yield _best(spec, _ordered(spec, marked, lookup, start, end)), marked
