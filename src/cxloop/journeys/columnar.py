"""The common funnels computed column-wise: the steps' events are read once, narrowly (customer,
exact time, id, the steps each passes), and every person's furthest attempt is found with array
operations on them, sorted by person, time and arrival; a breakdown's values are then read for
the chosen attempts' events alone.

It answers ordered funnels whose steps name different events with no per-step window and no
exclusion (an attempt's step k+1 is then simply the first step-(k+1) event at or after its step
k: the earliest continuing event dominates every later one), strict funnels (an attempt's step
k+1 is the next event of the stream) and unordered funnels (each step's first event within the
window from the attempt's first event). The rows are those of the SQL engine of
:mod:`cxloop.journeys.attempts`, which the contract tests hold both to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, ColumnElement, Connection, Select, String, any_, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.sql import MICROS, json_scalar_text
from cxloop.models import Customer, Event


def fits(spec: FunnelSpec) -> bool:
    """Whether this engine answers ``spec``."""
    if spec.exclusions:
        return False
    if spec.order in ("unordered", "strict"):
        return True
    names = [step.event for step in spec.steps]
    return len(set(names)) == len(names) and all(s.within_hours is None for s in spec.steps)


@dataclass(frozen=True)
class _Log:
    """The events read, sorted by person, time and id; ``steps`` has bit k − 1 set for an
    event of step k."""

    person: np.ndarray
    ts: np.ndarray
    eid: np.ndarray
    steps: np.ndarray

    @property
    def size(self) -> int:
        return int(self.ts.size)

    def instant_starts(self) -> np.ndarray:
        """Per event, the position of the first event of its person at its instant."""
        at = np.arange(self.size)
        new = np.ones(self.size, dtype=bool)
        new[1:] = (self.person[1:] != self.person[:-1]) | (self.ts[1:] != self.ts[:-1])
        return np.maximum.accumulate(np.where(new, at, 0))


def _read(connection: Connection, events: Select[Any], survivors: Select[Any]) -> _Log:
    """The rows of ``events`` (``customer, at, eid, steps``) of the customers of
    ``survivors`` (``customer, person``), each as its person, sorted."""
    if connection.dialect.name == "postgresql":
        customer, at, eid, steps = _copied(connection, events)
        ts = at + _PG_EPOCH_US
        ids, persons = _copied(connection, survivors)
    else:
        texts = _joined(connection, events)
        customer, eid, steps = (_integers(texts[j]) for j in (0, 2, 3))
        ts = _times(texts[1], count=eid.size)
        ids, persons = (_integers(text) for text in _joined(connection, survivors))
    # An event counts when its customer is one of them (a segment's members, say).
    person = _person_of(customer, ids, persons)
    known = person > 0
    person, ts, eid, steps = person[known], ts[known], eid[known], steps[known]
    order = np.lexsort((eid, ts, person))
    return _Log(person[order], ts[order], eid[order], steps[order])


def _person_of(customer: np.ndarray, ids: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """Per customer id, the person of that id among ``ids`` (``persons`` in the same order;
    ids are positive), 0 where it is not among them."""
    person = np.zeros(customer.size, dtype=np.int64)
    if not (ids.size and customer.size):
        return person
    low, high = int(ids.min()), int(ids.max())
    inside = (customer >= low) & (customer <= high)
    if high - low < 4 * (ids.size + customer.size):
        # The customers' ids are dense enough for a table indexed by id (no search per event).
        table = np.zeros(high - low + 1, dtype=np.int64)
        table[ids - low] = persons
        person[inside] = table[customer[inside] - low]
        return person
    order = np.argsort(ids)
    ids, persons = ids[order], persons[order]
    j = np.minimum(np.searchsorted(ids, customer[inside]), ids.size - 1)
    person[inside] = np.where(ids[j] == customer[inside], persons[j], 0)
    return person


def _joined(connection: Connection, query: Select[Any]) -> list[str]:
    """SQLite: each column of ``query`` joined into one text by SQLite itself (no Python
    object per value), for numpy to parse. A text holds at most SQLite's 1 GB: some 37 million
    events' times, far past what a funnel on SQLite reads."""
    read = query.subquery("read")
    row = connection.execute(select(*(func.group_concat(c, _SEP) for c in read.c))).one()
    return [text or "" for text in row]  # no rows: NULL


_SEP = ","
_STORED_TIME = len("2026-01-01 00:00:00.000000")  # how SQLite keeps a time with its fraction


