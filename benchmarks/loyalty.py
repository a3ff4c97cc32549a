"""Loyalty: earning points from the bus, and the nightly tier evaluation, on SQLite and PostgreSQL.

    python benchmarks/loyalty.py                  # PostgreSQL 1M of each, SQLite 200,000
    python benchmarks/loyalty.py --db postgresql  # 1M order events, 1M members
    python benchmarks/loyalty.py --quick          # 50,000 of each, both databases
    python benchmarks/loyalty.py --events 200000 --members 0   # earning only

It builds a fresh PostgreSQL database ``cxloop_bench_loyalty`` (and a SQLite file under the
temporary directory) at the newest migration, and bulk-loads (COPY on PostgreSQL, executemany on
SQLite) two workspaces, each with a loyalty program saved through ``save_program``: a 1 % rate on
orders, 12-month expiry, a 14-day return window and three tiers on spend over 365 days (Basic,
Silver from 300,000 KRW, Gold from 1,000,000 KRW).

Earning: ``--events`` ``Order Completed`` events (SQLite: ``--sqlite-events``) over the last 300
days from a fifth as many customers, each order with its own order id and a revenue in whole
hundreds of KRW (so 1 % is a whole number of points), and the same orders in the orders table
(as ingestion writes them, for the tier upgrades that follow an order). Measured: the bus consumer
``loyalty_earning`` draining the log from its start, ``bus.drain(database,
names=["loyalty_earning"])``, in events/s. Goal ≥ 2,000 events/s. The baseline in the same run is
a bare read of the same events through the bus's own batch query (``after`` and ``log_order``),
1000 at a time, each batch in its own transaction as the consumer reads it. After the run the
ledger is checked: one earn entry per order, points = 1 % of each order. The ledger and the
members grow from nothing during the drain; where the server runs without autovacuum, the
benchmark runs ``ANALYZE`` on them every minute in its stead (see ``autoanalyze``).

Tier evaluation: ``--members`` members (SQLite: ``--sqlite-members``), each a customer with
1 + Poisson(1.5) completed orders over the last 400 days (Gamma-distributed totals), starting in
Basic (70 %), Silver (20 %) or Gold (10 %), half of those above Basic with their tier's period
already over. Measured: ``evaluate_tiers`` over the whole program and its commit, once. Goal
< 5 minutes on PostgreSQL. The baseline is the evaluation's own input: the spend per customer
over the window (``spend_since``) and the members' rows.

Without ``--keep`` the databases are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    bulk_load,
    drop_pg_database,
    load_summary,
    recreate_pg_database,
    stamp,
    without_event_indexes,
)
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

PG_NAME = "cxloop_bench_loyalty"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_NAME}"
DAY = 86_400
CHUNK = 200_000
EARN_GOAL = 2_000.0  # events/s
TIER_GOAL_S = 300.0
PROGRAM: dict[str, Any] = {
    "name": "Bench membership",
    "pending_days": 14,
    "expiry_months": 12,
    "tier_window_days": 365,
    "tiers": [
        {"key": name.lower(), "name": name, "threshold": threshold}
        for name, threshold in (("Basic", 0), ("Silver", 300_000), ("Gold", 1_000_000))
    ],
    "rules": [{"key": "orders", "kind": "order", "rate_percent": 1}],
}


def _workspace_with_program(engine: Engine, slug: str) -> tuple[int, int, list[int]]:
    """A workspace with the benchmark's program; its id, the program's and the tier ids."""
    from cxloop.accounts import service as accounts
    from cxloop.loyalty.program import load_programs, save_program
    from cxloop.loyalty.schemas import ProgramIn

    with Session(engine) as session:
        workspace = accounts.create_workspace(session, name=slug, slug=slug)
        session.flush()
        save_program(
            session,
            principal=accounts.cli_principal(workspace.id),
            workspace_id=workspace.id,
            program_in=ProgramIn.model_validate(PROGRAM),
        )
        program = load_programs(session, workspace_ids=[workspace.id])[workspace.id]
        found = workspace.id, program.program.id, [t.id for t in program.tiers]
        session.commit()
    return found


def _next_id(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()) + 1


def _load_customers(engine: Engine, workspace_id: int, ids: np.ndarray, created: str) -> None:
    n = ids.size
    bulk_load(
        engine,
        "customers",
        ["id", "workspace_id", "traits", "lifecycle_stage", "touchpoints", "event_count",
         "order_count", "total_revenue", "created_at", "updated_at"],
        [ids.tolist(), [workspace_id] * n, ["{}"] * n, ["customer"] * n, ["{}"] * n,
         [0] * n, [0] * n, ["0"] * n, [created] * n, [created] * n],
        chunk=CHUNK,
    )  # fmt: skip


def _load_orders(
    engine: Engine,
    workspace_id: int,
    customer: np.ndarray,
    external: list[str],
    total: np.ndarray,
    at: np.ndarray,
) -> None:
    postgres = engine.dialect.name == "postgresql"
    for lo in range(0, customer.size, CHUNK):
        hi = min(lo + CHUNK, customer.size)
        n = hi - lo
        moments = stamp(at[lo:hi], postgres)
        bulk_load(
            engine,
            "orders",
            ["workspace_id", "customer_id", "external_id", "status", "total", "currency",
             "placed_at", "properties", "created_at"],
            [[workspace_id] * n, customer[lo:hi].tolist(), external[lo:hi],
             ["completed"] * n, [str(t) for t in total[lo:hi].tolist()], ["KRW"] * n,
             moments, ["{}"] * n, moments],
            chunk=CHUNK,
        )  # fmt: skip


def _fix_sequences(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return
    with engine.begin() as conn:
        for table in ("customers", "loyalty_members"):
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))


def build_orders(engine: Engine, events: int, now: int, rng: np.random.Generator) -> int:
    """The earning workspace: customers, their order events and the orders; its id."""
    postgres = engine.dialect.name == "postgresql"
    workspace_id, _program_id, _tiers = _workspace_with_program(engine, "loyalty-earn")
    customers = max(1, events // 5)
    first = _next_id(engine, "customers")
    created = stamp(np.array([now - 400 * DAY]), postgres)[0]
    _load_customers(engine, workspace_id, np.arange(first, first + customers), created)
    at = np.sort(now - 300 * DAY + rng.integers(0, 300 * DAY - 60, events))
    owner = first + rng.integers(0, customers, events)
    revenue = (np.round(rng.gamma(2.0, 30_000.0, events), -2) + 1000).astype(np.int64)
    order_ids = [f"O-{i}" for i in range(events)]
    rebuild = without_event_indexes(engine)
    for lo in range(0, events, CHUNK):
        hi = min(lo + CHUNK, events)
        n = hi - lo
        properties = [
            f'{{"order_id": "{o}", "revenue": {r}, "currency": "KRW"}}'
            for o, r in zip(order_ids[lo:hi], revenue[lo:hi].tolist(), strict=True)
        ]
        moments = stamp(at[lo:hi], postgres)
        bulk_load(
            engine,
            "events",
            ["workspace_id", "customer_id", "message_id", "type", "name", "channel",
             "timestamp", "received_at", "properties", "context"],
            [[workspace_id] * n, owner[lo:hi].tolist(), [f"lb-{i}" for i in range(lo, hi)],
             ["track"] * n, ["Order Completed"] * n, ["web"] * n, moments, moments,
             properties, ["{}"] * n],
            chunk=CHUNK,
        )  # fmt: skip
    rebuild()
    _load_orders(engine, workspace_id, owner, order_ids, revenue, at)
    return workspace_id


def build_members(engine: Engine, members: int, now: int, rng: np.random.Generator) -> int:
    """The tier workspace: members with orders and no events; its id."""
    postgres = engine.dialect.name == "postgresql"
    null = r"\N" if postgres else None
    workspace_id, program_id, tiers = _workspace_with_program(engine, "loyalty-tiers")
    first = _next_id(engine, "customers")
    created = stamp(np.array([now - 500 * DAY]), postgres)[0]
    ids = np.arange(first, first + members)
    _load_customers(engine, workspace_id, ids, created)
    tier = rng.choice(3, members, p=(0.7, 0.2, 0.1))
    # Above Basic: half still inside their tier's period, half past it.
    until = np.where(rng.random(members) < 0.5, now + 90 * DAY, now - 10 * DAY)
    since = stamp(np.full(members, now - 200 * DAY), postgres)
    untils = stamp(until, postgres)
    first_member = _next_id(engine, "loyalty_members")
    bulk_load(
        engine,
        "loyalty_members",
        ["id", "workspace_id", "program_id", "customer_id", "tier_id", "tier_since",
         "tier_until", "created_at"],
        [(first_member + np.arange(members)).tolist(), [workspace_id] * members,
         [program_id] * members, ids.tolist(), [tiers[t] for t in tier.tolist()], since,
         [u if t > 0 else null for u, t in zip(untils, tier.tolist(), strict=True)],
         [created] * members],
        chunk=CHUNK,
    )  # fmt: skip
    per = 1 + rng.poisson(1.5, members)
    customer = np.repeat(ids, per)
    at = now - rng.integers(DAY, 400 * DAY, customer.size)
    total = (np.round(rng.gamma(2.0, 50_000.0, customer.size), -2) + 1000).astype(np.int64)
    external = [f"T-{i}" for i in range(customer.size)]
    _load_orders(engine, workspace_id, customer, external, total, at)
    return workspace_id


# --- measurements ---------------------------------------------------------------------------------


def read_baseline(database: Any) -> tuple[int, float]:
    """The bus's batch query alone over the whole log, 1000 events a batch: events, seconds."""
    from cxloop.events import bus
    from cxloop.models import Event

    position = bus.Position()
    read = 0
    started = time.perf_counter()
    while True:
        with database.session() as session:
            events = list(
                session.scalars(
                    select(Event)
                    .where(bus.after(session, position))
                    .order_by(*bus.log_order(session))
                    .limit(1000)
                )
            )
        if not events:
            return read, time.perf_counter() - started
        read += len(events)
        position = bus.Position.of(events[-1])


