"""Does every committed event reach the bus consumers under concurrent load?

Starts a real ``cxloop serve`` (and, on PostgreSQL, a ``cxloop worker`` beside it, both
pumping the bus, with Redis for jobs), sends N events in batches from several client threads
(one in ten an ``Order Completed`` with its own order id), waits until the bus has caught up,
then compares what the consumers derived with the log:

- events stored vs the sum of the profiles' event counts (the difference is what the bus
  skipped);
- completed orders stored vs the sum of the profiles' order counts;
- profiles whose counters differ from the log (``cxloop bus check``).

    python benchmarks/bus_integrity.py                      # PostgreSQL + Redis, 20,000 events
    python benchmarks/bus_integrity.py --db sqlite
    python benchmarks/bus_integrity.py --no-worker          # one serve, no worker nor Redis
    python benchmarks/bus_integrity.py --events 5000 --clients 8

It prints figures and asserts nothing; a difference other than 0 is a fault.
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from _common import (
    Server,
    cli,
    drop_pg_database,
    post_all,
    recreate_pg_database,
    server_env,
)
from sqlalchemy import create_engine, func, select

from cxloop.models import Customer, Event, Order


def bodies(events: int, batch: int, seed: int) -> tuple[list[bytes], int]:
    """Batches of track calls from events/10 users, each user's last event an order; the
    events of one user spread over many batches, so concurrent requests share profiles."""
    rng = random.Random(seed)
    users = max(1, events // 10)
    stream: list[dict[str, Any]] = []
    orders = 0
    for u in range(users):
        user = f"user-{u}"
        for n in range(10):
            if n == 9:
                orders += 1
                stream.append(
                    {
                        "type": "track",
                        "userId": user,
                        "event": "Order Completed",
                        "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                        "properties": {"order_id": f"O-{u}", "total": 10000 + u},
                    }
                )
            else:
                stream.append(
                    {
                        "type": "track",
                        "userId": user,
                        "event": "Product Viewed",
                        "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                        "properties": {"product_id": f"P-{n}"},
                    }
                )
    rng.shuffle(stream)
    stream = stream[:events]
    return [
        orjson.dumps({"batch": stream[i : i + batch]}) for i in range(0, len(stream), batch)
    ], orders


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bus-{kind}-"))
    url = (
        f"postgresql+psycopg://postgres@127.0.0.1/{args.pg_db}"
        if kind == "postgres"
        else f"sqlite:///{data_dir / 'cxloop.db'}"
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        if kind == "postgres":
            recreate_pg_database(args.pg_db)
        env = server_env(data_dir, url)
        with_worker = kind == "postgres" and not args.no_worker
        if with_worker:
            env["CXLOOP_REDIS_URL"] = args.redis_url
        cli(env, "migrate")
        cli(env, "workspace", "create", "Bus", "--slug", "bus")
        key = cli(env, "key", "create", "--workspace", "bus", "--kind", "write").strip()
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json",
        }
        payloads, orders = bodies(args.events, args.batch, args.seed)
        with Server(env, data_dir / "serve.log") as server:
            if with_worker:
                log = (data_dir / "worker.log").open("ab")
                worker = subprocess.Popen(
                    [sys.executable, "-m", "cxloop.cli", "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            load = post_all(
                f"{server.url}/v1/batch",
                payloads,
                workers=args.clients,
                headers=auth,
                time_limit=args.time_limit,
            )
            caught_up = wait_for_bus(env, args.wait)
            reader = create_engine(url)
            figures = derived(reader)
            reader.dispose()
        try:
            cli(env, "bus", "check", "--workspace", "bus")
            check = "agree"
        except RuntimeError as exc:
            check = str(exc).splitlines()[1] if "\n" in str(exc) else str(exc)
        return {
            "kind": kind,
            "sent": sum(len(orjson.loads(b)["batch"]) for b in payloads),
            "orders_sent": orders,
            "accepted_requests": load.ok,
            "requests": load.requests,
            "elapsed": load.elapsed,
            "caught_up_after": caught_up,
            "check": check,
            **figures,
        }
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        if kind == "postgres" and not args.keep:
            drop_pg_database(args.pg_db)
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_for_bus(env: dict[str, str], limit: float) -> float:
    """Seconds until every consumer has read every event (``cxloop bus status``)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        status = cli(env, "bus", "status")
        if all(line.endswith(": 0 events behind") for line in status.strip().splitlines()):
            return time.perf_counter() - start
        time.sleep(1)
    return float("nan")


def derived(reader: Any) -> dict[str, int]:
    with reader.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Event)) or 0
        counted = conn.scalar(select(func.coalesce(func.sum(Customer.event_count), 0))) or 0
        orders = (
            conn.scalar(select(func.count()).select_from(Order).where(Order.status == "completed"))
            or 0
        )
        order_counts = conn.scalar(select(func.coalesce(func.sum(Customer.order_count), 0))) or 0
    return {
        "stored": int(stored),
        "counted": int(counted),
        "orders_stored": int(orders),
        "orders_counted": int(order_counts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgres", "sqlite", "both"), default="postgres")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the bus")
    parser.add_argument("--pg-db", default="cxloop_bus_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument(
        "--no-worker", action="store_true", help="PostgreSQL: one serve, no worker, no Redis"
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    kinds = ("postgres", "sqlite") if args.db == "both" else (args.db,)
    for kind in kinds:
        r = run(kind, args)
        print(
            f"== {kind}: {r['requests']} requests of {args.batch} events from {args.clients} "
            f"clients in {r['elapsed']:.1f} s, {r['accepted_requests']} accepted"
        )
        print(
            f"   events  sent {r['sent']:,}  stored {r['stored']:,}  counted by the bus "
            f"{r['counted']:,}  skipped {r['stored'] - r['counted']:,}"
        )
        print(
            f"   orders  sent {r['orders_sent']:,}  stored {r['orders_stored']:,}  counted "
            f"{r['orders_counted']:,}  skipped {r['orders_stored'] - r['orders_counted']:,}"
        )
        print(
            f"   bus caught up {r['caught_up_after']:.1f} s after the load; bus check: {r['check']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