def _integers(text: str) -> np.ndarray:
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=_SEP)


def _times(text: str, *, count: int) -> np.ndarray:
    """Microseconds since 1970 of ``count`` stored UTC times joined by ``_SEP``."""
    if not count:
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer((text + _SEP).encode("ascii"), dtype=np.uint8)
    width = _STORED_TIME + 1
    if data.size == count * width:
        cells = data.reshape(count, width)
        # Times hold no separator: a separator after every one means all have the same width.
        if (cells[:, -1] == ord(_SEP)).all():
            fixed = np.ascontiguousarray(cells[:, :-1]).view(f"S{_STORED_TIME}").ravel()
            return fixed.astype("datetime64[us]").astype(np.int64)
    return np.array(text.split(_SEP), dtype="datetime64[us]").astype(np.int64)


# In COPY's binary format an array element is its length and its value; a timestamptz is
# microseconds since 2000.
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
_PG_EPOCH_US = 946_684_800 * MICROS


def _copied(connection: Connection, query: Select[Any]) -> list[np.ndarray]:
    """PostgreSQL: each column of ``query`` (8-byte values: bigint, timestamptz) gathered into
    one array and sent in COPY's binary format, read without a Python object per value (or per
    row)."""
    import psycopg

    read = query.subquery("read")
    gathered = select(*(func.array_agg(column) for column in read.c))
    compiled = gathered.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    # COPY takes no server-side parameters: psycopg binds them on the client.
    with psycopg.ClientCursor(raw) as cursor:
        statement = f"COPY ({compiled.string}) TO STDOUT (FORMAT BINARY)"
        with cursor.copy(statement, compiled.params) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
    at = 19 + int.from_bytes(data[15:19], "big")  # past the signature, flags and extension
    at += 2  # the row's field count
    columns = []
    for _ in read.c:
        length = int.from_bytes(data[at : at + 4], "big", signed=True)
        ndim = int.from_bytes(data[at + 4 : at + 8], "big") if length > 0 else 0
        count = int.from_bytes(data[at + 16 : at + 20], "big") if ndim else 0
        elements = (
            np.frombuffer(data, dtype=_ELEMENT, count=count, offset=at + 24)
            if count
            else np.zeros(0, dtype=_ELEMENT)  # no rows: array_agg gives NULL
        )
        if not (elements["length"] == 8).all():
            raise ValueError("the funnel's rows are read as non-null 8-byte values")
        columns.append(elements["value"].astype(np.int64))
        at += 4 + max(length, 0)
    return columns


@dataclass(frozen=True)
class _Attempts:
    """One attempt per starting event (in the log's order): the position of that event, the
    step reached, per step the position of its event (meaningful up to the step reached), and
    the time of the step reached (unordered: the latest of the steps' times)."""

    start: np.ndarray
    reached: np.ndarray
    positions: list[np.ndarray]
    finish: np.ndarray


