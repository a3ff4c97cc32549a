"""Transactions that lose a lock conflict are run again; other errors are not. Read sessions
take no write lock, and independent reads run side by side."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cxloop.core.db import Database, is_transient, run_transaction
from tests.factories import make_customer, make_workspace, unique


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"error {sqlstate}")
        self.sqlstate = sqlstate


def _locked() -> OperationalError:
    return OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))


def _deadlock() -> OperationalError:
    return OperationalError("UPDATE …", {}, _PgError("40P01"))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_locked(), False),  # SQLite already waited its busy timeout for the write lock
        (OperationalError("UPDATE …", {}, _PgError("40P01")), True),  # deadlock detected
        (OperationalError("UPDATE …", {}, _PgError("40001")), True),  # serialization failure
        (OperationalError("SELECT …", {}, _PgError("57P01")), False),  # admin shutdown
        (OperationalError("SELECT …", {}, sqlite3.OperationalError("disk I/O error")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_which_errors_are_worth_another_attempt(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_lost_lock_conflict_is_retried_until_it_passes() -> None:
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _deadlock()
        return "stored"

    assert run_transaction(work, pause=0) == "stored"
    assert len(calls) == 3


def test_retries_stop_after_the_last_attempt() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise _deadlock()

    with pytest.raises(OperationalError):
        run_transaction(work, attempts=3, pause=0)
    assert len(calls) == 3


def test_other_errors_are_raised_at_once() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("disk I/O error"))

    with pytest.raises(OperationalError):
        run_transaction(work, pause=0)
    assert len(calls) == 1


def test_planner_statistics_are_refreshed_on_sqlite(database: Database) -> None:
    from cxloop.events import tasks

    if not database.is_sqlite:
        pytest.skip("PostgreSQL's autovacuum keeps its own statistics")
    with database.session() as session:
        tenant = make_workspace(session, slug=unique("stats-"))
        make_customer(session, workspace=tenant)
    tasks.refresh_planner_statistics.call_local()  # creates sqlite_stat1 if need be
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM main.sqlite_stat1")
    tasks.refresh_planner_statistics.call_local()
    with database.engine.connect() as conn:
        tables = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM main.sqlite_stat1")}
    assert {"customers", "workspaces"} <= tables


# --- read sessions -------------------------------------------------------------------------------


def test_read_all_runs_each_piece_in_a_session_of_its_own_on_the_reader_threads(
    database: Database,
) -> None:
    from sqlalchemy import func, select

    from cxloop.models import Customer

    with database.session() as session:
        tenant = make_workspace(session, slug=unique("reads-"))
        for _ in range(3):
            make_customer(session, workspace=tenant)
        tenant_id = tenant.id
    seen: dict[str, tuple[str, int]] = {}
    barrier = threading.Barrier(2, timeout=10)

    def count(name: str) -> Callable[[Session], int]:
        def run(session: Session) -> int:
            barrier.wait()  # both pieces are running at the same moment
            seen[name] = (threading.current_thread().name, id(session))
            return (
                session.scalar(select(func.count()).where(Customer.workspace_id == tenant_id)) or 0
            )

        return run

    results = database.read_all({"a": count("a"), "b": count("b")})

    assert results == {"a": 3, "b": 3}
    assert all(thread.startswith("cxloop-read") for thread, _ in seen.values())
    assert seen["a"][1] != seen["b"][1]


def test_read_all_raises_the_error_of_a_piece_after_the_others_finished(
    database: Database,
) -> None:
    finished = threading.Event()

    def slow(session: Session) -> int:
        time.sleep(0.2)
        finished.set()
        return 1

    def broken(session: Session) -> int:
        raise ValueError("no such trait")

    with pytest.raises(ValueError, match="no such trait"):
        database.read_all({"slow": slow, "broken": broken})
    assert finished.is_set()


def test_a_long_read_does_not_hold_back_a_writer_on_sqlite(database: Database) -> None:
    from sqlalchemy import select

    from cxloop.models import Workspace

    if not database.is_sqlite:
        pytest.skip("PostgreSQL readers never block writers")
    with database.session() as session:
        tenant = make_workspace(session, slug=unique("reader-"))
        tenant_id = tenant.id
    with database.read_session() as reader:
        assert reader.scalar(select(Workspace.name).where(Workspace.id == tenant_id))
        # the read transaction is open; a writer with no patience at all still gets through
        writer = sqlite3.connect(str(database.engine.url.database), timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE workspaces SET name = 'renamed' WHERE id = ?", (tenant_id,))
            writer.execute("COMMIT")
        finally:
            writer.close()
        # and the reader goes on seeing its own snapshot
        assert reader.scalar(select(Workspace.name).where(Workspace.id == tenant_id)) != "renamed"
    with database.read_session() as reader:
        assert reader.scalar(select(Workspace.name).where(Workspace.id == tenant_id)) == "renamed"


def test_without_concurrent_reads_the_pieces_share_one_session(
    tx_database: Database,
) -> None:
    sessions = []

    def run(session: Session) -> str:
        sessions.append(session)
        return threading.current_thread().name

    results = tx_database.read_all({"a": run, "b": run})

    assert results["a"] == results["b"] == threading.current_thread().name
    assert sessions[0] is sessions[1]
