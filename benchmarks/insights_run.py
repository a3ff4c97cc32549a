"""The nightly insights run at scale: 1,000,000 customers and 5,000,000 orders on PostgreSQL.

    python benchmarks/insights_run.py                         # PostgreSQL, 1,000,000 customers
    python benchmarks/insights_run.py --customers 100000 --db sqlite

It builds the data of ``insights_history.py`` (one workspace, about five orders per customer
over two years, 2 % refunded, and a small second workspace) plus a catalogue of ``--products``
products with one order item per order (a few popular products, a long tail) and marketing
e-mail consent for six customers in ten, then times one
whole run (``runs.start_run`` + ``runs.perform_run``: RFM, BG/NBD with its holdout check,
Gamma–Gamma, behaviour features, clusters, churn with its BG/NBD baseline, recommendations
where available, and the predictions written) against the in-process baseline of
``load_purchase_history`` alone (one grouped read of the orders). It prints each model's time
from the registry's timestamps where it can, the run's wall time, and this process's peak RSS
(``resource.getrusage``; the database server's memory is not counted).

Goal (issue 14): the run under 15 minutes and under 4 GB on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from _common import drop_pg_database, load_summary, recreate_pg_database
from insights_history import AS_OF, build, bulk_load
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

PG_NAME = "cxloop_bench_insights_run"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1/{PG_NAME}"


def add_catalogue(engine: Engine, workspace_id: int, products: int, seed: int) -> int:
    """Products and one item per order of the workspace, popularity following a power law."""
    rng = np.random.default_rng(seed)
    postgres = engine.dialect.name == "postgresql"
    stamp = AS_OF.strftime("%Y-%m-%d %H:%M:%S") + ("+00" if postgres else ".000000")
    ids = list(range(1, products + 1))
    bulk_load(
        engine,
        "products",
        ["id", "workspace_id", "external_id", "sku", "name", "category", "currency",
         "properties", "created_at"],
        [ids, [workspace_id] * products, [f"P{i}" for i in ids], [f"SKU-{i}" for i in ids],
         [f"Product {i}" for i in ids], [f"category-{i % 20}" for i in ids], ["KRW"] * products,
         ["{}"] * products, [stamp] * products],
    )  # fmt: skip
    with Session(engine) as session:
        order_ids = np.array(
            session.scalars(
                select(text("id"))
                .select_from(text("orders"))
                .where(text(f"workspace_id = {int(workspace_id)}"))
            ).all(),
            dtype=np.int64,
        )
    weights = 1.0 / np.arange(1, products + 1) ** 0.9
    chosen = rng.choice(products, size=order_ids.size, p=weights / weights.sum()) + 1
    n = order_ids.size
    bulk_load(
        engine,
        "order_items",
        ["order_id", "workspace_id", "product_id", "external_product_id", "sku", "name",
         "category", "price", "quantity"],
        [order_ids.tolist(), [workspace_id] * n, chosen.tolist(),
         [f"P{p}" for p in chosen.tolist()], [f"SKU-{p}" for p in chosen.tolist()],
         [f"Product {p}" for p in chosen.tolist()], [f"category-{p % 20}" for p in chosen.tolist()],
         ["10000"] * n, [1] * n],
    )  # fmt: skip
    # Six in ten customers opted in to marketing e-mail (recommendations go to them only).
    with Session(engine) as session:
        customer_ids = np.array(
            session.scalars(
                select(text("id"))
                .select_from(text("customers"))
                .where(text(f"workspace_id = {int(workspace_id)}"))
            ).all(),
            dtype=np.int64,
        )
    opted = customer_ids[rng.random(customer_ids.size) < 0.6]
    signed_up = (AS_OF - timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S") + (
        "+00" if postgres else ".000000"
    )
    m = opted.size
    bulk_load(
        engine,
        "consent_records",
        ["workspace_id", "customer_id", "purpose", "channel", "granted", "source", "evidence",
         "recorded_at"],
        [[workspace_id] * m, opted.tolist(), ["marketing"] * m, ["email"] * m,
         ["true" if postgres else 1] * m, ["signup"] * m, [""] * m, [signed_up] * m],
    )  # fmt: skip
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("SELECT setval('products_id_seq', (SELECT max(id) FROM products))"))
        conn.execute(text("ANALYZE"))
    return n


def measure(engine: Engine, workspace_id: int) -> None:
    from cxloop.core.db import Database
    from cxloop.insights import runs
    from cxloop.insights.features import load_purchase_history
    from cxloop.models import InsightsModelFit

    with Session(engine) as session:
        started = time.perf_counter()
        history = load_purchase_history(session, workspace_id=workspace_id, as_of=AS_OF)
        baseline = time.perf_counter() - started
    database = Database(str(engine.url.render_as_string(hide_password=False)))
    with database.session() as session:
        run_id = runs.start_run(
            session,
            principal=None,
            workspace_id=workspace_id,
            as_of=AS_OF - timedelta(seconds=1),
            trigger="manual",
        ).id
    started = time.perf_counter()
    run = runs.perform_run(database, run_id=run_id)
    wall = time.perf_counter() - started
    assert run is not None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"baseline load_purchase_history: {baseline:.1f} s ({len(history):,} buyers); "
        f"whole run: {wall:.0f} s = {wall / 60:.1f} min ({wall / baseline:.0f}× baseline), "
        f"status {run.status}{(' — ' + run.error) if run.error else ''}; "
        f"peak RSS {peak_mb:,.0f} MB"
    )
    with database.session() as session:
        for fit in session.scalars(
            select(InsightsModelFit)
            .where(InsightsModelFit.run_id == run_id)
            .order_by(InsightsModelFit.id)
        ):
            figures = {
                k: v for k, v in fit.metrics.items() if isinstance(v, int | float) and k != "cells"
            }
            print(f"  {fit.kind}: activated={fit.activated} {figures} {fit.note}")
    database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")

    from cxloop import domains
    from cxloop.core.db import make_engine
    from cxloop.core.migrate import upgrade

    domains.install()
    print(f"machine: {load_summary()}")
    data_dir = Path(tempfile.mkdtemp(prefix="cxloop-bench-insights-run-"))
    url = f"sqlite:///{data_dir / 'cxloop.db'}" if args.db == "sqlite" else PG_URL
    os.environ["CXLOOP_DATA_DIR"] = str(data_dir)
    if args.db == "postgresql":
        recreate_pg_database(PG_NAME)
    try:
        upgrade(url)
        engine = make_engine(url)
        workspace_id, orders, build_s = build(engine, args.customers, args.seed)
        items = add_catalogue(engine, workspace_id, args.products, args.seed)
        print(
            f"{args.db}: {args.customers:,} customers, {orders:,} orders, {items:,} items "
            f"loaded in {build_s:.0f} s"
        )
        measure(engine, workspace_id)
        engine.dispose()
    finally:
        if not args.keep:
            if args.db == "postgresql":
                drop_pg_database(PG_NAME)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