def _first_from(
    log: _Log, step: int, origins: np.ndarray, instants: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per origin, the position of its person's first step-``step`` event at or after its
    instant (peers included), and whether there is one."""
    of_step = np.flatnonzero(log.steps & (1 << (step - 1)))
    if of_step.size == 0:
        return origins, np.zeros(origins.size, dtype=bool)
    j = np.searchsorted(of_step, instants[origins])
    at = of_step[np.minimum(j, of_step.size - 1)]
    found = (j < of_step.size) & (log.person[at] == log.person[origins])
    return np.where(found, at, origins), found


def _in_period(log: _Log, start: int, end: int) -> np.ndarray:
    return (log.ts >= start) & (log.ts < end)


def _chains(spec: FunnelSpec, log: _Log, start: int, end: int) -> _Attempts:
    """Ordered and strict attempts, one per step-1 event in the period."""
    window = int(spec.window.total_seconds() * MICROS)
    strict = spec.order == "strict"
    instants = log.instant_starts()
    first = np.flatnonzero((log.steps & 1).astype(bool) & _in_period(log, start, end))
    reached = np.ones(first.size, dtype=np.int64)
    alive = np.ones(first.size, dtype=bool)
    at, positions = first, [first]
    for k in range(2, len(spec.steps) + 1):
        if strict:
            following = np.minimum(at + 1, max(log.size - 1, 0))
            ok = alive & (at + 1 < log.size)
            ok &= log.person[following] == log.person[first]
            ok &= (log.steps[following] & (1 << (k - 1))).astype(bool)
            within = spec.steps[k - 1].within_hours
            if within is not None:
                ok &= log.ts[following] - log.ts[at] <= int(within * 3600 * MICROS)
        else:
            following, found = _first_from(log, k, at, instants)
            ok = alive & found
        ok &= log.ts[following] - log.ts[first] <= window
        reached[ok] = k
        at = np.where(ok, following, at)
        positions.append(following)
        alive = ok
    return _Attempts(first, reached, positions, log.ts[at])


def _unordered(spec: FunnelSpec, log: _Log, start: int, end: int) -> _Attempts:
    """Unordered attempts, one per event of any step in the period."""
    window = int(spec.window.total_seconds() * MICROS)
    instants = log.instant_starts()
    anchors = np.flatnonzero((log.steps != 0) & _in_period(log, start, end))
    reached = np.zeros(anchors.size, dtype=np.int64)
    alive = np.ones(anchors.size, dtype=bool)
    finish = log.ts[anchors]
    positions = []
    for k in range(1, len(spec.steps) + 1):
        found_at, found = _first_from(log, k, anchors, instants)
        ok = alive & found & (log.ts[found_at] - log.ts[anchors] <= window)
        reached[ok] = k
        finish = np.where(ok, np.maximum(finish, log.ts[found_at]), finish)
        positions.append(found_at)
        alive = ok
    some = reached >= 1
    return _Attempts(anchors[some], reached[some], [p[some] for p in positions], finish[some])


def _chosen(log: _Log, attempts: _Attempts) -> np.ndarray:
    """Each person's attempt that went furthest, the earliest of them (attempts are in the
    log's order: by person, time and id)."""
    person = log.person[attempts.start]
    if person.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(person.size, dtype=bool)
    new[1:] = person[1:] != person[:-1]
    furthest = np.maximum.reduceat(attempts.reached, np.flatnonzero(new))
    best = np.flatnonzero(attempts.reached == furthest[np.cumsum(new) - 1])
    earliest = np.ones(best.size, dtype=bool)
    earliest[1:] = person[best][1:] != person[best][:-1]
    return best[earliest]


def _where(values: np.ndarray, present: np.ndarray) -> list[Any]:
    return [v if ok else None for v, ok in zip(values.tolist(), present.tolist(), strict=True)]


def _breakdown_values(
    connection: Connection,
    spec: FunnelSpec,
    log: _Log,
    attempts: _Attempts,
    chosen: np.ndarray,
    workspace_id: int,
) -> list[Any]:
    """The breakdown's value of each chosen attempt: its person's trait, or the property of
    the one event of the attempt that the breakdown names, read for those alone."""
    breakdown = spec.breakdown
    if breakdown is None:
        return [None] * chosen.size
    if breakdown.kind == "trait":
        persons = log.person[attempts.start[chosen]]
        trait = json_scalar_text(Customer.traits, breakdown.key)
        return _looked_up(
            connection,
            Customer.id,
            trait,
            persons,
            np.ones(chosen.size, bool),
            Customer.workspace_id == workspace_id,
        )
    reached = attempts.reached[chosen]
    present = np.ones(chosen.size, dtype=bool)
    if breakdown.attribution == "first":
        at = attempts.start[chosen]
    elif breakdown.attribution == "last":
        furthest = np.stack([p[chosen] for p in attempts.positions])
        at = furthest[reached - 1, np.arange(chosen.size)]
    else:
        assert breakdown.step is not None
        at, present = attempts.positions[breakdown.step - 1][chosen], reached >= breakdown.step
    value = json_scalar_text(Event.properties, breakdown.key)
    return _looked_up(
        connection, Event.id, value, log.eid[at], present, Event.workspace_id == workspace_id
    )


def _looked_up(
    connection: Connection,
    key: Any,
    value: Any,
    ids: np.ndarray,
    present: np.ndarray,
    scope: ColumnElement[bool],
) -> list[Any]:
    """``value`` of the row of the workspace (``scope``) whose ``key`` is each of ``ids`` (None
    where not ``present``), in one statement whatever the number of ids; the rows come back one
    per value with their keys gathered (a breakdown has few values), not one per key."""
    wanted = np.unique(ids[present])
    # The ids as one text, which the database splits (a list parameter is bound id by id).
    listed = _SEP.join(map(str, wanted.tolist()))
    if connection.dialect.name == "postgresql":
        split = func.string_to_array(listed, _SEP, type_=ARRAY(String()))
        among = key == any_(sql_cast(split, ARRAY(BigInteger())))
    else:
        each = func.json_each("[" + listed + "]").table_valued("value")
        among = key.in_(select(each.c.value))
    rows = select(value.label("value"), key.label("key")).where(scope, among).subquery("found")
    if connection.dialect.name == "postgresql":
        keys: Any = func.array_agg(rows.c.key)
    else:
        keys = func.group_concat(rows.c.key, _SEP)
    values: list[Any] = []
    of_wanted = np.full(wanted.size, -1, dtype=np.int64)  # index into values; -1: no row
    grouped = select(rows.c.value, keys).group_by(rows.c.value)
    for found, gathered in connection.execute(grouped):
        if isinstance(gathered, list):  # PostgreSQL's array
            of_wanted[np.searchsorted(wanted, np.asarray(gathered, dtype=np.int64))] = len(values)
        else:
            of_wanted[np.searchsorted(wanted, _integers(gathered))] = len(values)
        values.append(found)
    values.append(None)  # what index -1 gives
    at = np.searchsorted(wanted, ids[present])
    code = np.full(ids.size, -1, dtype=np.int64)
    code[present] = of_wanted[at]
    return [values[c] for c in code.tolist()]


@dataclass(frozen=True)
class Persons:
    """The persons table column-wise, one entry per person: the step reached, the attempt's
    start and finish (microseconds), per step the time and the event id of its event
    (meaningful up to the step reached; unordered funnels keep only the first event's id) and
    the breakdown's value."""

    person: np.ndarray
    reached: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    times: list[np.ndarray]
    ids: list[np.ndarray]
    value: list[Any]

    @property
    def size(self) -> int:
        return int(self.person.size)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows of the persons table: ``person, reached, start, finish, t1..tn, i1..in,
        value``, a step not reached None."""
        columns: list[list[Any]] = [
            self.person.tolist(),
            self.reached.tolist(),
            self.start.tolist(),
            self.finish.tolist(),
        ]
        columns += [_where(t, self.reached >= k) for k, t in enumerate(self.times, 1)]
        for k in range(1, len(self.times) + 1):
            if k <= len(self.ids):
                columns.append(_where(self.ids[k - 1], self.reached >= k))
            else:
                columns.append([None] * self.size)
        columns.append(self.value)
        return list(zip(*columns, strict=True))

    @classmethod
    def of_rows(cls, rows: Sequence[Any], steps: int) -> Persons:
        """The columns of rows of the persons table (a step not reached: None)."""
        table = np.array(rows, dtype=object).reshape(-1, 5 + 2 * steps)

        def numbers(j: int) -> np.ndarray:
            column = table[:, j]
            return np.where(column == None, 0, column).astype(np.int64)  # noqa: E711

        return cls(
            person=numbers(0),
            reached=numbers(1),
            start=numbers(2),
            finish=numbers(3),
            times=[numbers(4 + k) for k in range(steps)],
            ids=[numbers(4 + steps + k) for k in range(steps)],
            value=table[:, -1].tolist(),
        )


def persons(
    session: Session,
    spec: FunnelSpec,
    events: Select[Any],
    survivors: Select[Any],
    *,
    workspace_id: int,
    start: int,
    end: int,
) -> Persons:
    """Each person's furthest attempt from the ``events`` (the shape of
    :func:`cxloop.journeys.attempts.step_events_query`) of the customers of ``survivors``
    (:func:`cxloop.journeys.attempts.survivors_query`), whose first event falls in [start,
    end) (microseconds)."""
    connection = session.connection()
    log = _read(connection, events, survivors)
    if spec.order == "unordered":
        attempts = _unordered(spec, log, start, end)
    else:
        attempts = _chains(spec, log, start, end)
    chosen = _chosen(log, attempts)
    first = attempts.start[chosen]
    at = [p[chosen] for p in attempts.positions]
    return Persons(
        person=log.person[first],
        reached=attempts.reached[chosen],
        start=log.ts[first],
        finish=attempts.finish[chosen],
        times=[log.ts[p] for p in at],
        ids=[log.eid[first]] if spec.order == "unordered" else [log.eid[p] for p in at],
        value=_breakdown_values(connection, spec, log, attempts, chosen, workspace_id),
    )
