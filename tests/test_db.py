"""Transactions that lose a lock conflict are run again; other errors are not."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

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
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
    tasks.refresh_planner_statistics.call_local()
    with database.engine.connect() as conn:
        tables = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
    assert {"customers", "workspaces"} <= tables
