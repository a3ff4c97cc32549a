"""The persons of a funnel: for each resolved customer profile, the attempt that went furthest.

The counting contract (the README's "Counting"): a person is one resolved profile (events of
merged profiles count for the survivor). An attempt starts at a step-1 event inside the period.

- ``ordered``: the attempt reaches step k through events e1..ek, one of each step, each at or
  after the previous one in time, with ek − e1 ≤ the window (and e(i+1) − e(i) ≤ a step's own
  window). One event serves one step: where two steps name the same event, the later step's
  event also comes later in arrival order when both share an instant. An exclusion step
  (a, b) requires that no excluded event lies strictly between the attempt's events of steps a
  and b.
- ``strict``: as ordered, and each e(i+1) is the very next event of the person (track, page or
  screen; at one instant, in arrival order).
- ``unordered``: the attempt reaches step k when steps 1..k each have an event within the window
  after its first event (which may be of any step, inside the period).

Each person counts once, at the furthest step any attempt reached; among such attempts, the
earliest. Times are compared as exact UTC microseconds.

The attempts are computed in the database (one row per person), or for the common funnels from
the steps' events read once (:mod:`cxloop.journeys.columnar`). Reports, the persons behind a
step and drop-off paths take them as columns (:func:`persons`); :func:`attempts` keeps them in a
temporary table, the shape both engines are held to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from cxloop.events.consumers import SYSTEM_CHANNEL
from cxloop.insights.segments.compiler import property_matches
from cxloop.insights.segments.service import members_query
from cxloop.journeys import columnar
from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.sql import (
    MICROS,
    epoch_micros,
    json_scalar_text,
    micros,
    temporary_rows,
    temporary_table,
)
from cxloop.models import Customer, Event
from cxloop.profiles.identity import survivor_id

STREAM_TYPES = ("track", "page", "screen")  # what a person did (not identify, group, alias)


@dataclass(frozen=True)
class Period:
    """Persons enter a funnel when their first event falls in [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")


def _matches(event: str, where: Any) -> ColumnElement[bool]:
    return and_(Event.name == event, *(property_matches(Event.properties, f) for f in where))


def _flag(expr: ColumnElement[bool], name: str) -> Any:
    return case((expr, 1), else_=0).label(name)


def _events(
    spec: FunnelSpec,
    *,
    workspace_id: int,
    period: Period,
    every_event: bool = False,
    members: Select[Any] | None = None,
) -> Select[Any]:
    """The events an attempt may use: person, exact time, id, a flag per step and exclusion,
    and the breakdown property's value."""
    columns: list[Any] = [
        survivor_id().label("person"),
        epoch_micros(Event.timestamp).label("ts"),
        Event.id.label("eid"),
    ]
    columns += [_flag(_matches(s.event, s.where), f"m{j}") for j, s in enumerate(spec.steps, 1)]
    columns += [
        _flag(_matches(x.event, x.where), f"x{j}") for j, x in enumerate(spec.exclusions, 1)
    ]
    breakdown = spec.breakdown
    if breakdown is not None and breakdown.kind == "property":
        columns.append(json_scalar_text(Event.properties, breakdown.key).label("bv"))
    query = (
        select(*columns)
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(*_within(spec, workspace_id=workspace_id, period=period, every_event=every_event))
    )
    if members is not None:
        query = query.where(survivor_id().in_(members))
    return query


def _within(
    spec: FunnelSpec, *, workspace_id: int, period: Period, every_event: bool
) -> list[ColumnElement[bool]]:
    """Which events an attempt may use: the workspace's, in the period (and a window after
    it), of the steps (or, ``every_event``, all of the persons' streams)."""
    found = [
        Event.workspace_id == workspace_id,
        Event.timestamp >= period.start,
        # The last step may come a whole window after the period's last start.
        Event.timestamp <= period.end + spec.window,
    ]
    if every_event:
        return [*found, Event.type.in_(STREAM_TYPES), Event.channel != SYSTEM_CHANNEL]
    names = {s.event for s in spec.steps} | {x.event for x in spec.exclusions}
    return [*found, Event.name.in_(sorted(names))]


def _carried(level: CTE) -> list[Any]:
    return list(level.c)


def _ordered_levels(
    spec: FunnelSpec, events: Any, start_us: int, end_us: int, *, strict: bool
) -> list[CTE]:
    """Level k holds the attempts that reached step k, with the time and id of each step's
    event (and its breakdown value)."""
    window = int(spec.window.total_seconds() * MICROS)
    has_value = "bv" in events.c
    first = [events.c.person, events.c.ts.label("t1"), events.c.eid.label("i1")]
    if strict:
        first.append(events.c.rn.label("r1"))
    if has_value:
        first.append(events.c.bv.label("v1"))
    levels = [
        select(*first)
        .where(events.c.m1 == 1, events.c.ts >= start_us, events.c.ts < end_us)
        .cte("level1")
    ]
    n = len(spec.steps)
    for k in range(2, n + 1):
        prev = levels[-1]
        c = events.alias(f"next{k}")
        step = spec.steps[k - 1]
        conditions: list[Any] = [
            c.c.person == prev.c.person,
            c.c[f"m{k}"] == 1,
            c.c.ts >= prev.c[f"t{k - 1}"],
            c.c.ts <= prev.c.t1 + window,
        ]
        if step.within_hours is not None:
            conditions.append(
                c.c.ts <= prev.c[f"t{k - 1}"] + int(step.within_hours * 3600 * MICROS)
            )
        if strict:
            conditions.append(c.c.rn == prev.c[f"r{k - 1}"] + 1)
        anchor = spec.anchor_of(k - 1)
        if anchor is not None and not strict:
            t_p, i_p = prev.c[f"t{anchor + 1}"], prev.c[f"i{anchor + 1}"]
            conditions.append(or_(c.c.ts > t_p, and_(c.c.ts == t_p, c.c.eid > i_p)))
        for j, exclusion in enumerate(spec.exclusions, 1):
            if (exclusion.before_step or n) != k:
                continue
            x = events.alias(f"excluded{k}_{j}")
            conditions.append(
                ~exists().where(
                    x.c.person == prev.c.person,
                    x.c[f"x{j}"] == 1,
                    x.c.ts > prev.c[f"t{exclusion.after_step}"],
                    x.c.ts < c.c.ts,
                )
            )
        new = [c.c.ts.label(f"t{k}"), c.c.eid.label(f"i{k}")]
        if strict:
            new.append(c.c.rn.label(f"r{k}"))
        if has_value:
            new.append(c.c.bv.label(f"v{k}"))
        joined = select(*_carried(prev), *new).select_from(prev).join(c, and_(*conditions))
        keep_all = (
            not strict
            and k < n
            and (
                spec.steps[k].within_hours is not None
                or any(x.after_step == k for x in spec.exclusions)
            )
        )
        if keep_all:
            # The next step has its own window from this one, or an exclusion starts here (a
            # later event may leave the excluded one outside): any of these events may be the
            # one that continues the attempt, so all are kept.
            levels.append(joined.cte(f"level{k}"))
            continue
        # Otherwise the earliest continuing event dominates every later one.
        path = [prev.c.person, *(prev.c[f"i{j}"] for j in range(1, k))]
        ranked = joined.add_columns(
            func.row_number().over(partition_by=path, order_by=(c.c.ts, c.c.eid)).label("rank")
        ).subquery(f"ranked{k}")
        kept = [column for column in ranked.c if column.name != "rank"]
        levels.append(select(*kept).where(ranked.c.rank == 1).cte(f"level{k}"))
    return levels


def _no_time() -> Any:
    return sql_cast(null(), BigInteger())


def _no_value() -> Any:
    return sql_cast(null(), String())


def _later(a: Any, b: Any) -> Any:
    return case((b > a, b), else_=a)


def _value_of(spec: FunnelSpec, level: Any, k: int) -> Any:
    breakdown = spec.breakdown
    if breakdown is None or breakdown.kind == "trait":
        return _no_value()
    if breakdown.attribution == "first":
        return level.c.v1
    if breakdown.attribution == "last":
        return level.c[f"v{k}"]
    assert breakdown.step is not None
    return level.c[f"v{breakdown.step}"] if breakdown.step <= k else _no_value()


def _ordered_rows(spec: FunnelSpec, levels: list[CTE]) -> list[Select[Any]]:
    n = len(spec.steps)
    rows = []
    for k, level in enumerate(levels, 1):
        times = [level.c[f"t{j}"] if j <= k else _no_time() for j in range(1, n + 1)]
        ids = [level.c[f"i{j}"] if j <= k else _no_time() for j in range(1, n + 1)]
        rows.append(
            select(
                level.c.person,
                level.c.i1.label("first_id"),
                literal(k, Integer()).label("reached"),
                level.c.t1.label("start"),
                level.c[f"t{k}"].label("finish"),
                *(t.label(f"t{j}") for j, t in enumerate(times, 1)),
                *(i.label(f"i{j}") for j, i in enumerate(ids, 1)),
                _value_of(spec, level, k).label("value"),
            )
        )
    return rows


def _unordered_rows(spec: FunnelSpec, events: Any, start_us: int, end_us: int) -> list[Select[Any]]:
    n = len(spec.steps)
    window = int(spec.window.total_seconds() * MICROS)
    has_value = "bv" in events.c
    anchors = (
        select(
            events.c.person,
            events.c.ts.label("a"),
            events.c.eid.label("ia"),
            (events.c.bv if has_value else _no_value()).label("value"),
        )
        .where(
            or_(*(events.c[f"m{j}"] == 1 for j in range(1, n + 1))),
            events.c.ts >= start_us,
            events.c.ts < end_us,
        )
        .cte("anchors")
    )
    c = events.alias("within")
    firsts = (
        select(
            anchors.c.person,
            anchors.c.ia,
            anchors.c.a,
            anchors.c.value,
            *(func.min(case((c.c[f"m{j}"] == 1, c.c.ts))).label(f"f{j}") for j in range(1, n + 1)),
        )
        .select_from(anchors)
        .join(
            c,
            and_(
                c.c.person == anchors.c.person,
                c.c.ts >= anchors.c.a,
                c.c.ts <= anchors.c.a + window,
            ),
        )
        .group_by(anchors.c.person, anchors.c.ia, anchors.c.a, anchors.c.value)
        .cte("firsts")
    )
    rows = []
    for k in range(1, n + 1):
        finish: Any = firsts.c.f1
        for j in range(2, k + 1):
            finish = _later(finish, firsts.c[f"f{j}"])
        complete = [firsts.c[f"f{j}"].is_not(None) for j in range(1, k + 1)]
        if k < n:
            complete.append(firsts.c[f"f{k + 1}"].is_(None))
        rows.append(
            select(
                firsts.c.person,
                firsts.c.ia.label("first_id"),
                literal(k, Integer()).label("reached"),
                firsts.c.a.label("start"),
                finish.label("finish"),
                *(
                    (firsts.c[f"f{j}"] if j <= k else _no_time()).label(f"t{j}")
                    for j in range(1, n + 1)
                ),
                *(_no_time().label(f"i{j}") for j in range(1, n + 1)),
                firsts.c.value,
            ).where(*complete)
        )
    return rows


def events_query(
    spec: FunnelSpec, *, workspace_id: int, period: Period, members: Select[Any] | None = None
) -> Select[Any]:
    """The events the funnel's attempts may use, one row each: ``person, ts, eid``, a flag per
    step (``m1``..) and exclusion (``x1``..), the breakdown value ``bv`` and, for a strict
    funnel, ``rn`` (the event's place in its person's stream)."""
    strict = spec.order == "strict"
    base = _events(
        spec, workspace_id=workspace_id, period=period, every_event=strict, members=members
    )
    if not strict:
        return base
    starters = (
        _events(spec, workspace_id=workspace_id, period=period)
        .with_only_columns(survivor_id())
        .where(Event.name == spec.steps[0].event, Event.timestamp < period.end)
    )
    return base.add_columns(
        func.row_number()
        .over(partition_by=survivor_id(), order_by=(Event.timestamp, Event.id))
        .label("rn")
    ).where(survivor_id().in_(starters))


def step_events_query(spec: FunnelSpec, *, workspace_id: int, period: Period) -> Select[Any]:
    """The events the funnel's attempts may use, narrowly: ``customer`` (not yet its survivor:
    see :func:`survivors_query`), ``at`` (the stored time), ``eid`` and ``steps`` (bit k − 1
    set when the event passes step k); every event of the streams for a strict funnel, only
    the steps' events otherwise."""
    # One CASE on the name (each event is compared with each name once, not once per step),
    # then each filtered step's test only for its own event.
    bits: dict[str, Any] = {}
    for k, step in enumerate(spec.steps, 1):
        bit: Any = literal(1 << (k - 1), BigInteger())
        if step.where:
            matched = and_(*(property_matches(Event.properties, f) for f in step.where))
            bit = case((matched, bit), else_=literal(0, BigInteger()))
        bits[step.event] = bits[step.event] + bit if step.event in bits else bit
    steps = case(bits, value=Event.name, else_=literal(0, BigInteger()))
    every_event = spec.order == "strict"
    return select(
        Event.customer_id.label("customer"),
        Event.timestamp.label("at"),
        Event.id.label("eid"),
        sql_cast(steps, BigInteger()).label("steps"),
    ).where(*_within(spec, workspace_id=workspace_id, period=period, every_event=every_event))


def survivors_query(*, workspace_id: int, members: Select[Any] | None = None) -> Select[Any]:
    """``customer, person``: the profile each customer of the workspace counts as (only those
    counting as a member of ``members`` when given)."""
    query = select(Customer.id.label("customer"), survivor_id().label("person")).where(
        Customer.workspace_id == workspace_id
    )
    if members is not None:
        query = query.where(survivor_id().in_(members))
    return query


def event_columns(spec: FunnelSpec) -> list[tuple[str, Any]]:
    """The columns of :func:`events_query`, in its order."""
    columns: list[tuple[str, Any]] = [
        ("person", BigInteger()),
        ("ts", BigInteger()),
        ("eid", BigInteger()),
    ]
    columns += [(f"m{j}", Integer()) for j in range(1, len(spec.steps) + 1)]
    columns += [(f"x{j}", Integer()) for j in range(1, len(spec.exclusions) + 1)]
    if spec.breakdown is not None and spec.breakdown.kind == "property":
        columns.append(("bv", String()))
    if spec.order == "strict":
        columns.append(("rn", BigInteger()))
    return columns


def attempts_query(
    spec: FunnelSpec, *, workspace_id: int, period: Period, members: Select[Any] | None = None
) -> Select[Any]:
    """:func:`attempts_from` over :func:`events_query` in one statement."""
    events = events_query(spec, workspace_id=workspace_id, period=period, members=members)
    return attempts_from(spec, events.cte("funnel_events"), period=period)


def attempts_from(spec: FunnelSpec, events: Any, *, period: Period) -> Select[Any]:
    """One row per person: ``person, reached, start, finish, t1..tn`` (microseconds; a step not
    reached is NULL), ``i1..in`` (the steps' event ids; NULL in unordered funnels) and
    ``value`` (the breakdown's), from the rows of :func:`events_query` (a table or CTE)."""
    start_us, end_us = micros(period.start), micros(period.end)
    if spec.order == "unordered":
        rows = _unordered_rows(spec, events, start_us, end_us)
    else:
        levels = _ordered_levels(spec, events, start_us, end_us, strict=spec.order == "strict")
        rows = _ordered_rows(spec, levels)
    every = union_all(*rows).subquery("attempts")
    n = len(spec.steps)
    ranked = select(
        every,
        func.row_number()
        .over(
            partition_by=every.c.person,
            order_by=(
                every.c.reached.desc(),
                every.c.start,
                every.c.first_id,
                every.c.finish,
            ),
        )
        .label("choice"),
    ).subquery("ranked")
    value: Any = ranked.c.value
    query = select(
        ranked.c.person,
        ranked.c.reached,
        ranked.c.start,
        ranked.c.finish,
        *(ranked.c[f"t{j}"] for j in range(1, n + 1)),
        *(ranked.c[f"i{j}"] for j in range(1, n + 1)),
    ).where(ranked.c.choice == 1)
    breakdown = spec.breakdown
    if breakdown is not None and breakdown.kind == "trait":
        value = json_scalar_text(Customer.traits, breakdown.key)
        query = query.join(Customer, Customer.id == ranked.c.person)
    return query.add_columns(value.label("value"))


def attempt_columns(spec: FunnelSpec) -> list[tuple[str, Any]]:
    """The temporary table's columns, in the order of :func:`attempts_query`."""
    columns: list[tuple[str, Any]] = [
        ("person", BigInteger()),
        ("reached", Integer()),
        ("start", BigInteger()),
        ("finish", BigInteger()),
    ]
    columns += [(f"t{j}", BigInteger()) for j in range(1, len(spec.steps) + 1)]
    columns += [(f"i{j}", BigInteger()) for j in range(1, len(spec.steps) + 1)]
    columns.append(("value", String()))
    return columns


@contextmanager
def attempts(
    session: Session,
    spec: FunnelSpec,
    *,
    workspace_id: int,
    period: Period,
) -> Iterator[Table]:
    """The persons of the funnel (only the members of its segment, when it names one) in a
    temporary table, dropped on leaving; the steps' event ids ``i1..in`` are filled for ordered
    and strict funnels."""
    if columnar.fits(spec):
        rows = _column_wise(session, spec, workspace_id=workspace_id, period=period).rows()
        with temporary_rows(session, "funnel_persons", attempt_columns(spec), rows) as table:
            yield table
        return
    members = _members(session, spec, workspace_id=workspace_id)
    found = events_query(spec, workspace_id=workspace_id, period=period, members=members)
    # The events are read (and their times computed) once, into a table indexed by person and
    # time that every step's join then looks up.
    with temporary_table(
        session, "funnel_events", event_columns(spec), found, index=("person", "ts")
    ) as events:
        query = attempts_from(spec, events, period=period)
        with temporary_table(session, "funnel_persons", attempt_columns(spec), query) as table:
            yield table


def persons(
    session: Session, spec: FunnelSpec, *, workspace_id: int, period: Period
) -> columnar.Persons:
    """The rows of :func:`attempts` column-wise (the column-wise engine's without a temporary
    table)."""
    if columnar.fits(spec):
        return _column_wise(session, spec, workspace_id=workspace_id, period=period)
    with attempts(session, spec, workspace_id=workspace_id, period=period) as table:
        rows = session.connection().execute(select(table)).all()
    return columnar.Persons.of_rows(rows, len(spec.steps))


def _members(session: Session, spec: FunnelSpec, *, workspace_id: int) -> Select[Any] | None:
    if spec.segment_id is None:
        return None
    return members_query(session, workspace_id=workspace_id, segment_id=spec.segment_id)


def _column_wise(
    session: Session, spec: FunnelSpec, *, workspace_id: int, period: Period
) -> columnar.Persons:
    members = _members(session, spec, workspace_id=workspace_id)
    return columnar.persons(
        session,
        spec,
        step_events_query(spec, workspace_id=workspace_id, period=period),
        survivors_query(workspace_id=workspace_id, members=members),
        workspace_id=workspace_id,
        start=micros(period.start),
        end=micros(period.end),
    )