@contextmanager
def autoanalyze(engine: Engine) -> Iterator[None]:
    """What autovacuum does while the ledger and the members grow from nothing: ``ANALYZE``
    them every minute (its naptime), when the server has autovacuum off (as the shared test
    server does). Without it the planner keeps the statistics of the empty tables and reads
    every member and ledger row of the program for each batch's lookups."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        if conn.execute(text("SHOW autovacuum")).scalar_one() == "on":
            yield
            return
    print("postgresql: autovacuum is off on this server; ANALYZE every 60 s in its stead")
    done = threading.Event()

    def run() -> None:
        while not done.wait(60):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE loyalty_ledger, loyalty_members"))

    thread = threading.Thread(target=run, name="autoanalyze", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=120)


def measure_earning(database: Any, workspace_id: int) -> dict[str, Any]:
    from cxloop.events import bus
    from cxloop.models import Event, LedgerEntry

    events, read_s = read_baseline(database)
    started = time.perf_counter()
    with autoanalyze(database.engine):
        handled = bus.drain(database, names=["loyalty_earning"])
    earn_s = time.perf_counter() - started
    with database.session() as session:
        entries, points = session.execute(
            select(func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "earn"
            )
        ).one()
        keys = session.scalar(
            select(func.count(func.distinct(LedgerEntry.order_ref))).where(
                LedgerEntry.workspace_id == workspace_id
            )
        )
        revenue = sum(
            int(p["revenue"]) // 100
            for p in session.scalars(
                select(Event.properties).where(Event.workspace_id == workspace_id)
            )
        )
    ok = entries == keys == events and int(points) == revenue
    return {
        "events": handled,
        "read_s": read_s,
        "earn_s": earn_s,
        "check": "one earn entry per order, 1 % each" if ok else "**LEDGER WRONG**",
    }


def measure_tiers(database: Any, workspace_id: int) -> dict[str, Any]:
    from cxloop.events.commerce import spend_since
    from cxloop.loyalty.program import load_programs
    from cxloop.loyalty.tiers import evaluate_tiers
    from cxloop.models import LoyaltyMember

    now = datetime.now(UTC)
    started = time.perf_counter()
    with database.session() as session:
        spent = spend_since(
            session, workspace_id=workspace_id, since=now - timedelta(days=365), customer_ids=None
        )
        rows = session.execute(
            select(LoyaltyMember.id, LoyaltyMember.customer_id, LoyaltyMember.tier_id).where(
                LoyaltyMember.workspace_id == workspace_id
            )
        ).all()
    base_s = time.perf_counter() - started
    started = time.perf_counter()
    with database.session() as session:
        program = load_programs(session, workspace_ids=[workspace_id])[workspace_id]
        result = evaluate_tiers(session, program, now=now)
    tier_s = time.perf_counter() - started
    del spent
    return {"members": len(rows), "base_s": base_s, "tier_s": tier_s, "result": result}


def report(db: str, earning: dict[str, Any] | None, tiers: dict[str, Any] | None) -> None:
    print(f"\n{db}:")
    print("| measurement | figure | × baseline | goal | |")
    print("|---|---|---|---|---|")
    if earning is not None:
        n = earning["events"]
        rate, base = n / earning["earn_s"], n / earning["read_s"]
        met = "met" if rate >= EARN_GOAL else "**missed**"
        print(f"| baseline: read the log, 1000 a batch | {base:,.0f} events/s | 1.0× | | "
              f"{n:,} events in {earning['read_s']:.1f} s |")  # fmt: skip
        print(f"| earning (`loyalty_earning` drain) | {rate:,.0f} events/s | "
              f"{earning['earn_s'] / earning['read_s']:.1f}× the time | ≥ {EARN_GOAL:,.0f}/s "
              f"{met} | {n:,} events in {earning['earn_s']:.1f} s; "
              f"{earning['check']} |")  # fmt: skip
    if tiers is not None:
        r = tiers["result"]
        met = "met" if tiers["tier_s"] < TIER_GOAL_S else "**missed**"
        print(f"| baseline: spend per customer + member rows | {tiers['base_s']:.1f} s | 1.0× | "
              f"| {tiers['members']:,} members |")  # fmt: skip
        print(f"| nightly `evaluate_tiers` | {tiers['tier_s']:.1f} s | "
              f"{tiers['tier_s'] / tiers['base_s']:.1f}× | < {TIER_GOAL_S:.0f} s {met} | "
              f"{r.members:,} members: {r.upgraded:,} up, {r.renewed:,} renewed, "
              f"{r.downgraded:,} down, {r.held:,} held |")  # fmt: skip
    sys.stdout.flush()


@contextmanager
def scratch_database(db: str, *, keep: bool) -> Iterator[str]:
    """A new empty database of ``db``'s kind, its URL; removed afterwards unless ``keep``."""
    if db == "postgresql":
        recreate_pg_database(PG_NAME)
        try:
            yield PG_URL
        finally:
            if not keep:
                drop_pg_database(PG_NAME)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="cxloop-bench-loyalty-"))
    try:
        yield f"sqlite:///{data_dir / 'loyalty.db'}"
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="PostgreSQL's")
    parser.add_argument("--members", type=int, default=1_000_000, help="PostgreSQL's")
    parser.add_argument("--sqlite-events", type=int, default=200_000)
    parser.add_argument("--sqlite-members", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events and members")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    if args.quick:
        args.events = args.members = args.sqlite_events = args.sqlite_members = 50_000
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")

    from cxloop import domains
    from cxloop.core.db import Database
    from cxloop.core.migrate import upgrade

    domains.install()
    print(f"machine: {load_summary()}")
    now = int(time.time())
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        rng = np.random.default_rng(args.seed)
        sqlite = db == "sqlite"
        events = args.sqlite_events if sqlite else args.events
        members = args.sqlite_members if sqlite else args.members
        with scratch_database(db, keep=args.keep) as url:
            upgrade(url)
            database = Database(url)
            started = time.perf_counter()
            earn_ws = build_orders(database.engine, events, now, rng) if events else None
            tier_ws = build_members(database.engine, members, now, rng) if members else None
            _fix_sequences(database.engine)
            print(f"{db}: {events:,} order events, {members:,} members loaded in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
            earning = measure_earning(database, earn_ws) if earn_ws else None
            tiers = measure_tiers(database, tier_ws) if tier_ws else None
            report(db, earning, tiers)
            database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
