"""Ingestion throughput of a real ``cxloop serve``, against a raw bulk insert of the same rows.

    python benchmarks/ingest.py --quick              # about 4 minutes
    python benchmarks/ingest.py --db both            # 1,000,000 events preloaded; ~20 minutes

For each database (SQLite file, PostgreSQL database ``cxloop_bench``) and each state of the
log (nearly empty, then with ``--preload`` events stored) it measures:

1. batched ingestion: 500 mixed Segment events per ``POST /v1/batch`` → events/s
2. single events: one ``POST /v1/track`` per event → requests/s, p50/p99 latency
3. the ceiling: a raw executemany INSERT of the same rows into the same ``events`` table, through
   the same engine settings and driver, 500 rows per transaction → rows/s

and the server's peak RSS. Each ingestion figure is printed as a ratio to the ceiling. Results
go to ``benchmarks/results/ingest-<db>.json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psutil
from _common import (
    LoadResult,
    Sampler,
    Server,
    cli,
    drop_pg_database,
    load_summary,
    post_all,
    process_cpu_seconds,
    recreate_pg_database,
    server_env,
)
from sqlalchemy import Engine, create_engine, event, func, insert, literal, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import NullPool

from cxloop.core.db import make_engine
from cxloop.events import bus, consumers  # noqa: F401  (registers the bus consumers)
from cxloop.events.service import parse_batch
from cxloop.models import (
    BusCheckpoint,
    Customer,
    CustomerMerge,
    Event,
    Identity,
    Workspace,
)
from cxloop.models.base import table_of

BATCH = 500
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_BATCHED_EPS = 10_000
GOAL_SINGLE_P99_MS = 50.0
GOAL_RSS_MB = 400.0


@dataclass(frozen=True)
class Sizes:
    """How much work each step does; every loop is bounded by a count and a time limit."""

    preload: int
    batches: int  # timed /v1/batch requests of 500 events per state of the log
    singles: int  # timed /v1/track requests per state of the log
    baseline_rows: int
    batch_seconds: float
    single_seconds: float
    bus_wait_seconds: float


FULL = Sizes(1_000_000, 200, 6_000, 50_000, 90.0, 30.0, 60.0)
QUICK = Sizes(50_000, 30, 1_500, 10_000, 30.0, 15.0, 30.0)


# --- the workload: visitors browsing, signing up, logging in again, ordering ---------------------

PAGES = (
    ("Home", "/"),
    ("Category", "/c/skincare"),
    ("Category", "/c/makeup"),
    ("Search", "/search?q=%EC%84%A0%ED%81%AC%EB%A6%BC"),
    ("Product", "/p/"),
    ("Product", "/p/"),
    ("Cart", "/cart"),
    ("Event", "/events/winter-sale"),
)
TRACKS = ("Product Viewed", "Product Added", "Products Searched", "Checkout Started", "Coupon Used")
SERVER_TRACKS = ("Subscription Renewed", "Review Submitted", "Points Earned")
SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = (
    "민준",
    "서연",
    "도윤",
    "하은",
    "시우",
    "지유",
    "예준",
    "서윤",
    "주원",
    "지민",
    "하준",
    "수아",
)
CATEGORIES = ("스킨케어", "메이크업", "헤어", "바디", "향수")
BRANDS = ("달빛", "소담", "Hanbit", "미소", "Cloudy")
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Workload:
    """A deterministic stream of Segment messages from interleaved visitor sessions.

    Session mix: 45% anonymous browsing; 20% sign-ups (an anonymous visitor identifies as a
    new user); 15% returning users logging in on a new device (their anonymous profile is then
    merged into the existing one); 20% server-side events of returning users (userId only),
    half of them ``Order Completed`` with products.
    """

    def __init__(self, seed: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.known: list[tuple[str, str]] = []  # (userId, anonymousId) of users that exist
        self.users = 0
        self.orders = 0
        self.catalogue = [
            {
                "product_id": f"P{n:05d}",
                "sku": f"SKU-{n:05d}",
                "name": f"{self.rng.choice(BRANDS)} {self.rng.choice(CATEGORIES)} {n}",
                "category": self.rng.choice(CATEGORIES),
                "brand": self.rng.choice(BRANDS),
                "price": self.rng.randrange(50, 2000) * 100,
            }
            for n in range(300)
        ]
        self.active: list[Iterator[dict[str, Any]]] = [self._session() for _ in range(64)]

    # ids
    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_user(self) -> str:
        self.users += 1
        return f"{self.tag}u{self.users}"

    def _browser_context(self) -> dict[str, Any]:
        return {
            "library": {"name": "analytics.js", "version": "npm:next-1.76.0"},
            "userAgent": USER_AGENT,
            "locale": "ko-KR",
            "timezone": "Asia/Seoul",
            "ip": f"203.0.113.{self.rng.randrange(1, 255)}",
            "campaign": {"source": "naver", "medium": "cpc", "name": "winter-sale"}
            if self.rng.random() < 0.2
            else {},
        }

    # messages
    def _base(self, type_: str, anon: str | None, user: str | None, ctx: dict[str, Any]) -> dict:
        message: dict[str, Any] = {
            "type": type_,
            "messageId": f"ajs-next-{self.new_uuid()}",
            "context": ctx,
            "timestamp": iso(datetime.now(UTC)),
        }
        if anon:
            message["anonymousId"] = anon
        if user:
            message["userId"] = user
        return message

    def _page(self, anon: str, user: str | None, ctx: dict[str, Any]) -> dict[str, Any]:
        name, path = self.rng.choice(PAGES)
        if path == "/p/":
            path += self.rng.choice(self.catalogue)["product_id"]
        message = self._base("page", anon, user, ctx)
        message["name"] = name
        message["properties"] = {
            "path": path,
            "url": f"https://shop.example.kr{path}",
            "title": f"{name} | 예시몰",
            "referrer": "https://search.naver.com/" if self.rng.random() < 0.3 else "",
        }
        return message

    def _track(self, anon: str | None, user: str | None, ctx: dict[str, Any], name: str) -> dict:
        message = self._base("track", anon, user, ctx)
        message["event"] = name
        if name.startswith("Product"):
            message["properties"] = {**self.rng.choice(self.catalogue), "currency": "KRW"}
        else:
            message["properties"] = {"value": self.rng.randrange(1, 100)}
        return message

    def _order(self, anon: str | None, user: str, ctx: dict[str, Any]) -> dict[str, Any]:
        self.orders += 1
        items = [
            {**product, "quantity": self.rng.randrange(1, 4)}
            for product in self.rng.sample(self.catalogue, self.rng.randrange(1, 4))
        ]
        total = sum(i["price"] * i["quantity"] for i in items)
        message = self._base("track", anon, user, ctx)
        message["event"] = "Order Completed"
        message["properties"] = {
            "order_id": f"{self.tag}o{self.orders}",
            "total": total,
            "revenue": total,
            "shipping": 3000,
            "currency": "KRW",
            "products": items,
        }
        return message

    def _identify(self, anon: str, user: str, ctx: dict[str, Any]) -> dict[str, Any]:
        number = int(user.rsplit("u", 1)[1])
        # Preloaded users ("pu…") get phone numbers of their own range.
        prefix = 5000 if user.startswith("pu") else 1000
        message = self._base("identify", anon, user, ctx)
        traits: dict[str, Any] = {
            "email": f"{user}@example.kr",
            "name": self.rng.choice(SURNAMES) + self.rng.choice(GIVEN),
            "plan": self.rng.choice(("basic", "vip")),
        }
        if self.rng.random() < 0.5:
            traits["phone"] = f"010-{prefix + number // 10_000}-{number % 10_000:04d}"
        message["traits"] = traits
        return message

    # sessions
    def _session(self) -> Iterator[dict[str, Any]]:
        r = self.rng.random()
        if r < 0.45 or (r >= 0.65 and not self.known):
            return self._browse()
        if r < 0.65:
            return self._signup()
        if r < 0.80:
            return self._login()
        return self._server_side()

    def _browse(self) -> Iterator[dict[str, Any]]:
        anon, ctx = self.new_uuid(), self._browser_context()
        for _ in range(self.rng.randrange(2, 7)):
            yield self._page(anon, None, ctx)
        for _ in range(self.rng.randrange(0, 3)):
            yield self._track(anon, None, ctx, "Product Viewed")

    def _signup(self) -> Iterator[dict[str, Any]]:
        anon, ctx = self.new_uuid(), self._browser_context()
        for _ in range(self.rng.randrange(1, 4)):
            yield self._page(anon, None, ctx)
        user = self._new_user()
        self.known.append((user, anon))
        yield self._identify(anon, user, ctx)
        for _ in range(self.rng.randrange(1, 4)):
            yield self._track(anon, user, ctx, self.rng.choice(TRACKS))
        if self.rng.random() < 0.3:
            yield self._order(anon, user, ctx)

    def _login(self) -> Iterator[dict[str, Any]]:
        anon, ctx = self.new_uuid(), self._browser_context()
        user, _ = self.rng.choice(self.known)
        for _ in range(self.rng.randrange(1, 3)):
            yield self._page(anon, None, ctx)
        yield self._identify(anon, user, ctx)
        for _ in range(self.rng.randrange(1, 5)):
            yield self._track(anon, user, ctx, self.rng.choice(TRACKS))
        if self.rng.random() < 0.4:
            yield self._order(anon, user, ctx)

    def _server_side(self) -> Iterator[dict[str, Any]]:
        user, _ = self.rng.choice(self.known)
        ctx = {"library": {"name": "analytics-python", "version": "2.3.3"}}
        for _ in range(self.rng.randrange(1, 4)):
            if self.rng.random() < 0.5:
                yield self._order(None, user, ctx)
            else:
                yield self._track(None, user, ctx, self.rng.choice(SERVER_TRACKS))

    def events(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` messages of the interleaved sessions."""
        out: list[dict[str, Any]] = []
        while len(out) < n:
            i = self.rng.randrange(len(self.active))
            try:
                out.append(next(self.active[i]))
            except StopIteration:
                self.active[i] = self._session()
        return out

    def batch_bodies(self, count: int) -> list[bytes]:
        """``count`` serialised ``/v1/batch`` bodies of 500 events each."""
        bodies = []
        for _ in range(count):
            body = orjson.dumps({"batch": self.events(BATCH), "sentAt": iso(datetime.now(UTC))})
            assert len(body) < 500 * 1024, f"a batch body is {len(body)} bytes"
            bodies.append(body)
        return bodies

    def track_bodies(self, count: int) -> list[bytes]:
        """``count`` serialised ``/v1/track`` bodies: mostly returning users, some visitors."""
        bodies = []
        for _ in range(count):
            ctx = self._browser_context()
            if self.known and self.rng.random() < 0.8:
                user, anon = self.rng.choice(self.known)
                message = self._track(anon, user, ctx, self.rng.choice(TRACKS))
            else:
                message = self._track(self.new_uuid(), None, ctx, "Product Viewed")
            del message["type"]
            message["sentAt"] = message["timestamp"]
            bodies.append(orjson.dumps(message))
        return bodies


