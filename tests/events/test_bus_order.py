"""The bus sees every committed event, however late its transaction commits, and what it
missed before can be found (`cxloop bus check`) and repaired (`cxloop bus replay`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.events import bus, service
from cxloop.events.consumers import profile_activity
from cxloop.events.segment import parse_message
from cxloop.models import BusCheckpoint, Customer, Event, Identity, Workspace
from tests.conftest import IS_POSTGRES
from tests.factories import make_workspace, unique
from tests.helpers.cli import Result

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def workspace(database: Database) -> Iterator[Workspace]:
    """A committed workspace, removed afterwards with everything in it."""
    with database.session() as session:
        workspace = make_workspace(session)
    yield workspace
    with database.session() as session:
        session.execute(delete(Workspace).where(Workspace.id == workspace.id))


def track(session: Session, workspace: Workspace, user: str, event: str, **properties: Any) -> None:
    now = datetime.now(UTC)
    message = parse_message(
        {"type": "track", "userId": user, "event": event, "properties": properties},
        type_=None,
        index=None,
        received_at=now,
    )
    service.ingest(session, workspace=workspace, messages=[message], received_at=now)


@dataclass
class Recorder:
    """A consumer that notes the messages it is handed, in order."""

    workspace_id: int
    name: str
    columns: tuple[str, ...] | None = ("workspace_id", "user_id")
    seen: list[str] | None = None

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        self.seen = (self.seen or []) + [
            e.user_id or "" for e in events if e.workspace_id == self.workspace_id
        ]


@pytest.fixture
def recorder(database: Database, workspace: Workspace) -> Iterator[Recorder]:
    consumer = Recorder(workspace.id, unique("recorder-"))
    while bus.run_once(database, consumer, batch_size=10_000):
        pass  # past whatever other tests left in the log
    consumer.seen = []
    yield consumer
    with database.session() as session:
        session.execute(delete(BusCheckpoint).where(BusCheckpoint.consumer == consumer.name))


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has one writer: its ids follow commit order")
def test_a_transaction_that_commits_late_is_not_skipped(
    database: Database, workspace: Workspace, recorder: Recorder
) -> None:
    # given a transaction that writes an event and stays open
    early = database.sessionmaker()
    try:
        track(early, workspace, "early", "Page Viewed")
        early.flush()
        # when a later transaction writes an event (a higher id) and commits first
        with database.session() as later:
            track(later, workspace, "later", "Page Viewed")
        # then the bus waits for the open one rather than passing it
        while bus.run_once(database, recorder):
            pass
        assert recorder.seen == []
        early.commit()
    finally:
        early.close()
    # and once it commits, both are handed over, the early one first
    while bus.run_once(database, recorder):
        pass
    assert recorder.seen == ["early", "later"]


@pytest.mark.skipif(not IS_POSTGRES, reason="a PostgreSQL server holds other databases")
def test_a_long_transaction_in_another_database_does_not_hold_the_bus_back(
    database: Database, workspace: Workspace, recorder: Recorder
) -> None:
    import psycopg

    # given another application's transaction, open on the same server in another database
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as other:
        other.execute("SELECT pg_current_xact_id()")
        # when an event of this database commits
        with database.session() as session:
            track(session, workspace, "now", "Page Viewed")
        # then the bus hands it over at once
        while bus.run_once(database, recorder):
            pass
        assert recorder.seen == ["now"]
        other.rollback()


def test_events_committed_in_turn_are_each_handled_once(
    database: Database, workspace: Workspace, recorder: Recorder
) -> None:
    for user in ("a", "b", "c"):
        with database.session() as session:
            track(session, workspace, user, "Page Viewed")
        bus.run_once(database, recorder)
    assert bus.run_once(database, recorder) == 0
    assert recorder.seen == ["a", "b", "c"]


@dataclass
class SlowReader:
    """A consumer that reads, waits to be let go (as comment analysis takes its time), then
    writes."""

    workspace_id: int
    name: str
    columns: tuple[str, ...] | None = ("workspace_id",)
    reading: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    batches: int = 0

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        session.scalar(select(func.count()).select_from(Workspace))
        self.reading.set()
        assert self.go.wait(30)
        self.batches += 1
        session.execute(
            update(Workspace)
            .where(Workspace.id == self.workspace_id)
            .values(name=f"handled {self.batches}")
        )


@pytest.fixture
def slow_reader(database: Database, workspace: Workspace) -> Iterator[SlowReader]:
    consumer = SlowReader(workspace.id, unique("slow-"))
    consumer.go.set()
    while bus.run_once(database, consumer, batch_size=10_000):
        pass
    consumer.go.clear()
    consumer.reading.clear()
    consumer.batches = 0
    yield consumer
    consumer.go.set()
    with database.session() as session:
        session.execute(delete(BusCheckpoint).where(BusCheckpoint.consumer == consumer.name))


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's one write lock")
def test_a_consumer_reading_its_batch_does_not_hold_back_ingestion(
    database: Database, workspace: Workspace, slow_reader: SlowReader
) -> None:
    with database.session() as session:
        track(session, workspace, "a", "Page Viewed")
    # given the consumer busy with the reading part of its batch
    worker = threading.Thread(target=bus.run_once, args=(database, slow_reader))
    worker.start()
    try:
        assert slow_reader.reading.wait(30)
        # when an event is ingested meanwhile, then it commits (the bus holds no lock yet)
        with database.session() as session:
            track(session, workspace, "b", "Page Viewed")
    finally:
        slow_reader.go.set()
        worker.join(30)
    # and the consumer's own write and checkpoint still land, and the new event is next
    assert bus.run_once(database, slow_reader) == 1
    with database.session() as session:
        assert session.get(Workspace, workspace.id).name == "handled 2"  # type: ignore[union-attr]


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's one write lock")
def test_a_worker_overtaken_on_its_batch_undoes_it(
    database: Database, workspace: Workspace, slow_reader: SlowReader
) -> None:
    with database.session() as session:
        track(session, workspace, "a", "Page Viewed")
    handled: list[int] = []
    slow_reader.batches = 10  # its write would name the workspace "handled 11"
    # given one worker in the middle of a batch
    first = threading.Thread(
        target=lambda: handled.append(bus.run_once(database, slow_reader)), name="first"
    )
    first.start()
    assert slow_reader.reading.wait(30)
    # when a second worker handles the same batch and commits first
    second = SlowReader(workspace.id, slow_reader.name)
    second.go.set()
    handled.append(bus.run_once(database, second))
    with database.session() as session:
        assert session.get(Workspace, workspace.id).name == "handled 1"  # type: ignore[union-attr]
    slow_reader.go.set()
    first.join(30)
    # then the first undoes its copy: the batch took effect once
    assert handled == [1, 0]
    with database.session() as session:
        assert session.get(Workspace, workspace.id).name == "handled 1"  # type: ignore[union-attr]


def test_an_event_whose_profile_merged_after_it_was_read_counts_on_the_survivor(
    database: Database, workspace: Workspace
) -> None:
    # given a known customer whose events are counted
    with database.session() as session:
        track(session, workspace, "kim", "Page Viewed")
    bus.drain(database, names=[profile_activity.name])
    # and a visitor's event read by the bus, not yet counted
    now = datetime.now(UTC)
    with database.session() as session:
        message = parse_message(
            {"type": "page", "anonymousId": "visitor-1", "name": "Home"},
            type_=None,
            index=None,
            received_at=now,
        )
        service.ingest(session, workspace=workspace, messages=[message], received_at=now)
    with database.session() as session:
        batch = list(
            session.scalars(
                select(Event).where(Event.workspace_id == workspace.id, Event.type == "page")
            )
        )
    # when the visitor signs in as that customer meanwhile, merging the profiles
    with database.session() as session:
        message = parse_message(
            {"type": "identify", "userId": "kim", "anonymousId": "visitor-1"},
            type_=None,
            index=None,
            received_at=now,
        )
        service.ingest(session, workspace=workspace, messages=[message], received_at=now)
    # and the bus then counts the batch it read
    with database.session() as session:
        profile_activity.handle(session, batch)
    # then the event counts on the surviving profile, not on the merged one
    assert counters(database, workspace, "kim") == (2, {"server": 2}, 0, 0)
    with database.session() as session:
        merged = session.scalars(
            select(Customer).where(
                Customer.workspace_id == workspace.id, Customer.merged_into_id.is_not(None)
            )
        ).one()
        assert merged.event_count == 0


# --- finding and repairing what a consumer missed ----------------------------------------------


def counters(database: Database, workspace: Workspace, user: str) -> tuple[Any, ...]:
    with database.session() as session:
        customer = session.scalars(
            select(Customer)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.workspace_id == workspace.id, Identity.value == user)
        ).one()
        return (
            customer.event_count,
            customer.touchpoints,
            customer.order_count,
            int(customer.total_revenue),
        )


def skip_ahead(database: Database) -> None:
    """Move profile_activity past every stored event without handling them, as a consumer
    that skipped a late commit would have."""
    with database.session() as session:
        checkpoint = session.get(BusCheckpoint, profile_activity.name)
        assert checkpoint is not None
        last = session.execute(
            select(Event.tx, Event.id).order_by(Event.tx.desc(), Event.id.desc()).limit(1)
        ).one()
        checkpoint.tx, checkpoint.position = last


def test_check_finds_skipped_events_and_replay_recounts_them_once(
    database: Database, workspace: Workspace, cli: Callable[..., Result]
) -> None:
    # given a profile whose first events were handled and whose next three were skipped
    with database.session() as session:
        track(session, workspace, "kim", "Page Viewed")
    bus.drain(database, names=[profile_activity.name])
    with database.session() as session:
        track(session, workspace, "kim", "Page Viewed")
        track(session, workspace, "kim", "Order Completed", order_id="A-1", total=39000)
        track(session, workspace, "kim", "Product Viewed")
    skip_ahead(database)
    assert counters(database, workspace, "kim") == (1, {"server": 1}, 0, 0)

    # when an operator checks the workspace
    checked = cli("bus", "check", "-w", workspace.slug)
    # then the profile is named and the command fails
    assert checked.code == 1
    assert "1 profiles differ from the event log" in checked.output

    # when the consumer is handed the day's events again, twice
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for _ in range(2):
        replayed = cli(
            "bus", "replay", "-c", "profile_activity", "--since", since, "-w", workspace.slug
        )
        assert replayed.code == 0, replayed.output
        assert "4 events replayed to profile_activity." in replayed.output
    # then each event counts once
    assert counters(database, workspace, "kim") == (4, {"server": 4}, 1, 39000)
    assert cli("bus", "check", "-w", workspace.slug).code == 0


def test_check_repairs_counters_that_differ(
    database: Database, workspace: Workspace, cli: Callable[..., Result]
) -> None:
    with database.session() as session:
        for user in ("lee", "park"):
            track(session, workspace, user, "Page Viewed")
    bus.drain(database, names=[profile_activity.name])
    with database.session() as session:
        ids = session.scalars(
            select(Customer.id).where(Customer.workspace_id == workspace.id)
        ).all()
        for customer in session.scalars(select(Customer).where(Customer.id.in_(ids))):
            customer.event_count += 5

    assert cli("bus", "check", "-w", workspace.slug).code == 1
    repaired = cli("bus", "check", "-w", workspace.slug, "--repair")
    assert (repaired.code, "2 profiles recounted." in repaired.output) == (0, True)
    assert counters(database, workspace, "lee") == (1, {"server": 1}, 0, 0)
    assert cli("bus", "check", "-w", workspace.slug).code == 0
    with database.session() as session:
        total = session.scalar(
            select(func.sum(Customer.event_count)).where(Customer.workspace_id == workspace.id)
        )
    assert total == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--consumer", "nobody", "--since", "2026-12-01"),
            "No consumer named 'nobody'",
            id="consumer",
        ),
        pytest.param(
            ("--consumer", "profile_activity", "--since", "yesterday"),
            "--since takes a day (YYYY-MM-DD) or an ISO 8601 time, not 'yesterday'.",
            id="since",
        ),
    ],
)
def test_replay_errors(cli: Callable[..., Result], args: tuple[str, ...], message: str) -> None:
    result = cli("bus", "replay", *args)
    assert result.code == 1
    assert message in result.output
