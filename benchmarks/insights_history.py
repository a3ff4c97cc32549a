"""Purchase histories from the orders table: 1,000,000 customers and 5,000,000 orders.

    python benchmarks/insights_history.py                        # both databases
    python benchmarks/insights_history.py --db sqlite --customers 200000

It builds a fresh SQLite file and a fresh PostgreSQL database ``cxloop_bench_insights`` at the
newest migration and bulk-loads (COPY on PostgreSQL, executemany on SQLite) one workspace with
``--customers`` customers and about five orders each (at least one, geometric beyond it) over two
years, at random seconds, 2 % of them refunded, plus 5 % as many customers and orders in a second
workspace; then ``ANALYZE``. It times ``load_purchase_history`` (the median of ``--repeat`` runs
after a warm-up) and, as the in-process baseline, a bare ``SELECT count(*), sum(total)`` over the
same workspace's orders; then the BG/NBD and Gamma–Gamma fits and the scoring of the histories
read, so the last line is the whole CLV part of a nightly run from the database. The RSS printed
is this process's after the measurements (psutil; building the data needs more); the database
server's memory is not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from _common import bulk_load, drop_pg_database, load_summary, recreate_pg_database, stamp
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

PG_NAME = "cxloop_bench_insights"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1/{PG_NAME}"
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400


def synthetic_orders(
    customers: int, first_id: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Customer ids, placed-at epoch seconds, totals (KRW) and a refunded flag per order."""
    per_customer = rng.geometric(0.2, customers)  # 1 or more, 5 on average
    ids = np.repeat(np.arange(first_id, first_id + customers), per_customer)
    start = int(AS_OF.timestamp()) - SPAN_S
    first = rng.integers(start, int(AS_OF.timestamp()) - 86400, customers)
    first_of = np.repeat(first, per_customer)
    placed = first_of + (rng.random(ids.size) * (int(AS_OF.timestamp()) - first_of)).astype(
        np.int64
    )
    totals = np.round(rng.gamma(2.0, 20_000.0, ids.size), -2) + 1000
    refunded = rng.random(ids.size) < 0.02
    return ids, placed, totals, refunded


def build(engine: Engine, customers: int, seed: int) -> tuple[int, int, float]:
    """The two workspaces' customers and orders; returns the measured workspace, orders, seconds."""
    from cxloop.accounts import service as accounts

    started = time.perf_counter()
    with Session(engine) as session:
        measured = accounts.create_workspace(session, name="Insights bench", slug="insights-bench")
        other = accounts.create_workspace(session, name="Other shop", slug="other-shop")
        session.commit()
        workspace_ids = (measured.id, other.id)
    rng = np.random.default_rng(seed)
    postgres = engine.dialect.name == "postgresql"
    created = stamp(np.array([int(AS_OF.timestamp())]), postgres)[0]
    order_total = 0
    first_id = 1
    for workspace_id, size in zip(workspace_ids, (customers, customers // 20), strict=True):
        ids = list(range(first_id, first_id + size))
        bulk_load(
            engine,
            "customers",
            ["id", "workspace_id", "traits", "lifecycle_stage", "touchpoints", "event_count",
             "order_count", "total_revenue", "created_at", "updated_at"],
            [ids, [workspace_id] * size, ["{}"] * size, ["customer"] * size, ["{}"] * size,
             [0] * size, [0] * size, ["0"] * size, [created] * size, [created] * size],
        )  # fmt: skip
        owner, placed, totals, refunded = synthetic_orders(size, first_id, rng)
        n = owner.size
        bulk_load(
            engine,
            "orders",
            ["workspace_id", "customer_id", "external_id", "status", "total", "currency",
             "placed_at", "properties", "created_at"],
            [[workspace_id] * n, owner.tolist(),
             [f"W{workspace_id}-{i}" for i in range(n)],
             np.where(refunded, "refunded", "completed").tolist(), totals.astype(int).tolist(),
             ["KRW"] * n, stamp(placed, postgres), ["{}"] * n, [created] * n],
        )  # fmt: skip
        if workspace_id == workspace_ids[0]:
            order_total = n
        first_id += size
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))"))
        conn.execute(text("ANALYZE"))
    return workspace_ids[0], order_total, time.perf_counter() - started


def median_time(step: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    result = step()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def measure(engine: Engine, workspace_id: int, repeat: int) -> dict[str, float]:
    from cxloop.insights import clv
    from cxloop.insights.features import load_purchase_history
    from cxloop.models import Order

    with Session(engine) as session:
        _, baseline = median_time(
            lambda: session.execute(
                select(func.count(), func.sum(Order.total)).where(
                    Order.workspace_id == workspace_id
                )
            ).one(),
            repeat,
        )
        history, load_s = median_time(
            lambda: load_purchase_history(session, workspace_id=workspace_id, as_of=AS_OF),
            repeat,
        )
    started = time.perf_counter()
    summary = history.summary()
    bg = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    gg = clv.fit_gamma_gamma(summary.frequency, summary.monetary)
    clv.score_customers(bg.params, gg.params, summary)
    model_s = time.perf_counter() - started
    return {
        "customers": float(len(history)),
        "baseline_s": baseline,
        "history_s": load_s,
        "model_s": model_s,
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "r": bg.params.r,
        "p": gg.params.p,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")

    from cxloop.core.db import make_engine
    from cxloop.core.migrate import upgrade

    print(f"machine: {load_summary()}")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bench-insights-{db}-"))
        url = f"sqlite:///{data_dir / 'cxloop.db'}" if db == "sqlite" else PG_URL
        if db == "postgresql":
            recreate_pg_database(PG_NAME)
        try:
            upgrade(url)
            engine = make_engine(url)
            workspace_id, orders, build_s = build(engine, args.customers, args.seed)
            print(
                f"{db}: {args.customers:,} customers, {orders:,} orders loaded in {build_s:.0f} s"
            )
            got = measure(engine, workspace_id, args.repeat)
            engine.dispose()
            print(
                f"{db}: count(*)+sum over the orders (baseline) {got['baseline_s']:.2f} s; "
                f"load_purchase_history {got['history_s']:.2f} s "
                f"({got['history_s'] / got['baseline_s']:.1f}× baseline, "
                f"{got['customers']:,.0f} buying customers); "
                f"fits and scoring {got['model_s']:.1f} s; "
                f"RSS {got['rss_mb']:,.0f} MB"
            )
        finally:
            if not args.keep:
                if db == "postgresql":
                    drop_pg_database(PG_NAME)
                shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
