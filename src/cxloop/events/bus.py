"""The internal bus: consumers read the event log in batches, each from its own checkpoint.

A consumer's handler and its checkpoint advance commit in one transaction, so a crash before
the commit replays the batch and a crash after it loses nothing: each event takes effect once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, load_only

from cxloop.core.db import Database
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


consumers: dict[str, Consumer] = {}


def register(consumer: Consumer) -> Consumer:
    consumers[consumer.name] = consumer
    return consumer


def _checkpoint(session: Session, name: str) -> BusCheckpoint:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(BusCheckpoint)
        .values(consumer=name, position=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer"])
    )
    # FOR UPDATE: two workers never handle the same batch (SQLite's write lock does the same).
    checkpoint = session.scalar(
        select(BusCheckpoint).where(BusCheckpoint.consumer == name).with_for_update()
    )
    assert checkpoint is not None
    return checkpoint


def run_once(
    database: Database, consumer: Consumer, *, batch_size: int = 1000, safety_lag: float = 0.0
) -> int:
    """Handle the next batch for ``consumer``; returns how many events it handled."""
    with database.session() as session:
        checkpoint = _checkpoint(session, consumer.name)
        query = (
            select(Event).where(Event.id > checkpoint.position).order_by(Event.id).limit(batch_size)
        )
        columns = getattr(consumer, "columns", None)
        if columns is not None:
            query = query.options(
                load_only(*(getattr(Event, c) for c in ("id", *columns)), raiseload=False)
            )
        if safety_lag > 0:
            query = query.where(Event.received_at <= utcnow() - timedelta(seconds=safety_lag))
        events = list(session.scalars(query))
        if not events:
            return 0
        consumer.handle(session, events)
        checkpoint.position = events[-1].id
        checkpoint.updated_at = utcnow()
        return len(events)


def drain(
    database: Database,
    *,
    batch_size: int = 1000,
    safety_lag: float | None = None,
    names: Sequence[str] | None = None,
) -> int:
    """Run every consumer until it has caught up; returns the events handled in all."""
    lag = safety_lag if safety_lag is not None else (0.0 if database.is_sqlite else 1.0)
    total = 0
    for name in names or list(consumers):
        while handled := run_once(database, consumers[name], batch_size=batch_size, safety_lag=lag):
            total += handled
    return total


def lag_of(session: Session) -> dict[str, int]:
    """How many events each consumer has yet to read."""
    from sqlalchemy import func

    rows = session.execute(select(BusCheckpoint.consumer, BusCheckpoint.position)).all()
    positions: dict[str, int] = {name: position for name, position in rows}
    # Counted, not subtracted from the last id: PostgreSQL sequences leave gaps where a
    # transaction rolled back.
    return {
        name: session.scalar(
            select(func.count()).select_from(Event).where(Event.id > positions.get(name, 0))
        )
        or 0
        for name in consumers
    }


class BusPump(threading.Thread):
    """Keeps every consumer caught up, polling the log; runs inside serve or worker."""

    def __init__(
        self,
        database: Database,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 1000,
        safety_lag: float | None = None,
    ) -> None:
        super().__init__(name="cxloop-bus", daemon=True)
        self.database = database
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.safety_lag = safety_lag
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                drain(self.database, batch_size=self.batch_size, safety_lag=self.safety_lag)
            except Exception:  # keep pumping; the batch is retried from its checkpoint
                log.exception("bus consumer failed; retrying from its checkpoint")
            self._stop_event.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
