"""The internal bus: consumers read the event log in batches, each from its own checkpoint.

A consumer's handler and its checkpoint advance commit in one transaction, so a crash before
the commit replays the batch and a crash after it loses nothing: each event takes effect once.

Every committed event is read, however late it commits. On SQLite one writer at a time means
ids are handed out in commit order, so the log is read by id. On PostgreSQL ids are taken when
a row is inserted, not when its transaction commits, so a later id can be visible before an
earlier one; there the log is read in (tx, id) order, where ``tx`` is the id of the transaction
that wrote the event, and only below the oldest transaction still running (the snapshot's
xmin): every transaction below it has finished, and any that starts later gets a higher id.
A long write transaction therefore delays the bus, never makes it skip.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, func, literal, or_, select, text, true, tuple_
from sqlalchemy.orm import Session, load_only

from cxloop.core.db import Database, dialect_insert
from cxloop.core.timeutil import utcnow
from cxloop.models import BusCheckpoint, Event

log = logging.getLogger(__name__)


class Consumer(Protocol):
    name: str
    # The event columns the handler reads; the others (the JSON properties and context, the
    # bulk of a row) are not loaded. Reading one that is not listed still works, row by row.
    columns: tuple[str, ...] | None

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        """Apply a batch of events, in log order. Must not commit."""


class Replayable(Consumer, Protocol):
    """A consumer whose ``handle`` is not idempotent (it counts) says how to apply events it
    has handled before without counting them twice."""

    def replay(self, session: Session, events: Sequence[Event], *, upto: Position) -> None:
        """Make the consumer's results right for these events, all at or before ``upto``."""


consumers: dict[str, Consumer] = {}


def register(consumer: Consumer) -> Consumer:
    consumers[consumer.name] = consumer
    return consumer


@dataclass(frozen=True, order=True)
class Position:
    """A place in the log: the writing transaction (0 on SQLite) and the event id."""

    tx: int = 0
    id: int = 0

    @classmethod
    def of(cls, event: Event) -> Position:
        return cls(event.tx, event.id)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def after(session: Session, position: Position) -> ColumnElement[bool]:
    """Events past ``position`` in log order."""
    if _is_postgres(session):
        return tuple_(Event.tx, Event.id) > tuple_(literal(position.tx), literal(position.id))
    return Event.id > position.id


def at_or_before(session: Session, position: Position) -> ColumnElement[bool]:
    if _is_postgres(session):
        return tuple_(Event.tx, Event.id) <= tuple_(literal(position.tx), literal(position.id))
    return Event.id <= position.id


def log_order(session: Session) -> tuple[Any, ...]:
    return (Event.tx, Event.id) if _is_postgres(session) else (Event.id,)


# The lowest transaction id still running in this database (or, when none, one past the
# highest that has finished): every event whose ``tx`` is below it has committed or rolled
# back for good. Transactions of other databases on the same server are left out (ids are
# server-wide, and another application's long transaction must not stall this bus); an id
# whose database is not known (a prepared transaction, a session the role may not see)
# counts as this database's. pg_stat_activity's backend_xid is the 32-bit form of the id.
_OLDEST_RUNNING = text(
    """
    SELECT coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
         WHERE x::text::bigint % 4294967296 NOT IN (
             SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())),
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint),
        pg_current_xact_id_if_assigned()::text::bigint
    """
)


def _finished(session: Session) -> ColumnElement[bool] | None:
    """Events whose transaction has finished (None: all visible ones, as on SQLite).

    Must be the transaction's first statement, before it writes. The reader's own events count
    as finished: a test that runs the bus inside its own transaction sees what it wrote."""
    if not _is_postgres(session):
        return None
    oldest, own = session.execute(_OLDEST_RUNNING).one()
    finished = Event.tx < oldest
    return or_(finished, Event.tx == own) if own is not None else finished


