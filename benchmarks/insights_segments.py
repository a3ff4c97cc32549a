"""Counting a segment: a 5-condition rule compiled to one query, on SQLite and PostgreSQL.

    python benchmarks/insights_segments.py                      # SQLite 200k, PostgreSQL 1M
    python benchmarks/insights_segments.py --quick              # 20k / 50k customers
    python benchmarks/insights_segments.py --db postgresql --keep
    python benchmarks/insights_segments.py --db postgresql --reuse   # measure the kept data again

It builds a fresh SQLite file and a fresh PostgreSQL database ``bench_segments`` at the newest
migration and bulk-loads (COPY on PostgreSQL, executemany on SQLite) one workspace with
``--customers`` customers (PostgreSQL 1,000,000, SQLite 200,000) and 20 events each over the
last year (20,000,000 and 4,000,000), written in time order as a log is; about 3 orders per
customer over two years, 2 % refunded; one current prediction per customer; NPS answers from a
third of them; a tier trait (3 % VIP); 0.5 % of profiles merged into another and 0.2 % erased;
plus 5 % as many customers, events and orders in a second workspace. On PostgreSQL the events'
indexes are dropped for the load and built again after it, then ``VACUUM (ANALYZE)`` runs as
autovacuum would; SQLite gets ``ANALYZE``.

It times ``count_matching`` (the median of ``--repeat`` runs after a warm-up) of the example
segment of the issue plus an event condition ("VIP tier or predicted CLV in the top 10 %, bought
in the last 90 days, last NPS ≤ 6, viewed products at least 3 times in the last 30 days"), the
same rule with the event condition negated, and as the in-process baseline a bare count of the
workspace's events of the last 30 days. ``--with-index`` first adds the index the report proposes
(not in the models) to show what it changes; ``--no-jit`` runs the counts with PostgreSQL's JIT
compilation off (it costs seconds on these plans); ``--work-mem 64MB`` gives the measured session
that much memory for each sort and hash (the server's default, 4 MB, has the aggregates of a few
hundred thousand customers spill to disk).
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

PG_NAME = "bench_segments"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_NAME}"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = 86400
CHUNK = 500_000
EVENT_NAMES = ("Page Viewed", "Product Viewed", "Product Added", "Order Completed", "Signed In")
EVENT_WEIGHTS = (0.45, 0.30, 0.12, 0.05, 0.08)
CATEGORIES = ("shoes", "bags", "outer", "beauty", "kids")
TIERS = ("VIP", "Gold", "Silver", "Basic")
TIER_WEIGHTS = (0.03, 0.12, 0.35, 0.50)
PROPOSED_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_events_workspace_name_timestamp "
    "ON events (workspace_id, name, timestamp, customer_id)"
)

SEGMENT: dict[str, Any] = {
    "type": "all",
    "rules": [
        {
            "type": "any",
            "rules": [
                {"type": "trait", "key": "tier", "op": "eq", "value": "VIP"},
                {"type": "prediction", "field": "clv_percentile", "op": "top_percent", "value": 10},
            ],
        },
        {"type": "order", "within_days": 90},
        {"type": "score", "metric": "nps", "op": "lte", "value": 6},
        {"type": "event", "name": "Product Viewed", "at_least": 3, "within_days": 30},
    ],
}
SEGMENT_NEGATED: dict[str, Any] = {
    "type": "all",
    "rules": [
        *SEGMENT["rules"][:3],
        {"type": "not", "rule": SEGMENT["rules"][3]},
    ],
}


def build(engine: Engine, customers: int, events_each: int, seed: int) -> tuple[int, int, float]:
    """Both workspaces' data; returns the measured workspace, its events, seconds taken."""
    from cxloop.accounts import service as accounts
    from cxloop.models import InsightsRun, Survey

    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    rng = np.random.default_rng(seed)
    now_s = int(NOW.timestamp())
    created = stamp(np.array([now_s - 400 * DAY]), postgres)[0]
    with Session(engine) as session:
        measured = accounts.create_workspace(session, name="Segments bench", slug="segments")
        other = accounts.create_workspace(session, name="Other shop", slug="other-shop")
        session.flush()
        ids = (measured.id, other.id)
        runs, surveys = {}, {}
        for workspace_id in ids:
            run = InsightsRun(workspace_id=workspace_id, status="ready", as_of=NOW)
            survey = Survey(workspace_id=workspace_id, key="nps", name="NPS", kind="nps")
            session.add_all([run, survey])
            session.flush()
            runs[workspace_id], surveys[workspace_id] = run.id, survey.id
        session.commit()
    rebuild_event_indexes = without_event_indexes(engine)
    first_id = 1
    measured_events = 0
    for workspace_id, size in zip(ids, (customers, max(1, customers // 20)), strict=True):
        cid = np.arange(first_id, first_id + size)
        # Profiles: a tier trait; a few merged into their neighbour, a few erased.
        tiers = rng.choice(len(TIERS), size, p=TIER_WEIGHTS)
        traits = [f'{{"tier": "{TIERS[t]}", "age": {a}}}' for t, a in
                  zip(tiers, rng.integers(18, 70, size), strict=True)]  # fmt: skip
        merged = (rng.random(size) < 0.005) & (cid % 2 == 0)
        erased = ~merged & (rng.random(size) < 0.002)
        bulk_load(
            engine,
            "customers",
            ["id", "workspace_id", "traits", "lifecycle_stage", "touchpoints", "event_count",
             "order_count", "total_revenue", "merged_into_id", "erased_at", "created_at",
             "updated_at"],
            [cid.tolist(), [workspace_id] * size, traits, ["customer"] * size, ["{}"] * size,
             [0] * size, [0] * size, ["0"] * size,
             [(str(c - 1) if postgres else c - 1) if m else (r"\N" if postgres else None)
              for c, m in zip(cid.tolist(), merged.tolist(), strict=True)],
             [created if e else (r"\N" if postgres else None) for e in erased.tolist()],
             [created] * size, [created] * size],
            chunk=CHUNK,
        )  # fmt: skip
        # Predictions of the live profiles: CLV (gamma), its percentile rank, churn risk.
        live = cid[~merged]
        clv = rng.gamma(1.5, 80_000.0, live.size)
        rank = np.argsort(np.argsort(clv))
        percentile = np.round(rank / max(1, live.size - 1), 6)
        n = live.size
        bulk_load(
            engine,
            "customer_predictions",
            ["workspace_id", "customer_id", "run_id", "rfm_cell", "clv_12m", "clv_percentile",
             "churn_risk", "p_alive", "churn_reasons", "recommendations", "updated_at"],
            [[workspace_id] * n, live.tolist(), [runs[workspace_id]] * n, ["loyal"] * n,
             np.round(clv, 0).tolist(), percentile.tolist(), np.round(rng.random(n), 4).tolist(),
             np.round(rng.random(n), 4).tolist(), ["[]"] * n, ["[]"] * n, [created] * n],
            chunk=CHUNK,
        )  # fmt: skip
        # Orders: ~3 per customer over two years, 2 % refunded.
        per_customer = rng.geometric(0.33, size)
        owner = np.repeat(cid, per_customer)
        placed = now_s - rng.integers(60, 730 * DAY, owner.size)
        n = owner.size
        bulk_load(
            engine,
            "orders",
            ["workspace_id", "customer_id", "external_id", "status", "total", "currency",
             "placed_at", "properties", "created_at"],
            [[workspace_id] * n, owner.tolist(), [f"W{workspace_id}-{i}" for i in range(n)],
             np.where(rng.random(n) < 0.02, "refunded", "completed").tolist(),
             (np.round(rng.gamma(2.0, 20_000.0, n), -2) + 1000).astype(int).tolist(),
             ["KRW"] * n, stamp(placed, postgres), ["{}"] * n, stamp(placed, postgres)],
            chunk=CHUNK,
        )  # fmt: skip
        # NPS answers: a third of the customers, one or two answers in the last year.
        answering = cid[rng.random(size) < 0.33]
        owner = np.repeat(answering, rng.integers(1, 3, answering.size))
        submitted = now_s - rng.integers(60, 365 * DAY, owner.size)
        n = owner.size
        bulk_load(
            engine,
            "survey_responses",
            ["workspace_id", "survey_id", "version", "customer_id", "channel", "locale",
             "answers", "hidden", "nps", "completed", "source", "started_at", "submitted_at"],
            [[workspace_id] * n, [surveys[workspace_id]] * n, [1] * n, owner.tolist(),
             ["link"] * n, ["ko"] * n, ["{}"] * n, ["{}"] * n, rng.integers(0, 11, n).tolist(),
             ["true" if postgres else 1] * n, ["cxloop"] * n, stamp(submitted, postgres),
             stamp(submitted, postgres)],
            chunk=CHUNK,
        )  # fmt: skip
        # Events: some customers far more active than others, in time order as a log is.
        total = size * events_each
        activity = np.cumsum(rng.gamma(0.7, 1.0, size))
        for lo in range(0, total, CHUNK * 4):
            n = min(CHUNK * 4, total - lo)
            # Time order across chunks: each chunk covers its own slice of the year.
            start = now_s - 365 * DAY + (365 * DAY * lo) // total
            end = now_s - 365 * DAY + (365 * DAY * (lo + n)) // total
            at = np.sort(rng.integers(start, max(start + 1, end), n))
            who = cid[np.searchsorted(activity, rng.random(n) * activity[-1])]
            name = rng.choice(len(EVENT_NAMES), n, p=EVENT_WEIGHTS)
            category = rng.integers(0, len(CATEGORIES), n)
            moments = stamp(at, postgres)
            properties = [
                f'{{"category": "{CATEGORIES[c]}"}}' if k == 1 else "{}"
                for k, c in zip(name.tolist(), category.tolist(), strict=True)
            ]
            bulk_load(
                engine,
                "events",
                ["workspace_id", "customer_id", "message_id", "type", "name", "channel",
                 "timestamp", "received_at", "properties", "context"],
                [[workspace_id] * n, who.tolist(),
                 [f"m{workspace_id}-{lo + i}" for i in range(n)], ["track"] * n,
                 [EVENT_NAMES[k] for k in name.tolist()], ["server"] * n, moments, moments,
                 properties, ["{}"] * n],
                chunk=CHUNK,
            )  # fmt: skip
        if workspace_id == ids[0]:
            measured_events = total
        first_id += size
    rebuild_event_indexes()
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))"))
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return ids[0], measured_events, time.perf_counter() - started


def median_time(step: Callable[[], Any], repeat: int) -> tuple[Any, float, list[float]]:
    result = step()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times), times


