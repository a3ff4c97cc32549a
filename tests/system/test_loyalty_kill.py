"""A `cxloop worker` killed with SIGKILL in the middle of earning points, on PostgreSQL with
Redis as in production: what it had committed is whole (every batch's points with its
checkpoint), and after a restart every order has earned exactly once, 1 % of its total, and
every member's balance is the sum of their ledger and of their lots' remainders."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cxloop.accounts.service import cli_principal
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.events import bus, service
from cxloop.events.segment import parse_message
from cxloop.loyalty import ledger
from cxloop.loyalty.program import save_program
from cxloop.loyalty.schemas import ProgramIn
from cxloop.models import BusCheckpoint, Event, LedgerEntry, LoyaltyMember, Workspace
from tests.conftest import IS_POSTGRES
from tests.factories import make_workspace
from tests.loyalty.test_earning import PROGRAM as EARNING_PROGRAM

REDIS_URL = os.environ.get("CXLOOP_TEST_REDIS_URL")
NAME = "loyalty_earning"
ORDERS = 20_000
CUSTOMERS = 3_000

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not IS_POSTGRES, reason="`cxloop worker` runs on PostgreSQL"),
    pytest.mark.skipif(not REDIS_URL, reason="CXLOOP_TEST_REDIS_URL is not set"),
]

# The tiers of the earning tests, with one rule: 1 % of every order, whatever the tier.
PROGRAM = ProgramIn.model_validate(
    {**EARNING_PROGRAM, "rules": [{"key": "orders", "kind": "order", "rate_percent": 1}]}
)


@pytest.fixture
def shop(database: Database) -> Iterator[tuple[int, dict[str, int]]]:
    """A committed workspace with its program and 20,000 orders from 3,000 customers in its
    log, none earned yet; its id and each order's total. Removed afterwards."""
    rng = random.Random(20261206)
    start = datetime.now(UTC) - timedelta(days=200)
    totals = {f"K-{n}": rng.randrange(10, 3000) * 100 for n in range(ORDERS)}
    with database.session() as session:
        workspace = make_workspace(session)
        save_program(
            session,
            principal=cli_principal(workspace.id),
            workspace_id=workspace.id,
            program_in=PROGRAM,
        )
        workspace_id = workspace.id
    orders = list(totals.items())
    for lo in range(0, ORDERS, 1000):
        received = datetime.now(UTC)
        messages = [
            parse_message(
                {
                    "type": "track",
                    "userId": f"kill-{rng.randrange(CUSTOMERS)}",
                    "event": "Order Completed",
                    "messageId": f"kill-{order_id}",
                    "timestamp": (start + timedelta(minutes=10 * (lo + i))).isoformat(),
                    "properties": {"order_id": order_id, "total": total, "currency": "KRW"},
                },
                type_=None,
                index=None,
                received_at=received,
            )
            for i, (order_id, total) in enumerate(orders[lo : lo + 1000])
        ]
        with database.session() as session:
            stored = session.get(Workspace, workspace_id)
            assert stored is not None
            service.ingest(session, workspace=stored, messages=messages, received_at=received)
    yield workspace_id, totals
    with database.session() as session:
        session.execute(delete(Workspace).where(Workspace.id == workspace_id))


def start_worker(settings: Settings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CXLOOP_DATABASE_URL": settings.db_url, "CXLOOP_REDIS_URL": REDIS_URL}
    return subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "worker", "--threads", "1"],
        env={k: v for k, v in env.items() if v is not None},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def checkpoint(database: Database) -> bus.Position:
    with database.session() as session:
        found = session.get(BusCheckpoint, NAME)
        return bus.Position(found.tx, found.position) if found else bus.Position()


def earned(session: Session, workspace_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "earn"
            )
        )
        or 0
    )


def handed_over(session: Session, workspace_id: int, upto: bus.Position) -> int:
    """The workspace's events at or before ``upto`` in log order."""
    return (
        session.scalar(
            select(func.count()).where(
                Event.workspace_id == workspace_id, bus.at_or_before(session, upto)
            )
        )
        or 0
    )


def wait_for(
    condition: str, check: Callable[[], bool], worker: subprocess.Popen[bytes], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited (code {worker.returncode}) before {condition}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {condition} within {seconds:.0f} s")
        time.sleep(0.02)


def test_a_worker_killed_while_earning_earns_every_order_once_after_a_restart(
    settings: Settings, database: Database, shop: tuple[int, dict[str, int]], tmp_path: Path
) -> None:
    workspace_id, totals = shop
    with database.session() as session:
        first = session.scalars(
            select(Event)
            .where(Event.workspace_id == workspace_id)
            .order_by(*bus.log_order(session))
        ).first()
        last = session.scalars(
            select(Event)
            .where(Event.workspace_id == workspace_id)
            .order_by(*(column.desc() for column in bus.log_order(session)))
        ).first()
        assert first is not None and last is not None
        start, end = bus.Position.of(first), bus.Position.of(last)
    assert checkpoint(database) < start

    # given a worker earning the shop's orders, killed once a few batches of them are in
    with (tmp_path / "worker.log").open("ab") as log:
        worker = start_worker(settings, log)
        try:
            wait_for(
                "earning under way", lambda: checkpoint(database) >= start, worker, seconds=300
            )
            time.sleep(random.uniform(0.5, 1.5))  # into a later batch, at no chosen moment
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL

        # then what it committed is whole: the points of exactly the events up to its checkpoint
        at_kill = checkpoint(database)
        with database.session() as session:
            earned_at_kill = earned(session, workspace_id)
            assert earned_at_kill == handed_over(session, workspace_id, at_kill)
        assert start <= at_kill < end, "killed before or after earning, not in the middle"
        assert 0 < earned_at_kill < ORDERS

        # when it is started again and has caught up
        worker = start_worker(settings, log)
        try:
            wait_for("catching up", lambda: checkpoint(database) >= end, worker, seconds=600)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)

    # then every order has earned once, 1 % of its total
    with database.session() as session:
        rows = session.execute(
            select(LedgerEntry.order_ref, func.count(), func.sum(LedgerEntry.amount))
            .where(LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "earn")
            .group_by(LedgerEntry.order_ref)
        ).all()
        assert len(rows) == ORDERS
        assert {ref: (n, int(points)) for ref, n, points in rows} == {
            ref: (1, total // 100) for ref, total in totals.items()
        }
        assert (
            session.scalar(
                select(func.count(func.distinct(LedgerEntry.source_key))).where(
                    LedgerEntry.workspace_id == workspace_id
                )
            )
            == ORDERS
        )

        # and every balance is the sum of its ledger and of its lots' remainders
        sums = {
            member_id: (int(amount), int(remaining))
            for member_id, amount, remaining in session.execute(
                select(
                    LedgerEntry.member_id,
                    func.sum(LedgerEntry.amount),
                    func.sum(func.coalesce(LedgerEntry.remaining, 0)),
                )
                .where(LedgerEntry.workspace_id == workspace_id)
                .group_by(LedgerEntry.member_id)
            )
        }
        members = session.scalars(
            select(LoyaltyMember.id).where(LoyaltyMember.workspace_id == workspace_id)
        ).all()
        assert len(members) == len(sums) <= CUSTOMERS
        now = datetime.now(UTC)
        for member_id in members:
            total = ledger.balances(session, member_id=member_id, now=now)["points"].total
            assert (total, total) == sums[member_id], member_id
        assert sum(amount for amount, _ in sums.values()) == sum(totals.values()) // 100