def _checkpoint(session: Session, name: str) -> BusCheckpoint:
    insert = dialect_insert(session)
    session.execute(
        insert(BusCheckpoint)
        .values(consumer=name, tx=0, position=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer"])
    )
    # FOR UPDATE: two workers never handle the same batch (SQLite's write lock does the same).
    checkpoint = session.scalar(
        select(BusCheckpoint)
        .where(BusCheckpoint.consumer == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert checkpoint is not None
    return checkpoint


def hold(session: Session, name: str) -> Position:
    """Lock consumer ``name`` where it is for this transaction (it waits meanwhile); returns
    its position, up to which every event has been handed to it."""
    checkpoint = _checkpoint(session, name)
    return Position(checkpoint.tx, checkpoint.position)


def _load(query: Any, consumer: Consumer) -> Any:
    columns = getattr(consumer, "columns", None)
    if columns is None:
        return query
    wanted = ("id", "tx", *columns)
    return query.options(load_only(*(getattr(Event, c) for c in wanted), raiseload=False))


def run_once(database: Database, consumer: Consumer, *, batch_size: int = 1000) -> int:
    """Handle the next batch for ``consumer``; returns how many events it handled."""
    if database.is_sqlite:
        return _run_once_reading_first(database, consumer, batch_size=batch_size)
    with database.session() as session:
        finished = _finished(session)
        checkpoint = _checkpoint(session, consumer.name)
        query = _batch(session, Position(checkpoint.tx, checkpoint.position), batch_size)
        if finished is not None:
            query = query.where(finished)
        events = list(session.scalars(_load(query, consumer)))
        if not events:
            return 0
        consumer.handle(session, events)
        checkpoint.tx, checkpoint.position = events[-1].tx, events[-1].id
        checkpoint.updated_at = utcnow()
        return len(events)


class _Overtaken(Exception):
    """Another worker handled the batch meanwhile."""


def _run_once_reading_first(database: Database, consumer: Consumer, *, batch_size: int) -> int:
    """SQLite: read the batch, and let the handler read and compute (analyse comments, match
    triggers), before taking the one write lock, which ingestion waits for; the lock comes at
    the handler's first write, or at the checkpoint's. Holding the checkpoint from the start
    would hold the lock all along. A worker that finds the checkpoint moved meanwhile undoes
    its batch."""
    try:
        with database.session(write_on_demand=True) as session:
            seen = session.get(BusCheckpoint, consumer.name)
            start = Position(seen.tx, seen.position) if seen is not None else Position()
            events = list(session.scalars(_load(_batch(session, start, batch_size), consumer)))
            if not events:
                return 0
            consumer.handle(session, events)
            checkpoint = _checkpoint(session, consumer.name)
            if Position(checkpoint.tx, checkpoint.position) != start:
                raise _Overtaken
            checkpoint.tx, checkpoint.position = events[-1].tx, events[-1].id
            checkpoint.updated_at = utcnow()
            return len(events)
    except _Overtaken:
        return 0


def _batch(session: Session, start: Position, batch_size: int) -> Any:
    return (
        select(Event).where(after(session, start)).order_by(*log_order(session)).limit(batch_size)
    )


def drain(database: Database, *, batch_size: int = 1000, names: Sequence[str] | None = None) -> int:
    """Run every consumer until it has caught up; returns the events handled in all."""
    total = 0
    for name in names or list(consumers):
        while handled := run_once(database, consumers[name], batch_size=batch_size):
            total += handled
    return total


def lag_of(session: Session) -> dict[str, int]:
    """How many events each consumer has yet to read."""
    rows = session.execute(
        select(BusCheckpoint.consumer, BusCheckpoint.tx, BusCheckpoint.position)
    ).all()
    positions = {name: Position(tx, position) for name, tx, position in rows}
    # Counted, not subtracted from the last id: PostgreSQL sequences leave gaps where a
    # transaction rolled back.
    return {
        name: session.scalar(
            select(func.count())
            .select_from(Event)
            .where(after(session, positions.get(name, Position())))
        )
        or 0
        for name in consumers
    }


def replay(
    database: Database,
    consumer: Consumer,
    *,
    since: datetime,
    workspace_id: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Hand the events received since ``since`` to ``consumer`` again, up to its checkpoint
    (what comes after is still ahead of it); returns how many. Safe to run at any time and
    more than once: handlers are idempotent, and a counting one replays by recounting."""
    apply = getattr(consumer, "replay", None)
    done = 0
    position = Position()
    while True:
        with database.session() as session:
            # Held for the batch: the live consumer waits rather than moving the end meanwhile.
            upto = hold(session, consumer.name)
            query = (
                select(Event)
                .where(
                    after(session, position),
                    at_or_before(session, upto),
                    Event.received_at >= since,
                    Event.workspace_id == workspace_id if workspace_id is not None else true(),
                )
                .order_by(*log_order(session))
                .limit(batch_size)
            )
            events = list(session.scalars(_load(query, consumer)))
            if not events:
                return done
            if apply is not None:
                apply(session, events, upto=upto)
            else:
                consumer.handle(session, events)
            position = Position.of(events[-1])
        done += len(events)
        if progress is not None:
            progress(len(events))


class BusPump(threading.Thread):
    """Keeps every consumer caught up, polling the log; runs inside serve or worker."""

    def __init__(
        self,
        database: Database,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 1000,
    ) -> None:
        super().__init__(name="cxloop-bus", daemon=True)
        self.database = database
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                drain(self.database, batch_size=self.batch_size)
            except Exception:  # keep pumping; the batch is retried from its checkpoint
                log.exception("bus consumer failed; retrying from its checkpoint")
            self._stop_event.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