# --- direct database work: ceiling, preload, bus checkpoints -------------------------------------


def event_rows(
    workspace_id: int, customer_ids: list[int], events: list[dict[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    """The ``events`` rows ingestion would write for these messages (parsed the same way)."""
    received_at = datetime.now(UTC)
    messages = parse_batch({"batch": events}, received_at=received_at)
    return [
        {
            "workspace_id": workspace_id,
            "customer_id": rng.choice(customer_ids),
            "message_id": m.message_id,
            "type": m.type,
            "name": m.name,
            "channel": m.channel,
            "user_id": m.user_id,
            "anonymous_id": m.anonymous_id,
            "timestamp": m.timestamp,
            "received_at": received_at,
            "properties": m.traits if m.type == "identify" else m.properties,
            "context": m.context,
        }
        for m in messages
    ]


def raw_insert(engine: Engine, rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Insert ``rows`` with executemany, 500 per transaction; returns (seconds, client CPU s)."""
    statement = insert(table_of(Event))
    cpu0, t0 = process_cpu_seconds(), time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(statement, rows[start : start + BATCH])
    return time.perf_counter() - t0, process_cpu_seconds() - cpu0


def new_customer_ids(conn: Any, count: int) -> list[int]:
    """Ids for ``count`` customers written with explicit ids (the sequence stays right)."""
    if conn.dialect.name == "postgresql":
        return list(
            conn.scalars(
                text("SELECT nextval('customers_id_seq') FROM generate_series(1, :n)"), {"n": count}
            )
        )
    top = conn.scalar(select(func.max(Customer.id))) or 0
    return list(range(top + 1, top + 1 + count))


def make_customers(conn: Any, workspace_id: int, count: int) -> list[int]:
    ids = new_customer_ids(conn, count)
    now = datetime.now(UTC)
    conn.execute(
        insert(table_of(Customer)),
        [
            {
                "id": cid,
                "workspace_id": workspace_id,
                "traits": {},
                "touchpoints": {},
                "lifecycle_stage": "anonymous",
                "event_count": 0,
                "order_count": 0,
                "total_revenue": Decimal(0),
                "created_at": now,
                "updated_at": now,
            }
            for cid in ids
        ],
    )
    return ids


def loader_engine(engine: Engine) -> Engine:
    """An engine for bulk loading: on SQLite without fsync and with a large page cache (the
    durability of the preload does not matter, its speed does); else ``engine`` itself."""
    if engine.dialect.name != "sqlite":
        return engine
    loader = create_engine(
        engine.url,
        json_serializer=lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode(),
        poolclass=NullPool,
    )

    @event.listens_for(loader, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.close()

    return loader


def preload(
    engine: Engine,
    workspace_id: int,
    n_events: int,
    workload: Workload,
    seed: int,
    *,
    analyze_sqlite: bool = False,
) -> dict[str, float]:
    """Store ``n_events`` plausible events of a year (with their customers and identities)
    straight through Core bulk inserts; identified users join the workload's returning users."""
    rng = random.Random(seed)
    per_customer = 8
    n_customers = max(1, n_events // per_customer)
    chunk = 2_000  # customers per transaction (~16,000 events)
    now = datetime.now(UTC)
    start_of_year = now - timedelta(days=365)
    events_table, identities_table = table_of(Event), table_of(Identity)
    customers_table = table_of(Customer)
    browser = {
        "library": {"name": "analytics.js", "version": "npm:next-1.76.0"},
        "userAgent": USER_AGENT,
        "locale": "ko-KR",
        "timezone": "Asia/Seoul",
    }
    written = 0
    t0 = time.perf_counter()
    loader = loader_engine(engine)
    with loader.connect() as conn:
        done_customers = 0
        while done_customers < n_customers and written < n_events:
            count = min(chunk, n_customers - done_customers)
            with conn.begin():
                ids = new_customer_ids(conn, count)
                customers, identities, events = [], [], []
                for cid in ids:
                    number = done_customers
                    done_customers += 1
                    anon = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    identified = rng.random() < 0.7
                    user = f"pu{number}" if identified else None
                    left = n_events - written - len(events)
                    n = left if done_customers == n_customers else min(per_customer, left)
                    first = start_of_year + timedelta(seconds=rng.randrange(0, 360 * 86400))
                    times = sorted(
                        first + timedelta(seconds=rng.randrange(0, 5 * 86400)) for _ in range(n)
                    )
                    traits = {"email": f"{user}@example.kr", "name": "고객"} if user else {}
                    customers.append(
                        {
                            "id": cid,
                            "workspace_id": workspace_id,
                            "display_name": traits.get("name"),
                            "email": traits.get("email"),
                            "traits": traits,
                            "touchpoints": {"web": n},
                            "lifecycle_stage": "lead" if user else "anonymous",
                            "event_count": n,
                            "order_count": 0,
                            "total_revenue": Decimal(0),
                            "first_seen_at": times[0] if times else first,
                            "last_seen_at": times[-1] if times else first,
                            "created_at": first,
                            "updated_at": times[-1] if times else first,
                        }
                    )
                    keys = [("anonymous_id", anon)]
                    if user:
                        keys += [("user_id", user), ("email", f"{user}@example.kr")]
                        workload.known.append((user, anon))
                    identities += [
                        {
                            "workspace_id": workspace_id,
                            "customer_id": cid,
                            "kind": kind,
                            "value": value,
                            "source": "segment",
                            "created_at": first,
                        }
                        for kind, value in keys
                    ]
                    for i, moment in enumerate(times):
                        known = user is not None and i >= 2
                        kind = "identify" if known and i == 2 else rng.choice(("page", "track"))
                        if kind == "page":
                            name, path = rng.choice(PAGES)
                            props: dict[str, Any] = {"path": path, "title": name}
                        elif kind == "track":
                            name = rng.choice(TRACKS[2:] + SERVER_TRACKS)
                            props = {"value": rng.randrange(1, 100)}
                        else:
                            name, props = None, traits
                        events.append(
                            {
                                "workspace_id": workspace_id,
                                "customer_id": cid,
                                "message_id": f"ajs-next-{uuid.UUID(int=rng.getrandbits(128))}",
                                "type": kind,
                                "name": name,
                                "channel": "web",
                                "user_id": user if known else None,
                                "anonymous_id": anon,
                                "timestamp": moment,
                                "received_at": moment + timedelta(seconds=1),
                                "properties": props,
                                "context": browser,
                            }
                        )
                conn.execute(insert(customers_table), customers)
                conn.execute(insert(identities_table), identities)
                conn.execute(insert(events_table), events)
                written += len(events)
            print(f"  preloaded {written:,}/{n_events:,} events", end="\r", flush=True)
    load_seconds = time.perf_counter() - t0
    if loader is not engine:
        loader.dispose()
    print()
    t1 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        # What autovacuum would do soon anyway; done now so it does not run during the timing.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("events", "customers", "identities"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    elif analyze_sqlite:
        # Not what a cxloop server does by itself (it never gathers SQLite statistics): a
        # diagnostic of how much the query plans chosen without them cost.
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return {
        "events": written,
        "customers": done_customers,
        "load_seconds": round(load_seconds, 1),
        "rows_per_second": round(written / load_seconds),
        "vacuum_seconds": round(time.perf_counter() - t1, 1),
    }


def skip_bus_backlog(engine: Engine) -> None:
    """Move every bus consumer past the rows written directly (preload, ceiling), so the
    server's bus only reads what it ingests itself."""
    with engine.begin() as conn:
        last = conn.execute(
            select(Event.tx, Event.id).order_by(Event.tx.desc(), Event.id.desc()).limit(1)
        ).first()
        tx, top = tuple(last) if last is not None else (0, 0)
        names = set(bus.consumers) | set(conn.scalars(select(BusCheckpoint.consumer)))
        insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for name in sorted(names):
            statement = insert_(BusCheckpoint).values(
                consumer=name, tx=tx, position=top, updated_at=datetime.now(UTC)
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["consumer"], set_={"tx": tx, "position": top}
                )
            )


def bus_backlog(reader: Engine) -> int:
    """Events the slowest bus consumer has not handled yet."""
    with reader.connect() as conn:
        slowest = conn.execute(
            select(BusCheckpoint.tx, BusCheckpoint.position)
            .order_by(BusCheckpoint.tx, BusCheckpoint.position)
            .limit(1)
        ).first()
        tx, position = tuple(slowest) if slowest is not None else (0, 0)
        behind = tuple_(Event.tx, Event.id) > tuple_(literal(tx), literal(position))
        return int(conn.scalar(select(func.count()).where(behind)) or 0)


def wait_for_bus(reader: Engine, limit: float) -> tuple[float, int]:
    """Seconds until the bus caught up (bounded by ``limit``) and the backlog left then."""
    t0 = time.perf_counter()
    while True:
        left = bus_backlog(reader)
        if left == 0 or time.perf_counter() - t0 > limit:
            return time.perf_counter() - t0, left
        time.sleep(0.25)


def counts(reader: Engine, workspace_id: int) -> tuple[int, int, int]:
    """(events, customers, merges) of a workspace."""
    with reader.connect() as conn:
        events = conn.scalar(select(func.count()).where(Event.workspace_id == workspace_id))
        customers = conn.scalar(
            select(func.count()).select_from(Customer).where(Customer.workspace_id == workspace_id)
        )
        merges = conn.scalar(
            select(func.count())
            .select_from(CustomerMerge)
            .where(CustomerMerge.workspace_id == workspace_id)
        )
    return int(events or 0), int(customers or 0), int(merges or 0)


# --- one state of the log: ceiling, batched, single ----------------------------------------------


def load_figures(result: LoadResult, per_request: int) -> dict[str, Any]:
    return {
        "requests": result.requests,
        "ok": result.ok,
        "events": result.ok * per_request,
        "seconds": round(result.elapsed, 2),
        "events_per_second": round(result.ok * per_request / result.elapsed, 1)
        if result.elapsed
        else 0.0,
        "p50_ms": round(result.percentile(50), 1),
        "p99_ms": round(result.percentile(99), 1),
        "max_ms": round(max(result.latencies_ms, default=0.0), 1),
        "errors": len(result.errors),
        "unanswered": result.unanswered,
        "unanswered_events": result.unanswered * per_request,
        "first_errors": result.errors[:3],
    }


def measure_state(
    *,
    label: str,
    engine: Engine,
    reader: Engine,
    env: dict[str, str],
    data_dir: Path,
    bench_id: int,
    baseline_id: int,
    baseline_customers: list[int],
    workload: Workload,
    ceiling_workload: Workload,
    sizes: Sizes,
    workers: int,
    auth: dict[str, str],
    server_log: Path,
) -> dict[str, Any]:
    print(f"[{label}] ceiling: raw insert of {sizes.baseline_rows:,} rows …", flush=True)
    rows = event_rows(
        baseline_id,
        baseline_customers,
        ceiling_workload.events(sizes.baseline_rows),
        ceiling_workload.rng,
    )
    seconds, client_cpu = raw_insert(engine, rows)
    ceiling = {
        "rows": len(rows),
        "seconds": round(seconds, 2),
        "rows_per_second": round(len(rows) / seconds, 1),
        "client_cpu_seconds": round(client_cpu, 2),
    }
    print(f"[{label}] ceiling: {ceiling['rows_per_second']:,.0f} rows/s", flush=True)
    skip_bus_backlog(engine)

    # Everything the clients send is serialised before the clock starts.
    warm_batches, batches = workload.batch_bodies(4), workload.batch_bodies(sizes.batches)
    warm_singles, singles = workload.track_bodies(100), workload.track_bodies(sizes.singles)
    before = counts(reader, bench_id)
    figures: dict[str, Any] = {"label": label, "ceiling": ceiling}
    with Server(env, server_log) as server:
        sampler = server.sampler
        assert sampler is not None
        time.sleep(0.5)
        figures["rss_idle_mb"] = round(sampler.peak_rss_mb, 1)
        batch_url, track_url = f"{server.url}/v1/batch", f"{server.url}/v1/track"
        warm = [
            post_all(batch_url, warm_batches, workers=workers, headers=auth, time_limit=60),
            post_all(track_url, warm_singles, workers=workers, headers=auth, time_limit=60),
        ]
        wait_for_bus(reader, sizes.bus_wait_seconds)

        print(
            f"[{label}] batched: {len(batches)} × {BATCH} events, {workers} clients …", flush=True
        )
        figures["batched"] = timed_load(
            sampler, batch_url, batches, BATCH, workers, auth, sizes.batch_seconds
        )
        bus_seconds, bus_left = wait_for_bus(reader, sizes.bus_wait_seconds)
        figures["batched"]["bus_catch_up_seconds"] = round(bus_seconds, 1)
        figures["batched"]["bus_backlog_left"] = bus_left
        print(
            f"[{label}] batched: {figures['batched']['events_per_second']:,.0f} ev/s; "
            f"bus caught up {bus_seconds:.1f} s later",
            flush=True,
        )

        print(f"[{label}] single: {len(singles):,} × /v1/track, {workers} clients …", flush=True)
        figures["single"] = timed_load(
            sampler, track_url, singles, 1, workers, auth, sizes.single_seconds
        )
        bus_seconds, bus_left = wait_for_bus(reader, sizes.bus_wait_seconds)
        figures["single"]["bus_catch_up_seconds"] = round(bus_seconds, 1)
        print(
            f"[{label}] single: {figures['single']['events_per_second']:,.0f} req/s, "
            f"p99 {figures['single']['p99_ms']} ms",
            flush=True,
        )
        figures["peak_rss_mb"] = round(sampler.peak_rss_mb, 1)

    after = counts(reader, bench_id)
    sent = (
        figures["batched"]["events"] + figures["single"]["events"] + warm[0].ok * BATCH + warm[1].ok
    )
    figures["warm_up_errors"] = warm[0].errors + warm[1].errors
    # Events of requests that got no answer (client timeout, reset) may or may not be stored.
    unanswered = (
        figures["batched"]["unanswered_events"]
        + figures["single"]["unanswered_events"]
        + warm[0].unanswered * BATCH
        + warm[1].unanswered
    )
    figures["stored"] = {
        "events": after[0] - before[0],
        "expected": sent,
        "unanswered": unanswered,
        "new_customers": after[1] - before[1],
        "merges": after[2] - before[2],
    }
    if stored_check(figures) == "MISMATCH":
        print(
            f"!! stored {after[0] - before[0]:,} events, expected {sent:,} "
            f"(+ up to {unanswered:,} of unanswered requests)",
            file=sys.stderr,
        )
    for key in ("batched", "single"):
        figures[key]["ratio_to_ceiling"] = round(
            figures[key]["events_per_second"] / ceiling["rows_per_second"], 3
        )
    return figures


def timed_load(
    sampler: Sampler,
    url: str,
    bodies: list[bytes],
    per_request: int,
    workers: int,
    auth: dict[str, str],
    time_limit: float,
) -> dict[str, Any]:
    """Send ``bodies`` and return throughput, latency and what it cost the server."""
    loadavg = [round(x, 2) for x in os.getloadavg()]
    machine0, client0, server0 = psutil.cpu_times(), process_cpu_seconds(), sampler.cpu_now()
    result = post_all(url, bodies, workers=workers, headers=auth, time_limit=time_limit)
    machine1, client1, server1 = psutil.cpu_times(), process_cpu_seconds(), sampler.cpu_now()
    figures = load_figures(result, per_request)
    server_cpu = server1 - server0
    return figures | {
        "server_cpu_seconds": round(server_cpu, 2),
        "server_cpu_ms_per_event": round(server_cpu * 1000 / max(1, figures["events"]), 3),
        "client_cpu_seconds": round(client1 - client0, 2),
        "machine_cpu_busy": round(busy(machine0, machine1), 2),
        "loadavg_before": loadavg,
        "peak_rss_mb": round(sampler.peak_between(result.started, result.ended), 1),
    }


def kind_of(engine: Engine) -> str:
    return "postgres" if engine.dialect.name == "postgresql" else "sqlite"


def busy(before: Any, after: Any) -> float:
    """Share of the machine's CPU time that was not idle between two ``cpu_times`` readings."""
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (
        getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
    )
    return (total - idle) / total if total else 0.0


# --- one database --------------------------------------------------------------------------------


def run_database(kind: str, args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bench-{kind}-"))
    if kind == "postgres":
        url = f"postgresql+psycopg://postgres@127.0.0.1/{args.pg_db}"
    else:
        url = f"sqlite:///{data_dir / 'cxloop.db'}"
    engines: list[Engine] = []
    # Everything from here on is cleaned up in ``finally``, a failed setup included.
    try:
        if kind == "postgres":
            recreate_pg_database(args.pg_db)
        env = server_env(data_dir, url)
        print(f"== {kind}: {url}", flush=True)
        cli(env, "migrate")
        cli(env, "workspace", "create", "Benchmark", "--slug", "bench")
        cli(env, "workspace", "create", "Ceiling", "--slug", "ceiling")
        key = cli(env, "key", "create", "--workspace", "bench", "--kind", "write").strip()
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json",
        }
        engine = make_engine(url)
        engines.append(engine)
        reader = make_engine(url) if kind == "postgres" else create_engine(url)
        engines.append(reader)
        with engine.begin() as conn:
            slugs = {slug: id_ for slug, id_ in conn.execute(select(Workspace.slug, Workspace.id))}
            baseline_customers = make_customers(conn, slugs["ceiling"], 2_000)
        workload = Workload(args.seed, tag="")
        ceiling_workload = Workload(args.seed + 1, tag="c")
        common = {
            "engine": engine,
            "reader": reader,
            "env": env,
            "data_dir": data_dir,
            "bench_id": slugs["bench"],
            "baseline_id": slugs["ceiling"],
            "baseline_customers": baseline_customers,
            "workload": workload,
            "ceiling_workload": ceiling_workload,
            "sizes": sizes,
            "workers": args.workers,
            "auth": auth,
            "server_log": RESULTS / f"ingest-{kind}{args.tag}-server.log",
        }
        states = [measure_state(label="empty log", **common)]
        preloaded = None
        if sizes.preload:
            print(f"[preload] {sizes.preload:,} events through Core bulk inserts …", flush=True)
            preloaded = preload(
                engine,
                slugs["bench"],
                sizes.preload,
                workload,
                args.seed + 2,
                analyze_sqlite=args.analyze_sqlite,
            )
            print(
                f"[preload] {preloaded['events']:,} events, {preloaded['customers']:,} "
                f"customers in {preloaded['load_seconds']} s",
                flush=True,
            )
            skip_bus_backlog(engine)
            stored = counts(reader, slugs["bench"])[0]
            states.append(measure_state(label=f"{stored:,} stored", **common))
        return {
            "database": kind,
            "url": url.replace("postgres@", "…@"),
            "sizes": asdict(sizes),
            "workers": args.workers,
            "analyze_sqlite": bool(args.analyze_sqlite and kind == "sqlite"),
            "preload": preloaded,
            "states": states,
        }
    finally:
        for each in engines:
            each.dispose()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
            if kind == "postgres":
                drop_pg_database(args.pg_db)
        else:
            print(
                f"kept {data_dir}" + (f" and database {args.pg_db}" if kind == "postgres" else "")
            )


# --- report --------------------------------------------------------------------------------------


def goals(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    states = result["states"]
    worst_batched = min(s["batched"]["events_per_second"] for s in states)
    worst_p99 = max(s["single"]["p99_ms"] for s in states)
    worst_rss = max(s["peak_rss_mb"] for s in states)
    return [
        (
            f"batched ≥ {GOAL_BATCHED_EPS:,} events/s",
            worst_batched >= GOAL_BATCHED_EPS,
            f"{worst_batched:,.0f}",
        ),
        (
            f"single-event p99 < {GOAL_SINGLE_P99_MS:.0f} ms",
            worst_p99 < GOAL_SINGLE_P99_MS,
            f"{worst_p99:.1f} ms",
        ),
        (f"server RSS < {GOAL_RSS_MB:.0f} MB", worst_rss < GOAL_RSS_MB, f"{worst_rss:.0f} MB"),
    ]


def stored_check(state: dict[str, Any]) -> str:
    """``ok`` when the workspace gained exactly the events answered with 200, ``ok+N`` when it
    also kept N events of requests that got no answer (timed out after the commit)."""
    stored, expected = state["stored"]["events"], state["stored"]["expected"]
    extra = stored - expected
    if extra == 0:
        return "ok"
    if 0 < extra <= state["stored"].get("unanswered", 0):
        return f"ok+{extra:,} unanswered"
    return "MISMATCH"


def print_table(result: dict[str, Any]) -> None:
    states = result["states"]
    width = 34

    def row(name: str, cells: list[str]) -> None:
        print(f"  {name:<26}" + "  ".join(f"{c:<{width}}" for c in cells).rstrip())

    machine = result["machine"]
    print()
    print(
        f"cxloop ingestion on {result['database']} — {machine['cpus']} CPUs, load average "
        f"{machine['loadavg'][0]} at start, {result['workers']} client threads"
    )
    row("", [s["label"] for s in states])
    row("raw insert (ceiling)", [f"{s['ceiling']['rows_per_second']:,.0f} rows/s" for s in states])
    row(
        "batched /v1/batch ×500",
        [
            f"{s['batched']['events_per_second']:,.0f} ev/s = "
            f"{s['batched']['ratio_to_ceiling']:.2f}× raw"
            for s in states
        ],
    )
    row(
        "  request p50 / p99",
        [f"{s['batched']['p50_ms']:,.0f} / {s['batched']['p99_ms']:,.0f} ms" for s in states],
    )
    row(
        "  server CPU / 1k events",
        [f"{s['batched']['server_cpu_ms_per_event'] * 1000:,.0f} ms" for s in states],
    )
    row("  bus caught up after", [f"{s['batched']['bus_catch_up_seconds']} s" for s in states])
    row(
        "single /v1/track",
        [
            f"{s['single']['events_per_second']:,.0f} req/s = "
            f"{s['single']['ratio_to_ceiling']:.3f}× raw"
            for s in states
        ],
    )
    row(
        "  latency p50 / p99",
        [f"{s['single']['p50_ms']:.1f} / {s['single']['p99_ms']:.1f} ms" for s in states],
    )
    row(
        "  server CPU / request",
        [f"{s['single']['server_cpu_ms_per_event']:.2f} ms" for s in states],
    )
    row("server peak RSS", [f"{s['peak_rss_mb']:.0f} MB" for s in states])
    row(
        "stored / merges",
        [
            f"{s['stored']['events']:,} ev ({stored_check(s)}), {s['stored']['merges']:,} merges"
            for s in states
        ],
    )
    row(
        "failed requests",
        [
            f"batched {s['batched']['errors']}/{s['batched']['requests']}, "
            f"single {s['single']['errors']}/{s['single']['requests']}, "
            f"warm-up {len(s['warm_up_errors'])}"
            for s in states
        ],
    )
    errors = {
        e[:160]
        for s in states
        for e in s["warm_up_errors"] + s["batched"]["first_errors"] + s["single"]["first_errors"]
    }
    if errors:
        print(f"  !! failures (server log: {result['server_log']}):")
        for error in sorted(errors)[:4]:
            print(f"     {error}")
    print("  goals:")
    for name, met, value in goals(result):
        print(f"    {'met   ' if met else 'MISSED'}  {name}: worst {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--preload",
        type=int,
        default=None,
        help="events stored before the "
        "second round (default 1,000,000; 50,000 with --quick; 0 skips it)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast check")
    parser.add_argument("--workers", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-db", default="cxloop_bench", help="PostgreSQL database (recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument(
        "--analyze-sqlite",
        action="store_true",
        help="diagnostic: run ANALYZE on SQLite after the preload (the server never does)",
    )
    parser.add_argument(
        "--tag", default="", help="suffix of the result file names (ingest-<db><tag>.json)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.preload is not None:
        sizes = Sizes(**{**asdict(sizes), "preload": max(0, args.preload)})
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    RESULTS.mkdir(exist_ok=True)
    for kind in kinds:
        (RESULTS / f"ingest-{kind}{args.tag}-server.log").unlink(missing_ok=True)
    results = []
    for kind in kinds:
        machine = load_summary()
        t0 = time.perf_counter()
        result = run_database(kind, args, sizes)
        result["machine"] = machine
        result["server_log"] = str(RESULTS / f"ingest-{kind}{args.tag}-server.log")
        result["json"] = str(RESULTS / f"ingest-{kind}{args.tag}.json")
        result["run_seconds"] = round(time.perf_counter() - t0, 1)
        result["goals"] = [
            {"goal": name, "met": met, "worst": value} for name, met, value in goals(result)
        ]
        Path(result["json"]).write_text(json.dumps(result, indent=2, default=str))
        print_table(result)
        results.append(result)
    for result in results:
        print(f"\n{result['database']}: {result['run_seconds']} s; JSON in {result['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