def measure(
    engine: Engine, workspace_id: int, repeat: int, no_jit: bool, work_mem: str | None
) -> dict[str, Any]:
    from cxloop.insights.segments import count_matching
    from cxloop.models import Event

    figures: dict[str, Any] = {}
    with Session(engine) as session:
        if no_jit:
            session.execute(text("SET jit = off"))
        if work_mem:
            session.execute(text("SELECT set_config('work_mem', :m, false)"), {"m": work_mem})
        since = NOW - timedelta(days=30)
        figures["baseline"] = median_time(
            lambda: session.scalar(
                select(func.count()).where(
                    Event.workspace_id == workspace_id,
                    Event.timestamp >= since,
                    Event.timestamp <= NOW,
                )
            ),
            repeat,
        )
        for name, rule in (("segment", SEGMENT), ("negated", SEGMENT_NEGATED)):
            figures[name] = median_time(
                lambda rule=rule: count_matching(
                    session, rule, workspace_id=workspace_id, now=NOW, tz="Asia/Seoul"
                ),
                repeat,
            )
    return figures


def explain(engine: Engine, workspace_id: int) -> str:
    """The plan of the counted statement, for the record."""
    from cxloop.insights.segments import compile_rule

    statement = select(func.count()).select_from(
        compile_rule(SEGMENT, workspace_id=workspace_id, now=NOW, tz="Asia/Seoul").subquery()
    )
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join(" | ".join(str(c) for c in row) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="20k / 50k customers")
    parser.add_argument("--customers", type=int, help="customers of the measured workspace")
    parser.add_argument("--events-each", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept PostgreSQL database")
    parser.add_argument("--sqlite-path", help="a SQLite file to build (or reuse) instead of a temp")
    parser.add_argument("--with-index", action="store_true", help="add the proposed index first")
    parser.add_argument("--explain", action="store_true", help="print the query plan")
    parser.add_argument(
        "--no-jit", action="store_true", help="PostgreSQL: SET jit = off for the measured session"
    )
    parser.add_argument(
        "--work-mem", help="PostgreSQL: work_mem of the measured session (e.g. 64MB)"
    )
    args = parser.parse_args()
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")

    from cxloop.core.db import make_engine
    from cxloop.core.migrate import upgrade

    print(f"machine: {load_summary()}")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        default = (20_000 if db == "sqlite" else 50_000) if args.quick else (
            200_000 if db == "sqlite" else 1_000_000
        )  # fmt: skip
        customers = args.customers or default
        data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bench-segments-{db}-"))
        if db == "sqlite":
            path = Path(args.sqlite_path) if args.sqlite_path else data_dir / "cxloop.db"
            url = f"sqlite:///{path}"
            reuse = args.reuse and path.exists()
        else:
            url, reuse = PG_URL, args.reuse
        try:
            if not reuse:
                if db == "postgresql":
                    recreate_pg_database(PG_NAME)
                upgrade(url)
            engine = make_engine(url)
            if reuse:
                with engine.connect() as conn:
                    workspace_id = conn.execute(
                        text("SELECT id FROM workspaces WHERE slug = 'segments'")
                    ).scalar_one()
                    events = conn.execute(
                        text("SELECT count(*) FROM events WHERE workspace_id = :w"),
                        {"w": workspace_id},
                    ).scalar_one()
                    customers = conn.execute(
                        text("SELECT count(*) FROM customers WHERE workspace_id = :w"),
                        {"w": workspace_id},
                    ).scalar_one()
                print(f"{db}: reusing {customers:,} customers, {events:,} events")
            else:
                workspace_id, events, build_s = build(
                    engine, customers, args.events_each, args.seed
                )
                print(f"{db}: {customers:,} customers, {events:,} events loaded in {build_s:.0f} s")
            if args.with_index:
                with engine.begin() as conn:
                    conn.execute(text(PROPOSED_INDEX))
                    conn.execute(text("ANALYZE events"))
                print(f"{db}: with the proposed index: {PROPOSED_INDEX}")
            no_jit = args.no_jit and db == "postgresql"
            if no_jit:
                print(f"{db}: JIT off for the measured session")
            work_mem = args.work_mem if db == "postgresql" else None
            if work_mem:
                print(f"{db}: work_mem {work_mem} for the measured session")
            got = measure(engine, workspace_id, args.repeat, no_jit, work_mem)
            baseline = got["baseline"][1]
            print(
                f"{db}: count of the workspace's events of the last 30 days (baseline) "
                f"{baseline * 1000:.0f} ms ({got['baseline'][0]:,} events)"
            )
            goal = 3.0 if db == "sqlite" else 1.0
            for name in ("segment", "negated"):
                count, median, times = got[name]
                print(
                    f"{db}: count_matching, {name} rule: {count:,} customers in "
                    f"{median * 1000:.0f} ms median ({baseline and median / baseline:.1f}× "
                    f"baseline; runs {', '.join(f'{t * 1000:.0f}' for t in times)} ms); "
                    f"goal < {goal:.0f} s {'met' if median < goal else 'MISSED'}"
                )
            if args.explain:
                print(explain(engine, workspace_id))
            engine.dispose()
        finally:
            if not args.keep:
                if db == "postgresql":
                    drop_pg_database(PG_NAME)
                shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
