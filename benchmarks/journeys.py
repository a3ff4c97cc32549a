"""Journeys over a year of events: funnels, paths, retention and the journey map on SQLite and
PostgreSQL.

    python benchmarks/journeys.py                          # PG 1M customers, SQLite 1M events
    python benchmarks/journeys.py --db postgresql --keep   # build once, then measure again
    python benchmarks/journeys.py --customers 20000        # a quick run
    python benchmarks/journeys.py --db postgresql --keep --explain
    python benchmarks/journeys.py --db sqlite --keep --only paths --only map

It builds a fresh SQLite file and a fresh PostgreSQL database ``cxloop_bench_journeys`` at the
newest migration and bulk-loads (COPY on PostgreSQL, executemany on SQLite) one workspace with
``--customers`` customers (PostgreSQL; SQLite gets ``--sqlite-events`` events and a tenth as many
customers) and about 10 events each over one year, written in time order as a log is. Each
customer shops in sessions (most on one platform of web, ios and android): page views, product
views, then fewer ``Product Added``, ``Checkout Started`` and ``Order Completed`` (mobile sessions
convert worse), now and then ``Support Chat Started``; every event has a ``platform`` property,
the shopping ones a ``category``. 3 % of the profiles are merged into another. On PostgreSQL the
events' indexes are dropped for the load and built again after it, then ``VACUUM (ANALYZE)``
runs as autovacuum would; SQLite gets ``ANALYZE``.

With ``--keep`` the data stay afterwards, and a later run with ``--keep`` and the same sizes and
seed measures them again instead of building (the SQLite file then lives under the temporary
directory, named after the sizes). Without it everything is built fresh and removed at the end.

Measured, each the median of ``--repeat`` runs after a warm-up, in a transaction rolled back
after each run:

- ``--only funnel``: ``funnel_report`` over the whole year with a 14-day window — the 5-step
  ordered funnel ``Page Viewed → Product Viewed → Product Added → Checkout Started → Order
  Completed``, the same broken down by ``platform``, a strict and an unordered funnel of the
  first four steps — and the persons alone (``attempts.persons``, each person's furthest
  attempt) of the ordered one. Goal < 2 s.
- ``--only paths``: through ``journeys.service`` as the API asks, over the year's local days
  (the workspace's, Seoul's): 5 steps after ``Product Viewed`` and 5 before ``Order Completed``
  (24-hour window), and the 5 steps after ``Checkout Started`` of those who stopped there in the
  ordered funnel (``run_dropoff_paths``). Goal < 3 s.
- ``--only retention``: ``run_retention`` with 12 weekly cohorts from the year's first week,
  each followed 12 weeks: start ``Order Completed``, return on any event or on ``Order
  Completed``, each bounded and unbounded ("on or after"); and start ``Page Viewed``, return on
  any event. Goal < 2 s.
- ``--only map``: ``run_journey_map`` (what the map page and ``POST /api/v1/journeys/map``
  call) over the year and over its last 30 days (the page's default span). The workspace first
  saves the online shop's default stages and touchpoints with its ``Page Viewed`` track events
  added to awareness and to the site touchpoint (the defaults take page calls, which this log
  has none of). Goal < 3 s.

Measures through the service get its statement timeout on PostgreSQL (120 s) when that is the
smaller limit. The in-process baseline is a bare ``SELECT name, count(*) … GROUP BY name`` over
the funnel's events (the cost of reading them once). ``--explain`` prints the ordered funnel's
read of its events with ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL (``EXPLAIN QUERY PLAN`` on
SQLite).
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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import sqlalchemy.exc
from _common import (
    bulk_load,
    drop_pg_database,
    load_summary,
    pg_database_exists,
    recreate_pg_database,
    stamp,
    without_event_indexes,
)
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

PG_NAME = "cxloop_bench_journeys"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_NAME}"
SLUG = "journeys-bench"
YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 12, 1, tzinfo=UTC)
YEAR_S = int((YEAR_END - YEAR_START).total_seconds())
DAY = 86_400
CHUNK = 250_000  # events generated, formatted and loaded at a time
GOAL_S = 2.0  # funnels and retention
PATHS_GOAL_S = 3.0
MAP_GOAL_S = 3.0  # the journey map page

PLATFORMS = ("web", "ios", "android")
PLATFORM_SHARES = (0.5, 0.3, 0.2)
# Per session: P(add to cart | viewed a product), P(checkout | added), P(order | checkout).
P_ADD = np.array([0.20, 0.16, 0.14])
P_CHECKOUT = np.array([0.50, 0.42, 0.38])
P_ORDER = np.array([0.60, 0.50, 0.45])
CATEGORIES = ("shoes", "bags", "outer", "beauty", "kids", "home")
CATEGORY_SHARES = (0.25, 0.2, 0.2, 0.15, 0.1, 0.1)
TIERS = ("VIP", "Gold", "Silver", "Basic")
TIER_SHARES = (0.03, 0.12, 0.35, 0.50)
# A session's events in this order: 1 + Poisson(0.8) page views, Poisson(1.5) product views,
# then at most one of each of the rest.
EVENT_NAMES = (
    "Page Viewed",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Support Chat Started",
)
SHOPPING = (1, 2, 3, 4)  # event kinds that carry the session's category
FUNNEL = EVENT_NAMES[:5]
SESSION_GAP_DAYS = 6.0  # mean days between a customer's sessions
MERGED_SHARE = 0.03


@dataclass(frozen=True)
class Events:
    """The synthetic log, one entry per event in time order (ties by generation order)."""

    customer: np.ndarray  # int64 customer ids
    at: np.ndarray  # int64 epoch seconds
    kind: np.ndarray  # int8 index into EVENT_NAMES
    platform: np.ndarray  # int8 index into PLATFORMS
    category: np.ndarray  # int8 index into CATEGORIES

    @property
    def size(self) -> int:
        return int(self.at.size)


def synthetic_events(customers: int, rng: np.random.Generator) -> Events:
    """About 10 events per customer over the year, in sessions, sorted by time."""
    preferred = rng.choice(len(PLATFORMS), customers, p=PLATFORM_SHARES)
    # Some customers far more active than others: 1 + Poisson(Gamma) sessions, 2.8 on average.
    per_customer = 1 + rng.poisson(rng.gamma(0.8, 2.25, customers))
    owner = np.repeat(np.arange(1, customers + 1), per_customer)
    sessions = owner.size
    platform = np.where(
        rng.random(sessions) < 0.85,
        np.repeat(preferred, per_customer),
        rng.choice(len(PLATFORMS), sessions, p=PLATFORM_SHARES),
    ).astype(np.int8)
    category = rng.choice(len(CATEGORIES), sessions, p=CATEGORY_SHARES).astype(np.int8)
    # A customer's sessions follow each other a few days apart from a random first one,
    # wrapping around the year.
    gaps = np.cumsum(rng.exponential(SESSION_GAP_DAYS * DAY, sessions))
    firsts = np.cumsum(per_customer) - per_customer
    offset = (gaps - np.repeat(gaps[firsts], per_customer)).astype(np.int64)
    start = (np.repeat(rng.integers(0, YEAR_S, customers), per_customer) + offset) % YEAR_S
    del gaps, offset
    pages = 1 + rng.poisson(0.8, sessions)
    products = rng.poisson(1.5, sessions)
    added = (products > 0) & (rng.random(sessions) < P_ADD[platform])
    checkout = added & (rng.random(sessions) < P_CHECKOUT[platform])
    ordered = checkout & (rng.random(sessions) < P_ORDER[platform])
    support = rng.random(sessions) < np.where(ordered, 0.08, 0.02)
    counts = np.stack([pages, products, added, checkout, ordered, support], axis=1)
    counts = counts.astype(np.int64)
    per_session = counts.sum(axis=1)
    kind = np.repeat(np.tile(np.arange(len(EVENT_NAMES), dtype=np.int8), sessions), counts.ravel())
    del counts, pages, products, added, checkout, ordered, support
    session = np.repeat(np.arange(sessions), per_session)
    # 1 s + Exponential(45 s) between a session's events.
    steps = np.cumsum(1 + rng.exponential(45.0, session.size).astype(np.int64))
    firsts = np.cumsum(per_session) - per_session
    within = steps - np.repeat(steps[firsts], per_session)
    at = int(YEAR_START.timestamp()) + np.minimum(start[session] + within, YEAR_S - 1)
    del steps, within
    order = np.argsort(at, kind="stable")
    return Events(
        customer=owner[session][order],
        at=at[order],
        kind=kind[order],
        platform=platform[session][order],
        category=category[session][order],
    )


def _property_templates() -> np.ndarray:
    """The properties JSON of each (kind, platform, category), indexed kind * 18 + platform * 6
    + category; an order's ``{revenue}`` is filled in per event."""
    found = []
    for kind in range(len(EVENT_NAMES)):
        for platform in PLATFORMS:
            for category in CATEGORIES:
                if kind == 4:
                    found.append(
                        f'{{"platform": "{platform}", "category": "{category}", '
                        f'"revenue": {{revenue}}, "currency": "KRW"}}'
                    )
                elif kind in SHOPPING:
                    found.append(f'{{"platform": "{platform}", "category": "{category}"}}')
                else:
                    found.append(f'{{"platform": "{platform}"}}')
    return np.array(found, dtype=object)


def marker(customers: int, seed: int) -> str:
    """The measured workspace's name once its data are complete: what a kept build was."""
    return f"Journeys bench: {customers} customers, seed {seed}"


def build(engine: Engine, customers: int, seed: int) -> tuple[int, int, float]:
    """The workspace's customers and events; returns its id, its events, seconds taken."""
    from cxloop.accounts import service as accounts
    from cxloop.models import Workspace

    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    null = r"\N" if postgres else None
    rng = np.random.default_rng(seed)
    with Session(engine) as session:
        # Named after the build only when it is complete (see ``kept``).
        workspace = accounts.create_workspace(session, name="Journeys bench (loading)", slug=SLUG)
        session.commit()
        workspace_id = workspace.id
    created = stamp(np.array([int(YEAR_START.timestamp()) - 30 * DAY]), postgres)[0]
    cid = np.arange(1, customers + 1)
    merged = rng.random(customers) < MERGED_SHARE
    survivors = cid[~merged]
    merged_into = np.zeros(customers, dtype=np.int64)
    merged_into[merged] = rng.choice(survivors, int(merged.sum()))  # merges are kept flat
    tiers = rng.choice(len(TIERS), customers, p=TIER_SHARES)
    # The survivors first: a merged profile's row points at one already stored.
    for rows in (np.flatnonzero(~merged), np.flatnonzero(merged)):
        n = rows.size
        bulk_load(
            engine,
            "customers",
            ["id", "workspace_id", "traits", "lifecycle_stage", "touchpoints", "event_count",
             "order_count", "total_revenue", "merged_into_id", "created_at", "updated_at"],
            [cid[rows].tolist(), [workspace_id] * n,
             [f'{{"tier": "{TIERS[t]}"}}' for t in tiers[rows].tolist()], ["customer"] * n,
             ["{}"] * n, [0] * n, [0] * n, ["0"] * n,
             [(str(m) if postgres else m) if m else null for m in merged_into[rows].tolist()],
             [created] * n, [created] * n],
        )  # fmt: skip
    del merged_into, tiers
    log = synthetic_events(customers, rng)
    templates = _property_templates()
    names = np.array(EVENT_NAMES, dtype=object)
    channels = np.array(["web", "mobile", "mobile"], dtype=object)
    rebuild_event_indexes = without_event_indexes(engine)
    for lo in range(0, log.size, CHUNK):
        hi = min(lo + CHUNK, log.size)
        n = hi - lo
        kind, platform = log.kind[lo:hi], log.platform[lo:hi]
        properties = templates[
            kind.astype(np.int64) * 18 + platform.astype(np.int64) * 6 + log.category[lo:hi]
        ]
        is_order = np.flatnonzero(kind == 4)
        revenue = (np.round(rng.gamma(2.0, 30_000.0, is_order.size), -2) + 1000).astype(int)
        properties[is_order] = [
            t.replace("{revenue}", str(r))
            for t, r in zip(properties[is_order].tolist(), revenue.tolist(), strict=True)
        ]
        at = log.at[lo:hi]
        bulk_load(
            engine,
            "events",
            ["workspace_id", "customer_id", "message_id", "type", "name", "channel",
             "timestamp", "received_at", "properties", "context"],
            [[workspace_id] * n, log.customer[lo:hi].tolist(),
             [f"jb-{i}" for i in range(lo, hi)], ["track"] * n, names[kind].tolist(),
             channels[platform].tolist(), stamp(at, postgres),
             stamp(at + rng.integers(0, 3, n), postgres), properties.tolist(), ["{}"] * n],
            chunk=CHUNK,
        )  # fmt: skip
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
    with Session(engine) as session:
        stored = session.get(Workspace, workspace_id)
        assert stored is not None
        stored.name = marker(customers, seed)
        session.commit()
    return workspace_id, log.size, time.perf_counter() - started


def kept(engine: Engine, customers: int, seed: int) -> int | None:
    """The workspace of a complete earlier build of the same sizes and seed, if there is one."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, name FROM workspaces WHERE slug = :slug"), {"slug": SLUG}
        ).first()
    if row is None or row.name != marker(customers, seed):
        return None
    return int(row.id)


def counts(engine: Engine, workspace_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT count(*) FROM events WHERE workspace_id = :w"), {"w": workspace_id}
        ).scalar_one()
        customers = conn.execute(
            text("SELECT count(*) FROM customers WHERE workspace_id = :w"), {"w": workspace_id}
        ).scalar_one()
    return int(customers), int(events)


# --- measurements ---------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    median_s: float
    runs: list[float]
    note: str = ""
    timed_out: bool = False
    goal_s: float = GOAL_S


# What a run past the time limit raises: SQLite's "interrupted", PostgreSQL's statement timeout
# (through SQLAlchemy, or straight from psycopg where the engine runs a statement itself).
STOPPED = (sqlalchemy.exc.OperationalError, psycopg.errors.QueryCanceled)


@dataclass(frozen=True)
class Limits:
    """What every measured run gets: a time limit (a statement on PostgreSQL, the whole run on
    SQLite) and PostgreSQL settings (``SET LOCAL``), e.g. ``enable_nestloop=off``."""

    seconds: float
    settings: tuple[str, ...] = ()

    def apply(self, session: Session) -> None:
        """Call at the start of a run's transaction."""
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL statement_timeout = {int(self.seconds * 1000)}"))
            for setting in self.settings:
                name, _, value = setting.partition("=")
                session.execute(text(f"SET LOCAL {name.strip()} = '{value.strip()}'"))
        else:
            raw = connection.connection.driver_connection
            deadline = time.monotonic() + self.seconds
            # A non-zero answer interrupts the statement ("interrupted").
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)

    def through_service(self) -> Limits:
        """The limits of a run through ``journeys.service``, which sets its own statement
        timeout on PostgreSQL: the smaller of the two, so a run it stops counts as stopped."""
        from cxloop.journeys.service import QUERY_SECONDS

        return Limits(min(self.seconds, QUERY_SECONDS), self.settings)


def timed(name: str, step: Callable[[], Any], repeat: int, limits: Limits) -> tuple[Any, Timing]:
    """The median of ``repeat`` runs of ``step`` after a warm-up; a run past the time limit
    ends the measurement (its figure then says only "more than the limit")."""
    times: list[float] = []
    result = None
    for run in range(repeat + 1):
        started = time.perf_counter()
        try:
            result = step()
        except STOPPED as exc:
            elapsed = time.perf_counter() - started
            if elapsed < limits.seconds * 0.95:
                raise
            print(f"{name}: stopped after {elapsed:.0f} s ({str(exc).strip()[:80]})")
            return None, Timing(name, elapsed, [elapsed], timed_out=True)
        if run:  # the first is the warm-up
            times.append(time.perf_counter() - started)
    return result, Timing(name, statistics.median(times), times)


def funnel_specs() -> dict[str, Any]:
    from cxloop.journeys.spec import FunnelBreakdown, FunnelSpec, FunnelStep

    five = [FunnelStep(event=name) for name in FUNNEL]
    return {
        "ordered, 5 steps": FunnelSpec(steps=five, window_days=14),
        "ordered, 5 steps, by platform": FunnelSpec(
            steps=five, window_days=14, breakdown=FunnelBreakdown(key="platform")
        ),
        "strict, 4 steps": FunnelSpec(steps=five[:4], window_days=14, order="strict"),
        "unordered, 4 steps": FunnelSpec(steps=five[:4], window_days=14, order="unordered"),
    }


def period() -> Any:
    from cxloop.journeys.attempts import Period

    return Period(start=YEAR_START, end=YEAR_END)


def baseline(engine: Engine, workspace_id: int, repeat: int, limits: Limits) -> Timing:
    """Reading the funnel's events once: a count per name over the funnel's time range."""
    from cxloop.models import Event

    until = YEAR_END + timedelta(days=14)
    with Session(engine) as session:

        def count() -> Any:
            try:
                limits.apply(session)
                return session.execute(
                    select(Event.name, func.count())
                    .where(
                        Event.workspace_id == workspace_id,
                        Event.name.in_(FUNNEL),
                        Event.timestamp.between(YEAR_START, until),
                    )
                    .group_by(Event.name)
                ).all()
            finally:
                session.rollback()

        found, timing = timed("baseline: count per name", count, repeat, limits)
    timing.note = f"{sum(int(c) for _, c in found or ()):,} events"
    return timing


def measure_funnels(engine: Engine, workspace_id: int, repeat: int, limits: Limits) -> list[Timing]:
    from cxloop.journeys.attempts import persons
    from cxloop.journeys.funnels import funnel_report

    timings = []
    with Session(engine) as session:
        for name, spec in funnel_specs().items():

            def report(spec: Any = spec) -> Any:
                try:
                    limits.apply(session)
                    return funnel_report(
                        session, workspace_id=workspace_id, spec=spec, period=period()
                    )
                finally:
                    session.rollback()

            found, timing = timed(name, report, repeat, limits)
            if found is not None:
                steps = " → ".join(f"{s.persons:,}" for s in found.overall.steps)
                timing.note = f"persons {steps}"
                if found.breakdown:
                    timing.note += "; conversion " + ", ".join(
                        f"{g.value} {g.conversion:.1%}" for g in found.breakdown if g.conversion
                    )
            timings.append(timing)
            if name == "ordered, 5 steps":

                def found(spec: Any = spec) -> int:
                    try:
                        limits.apply(session)
                        return persons(
                            session, spec, workspace_id=workspace_id, period=period()
                        ).size
                    finally:
                        session.rollback()

                rows, timing = timed(f"{name}: persons only", found, repeat, limits)
                if rows is not None:
                    timing.note = f"{rows:,} rows"
                timings.append(timing)
    return timings


def year_days() -> tuple[date, date]:
    """The year as the local days the service takes (the first and last, both included): the
    workspace's days are Seoul's, so they start 9 hours before the funnels' UTC year."""
    return YEAR_START.date(), (YEAR_END - timedelta(days=1)).date()


def _through_service(
    engine: Engine,
    limits: Limits,
    repeat: int,
    questions: dict[str, tuple[float, Callable[[Session], Any], Callable[[Any], str]]],
) -> list[Timing]:
    """Each question (goal seconds, the service call, the note of its answer) timed as the
    API asks it, in a transaction rolled back after each run."""
    limits = limits.through_service()
    timings = []
    with Session(engine) as session:
        for name, (goal, ask, note) in questions.items():

            def run(ask: Callable[[Session], Any] = ask) -> Any:
                try:
                    limits.apply(session)
                    return ask(session)
                finally:
                    session.rollback()

            found, timing = timed(name, run, repeat, limits)
            timing.goal_s = goal
            if found is not None:
                timing.note = note(found)
            timings.append(timing)
    return timings


def _paths_note(report: Any) -> str:
    path, persons = report.top[0] if report.top else ((), 0)
    return f"{report.persons:,} persons; most often {' → '.join(path) or 'nothing'} ({persons:,})"


def measure_paths(engine: Engine, workspace_id: int, repeat: int, limits: Limits) -> list[Timing]:
    from cxloop.journeys import service
    from cxloop.journeys.paths import PathSpec

    start, end = year_days()
    ordered = funnel_specs()["ordered, 5 steps"]

    def paths(spec: PathSpec) -> Callable[[Session], Any]:
        return lambda session: service.run_paths(
            session, workspace_id=workspace_id, spec=spec, start=start, end=end
        )

    def dropped(session: Session) -> Any:
        return service.run_dropoff_paths(
            session, workspace_id=workspace_id, funnel=ordered, step=5, start=start, end=end
        )

    return _through_service(
        engine,
        limits,
        repeat,
        {
            "paths: 5 steps after Product Viewed": (
                PATHS_GOAL_S,
                paths(PathSpec(event="Product Viewed", steps=5)),
                _paths_note,
            ),
            "paths: 5 steps before Order Completed": (
                PATHS_GOAL_S,
                paths(PathSpec(event="Order Completed", direction="before", steps=5)),
                _paths_note,
            ),
            "paths: 5 steps after Checkout Started, dropped before Order Completed": (
                PATHS_GOAL_S,
                dropped,
                _paths_note,
            ),
        },
    )


def _retention_note(report: Any) -> str:
    sizes = [c.persons for c in report.cohorts]
    first, last = report.average[0], report.average[-1]
    return (
        f"{sum(sizes):,} persons in cohorts of {max(sizes):,} to {min(sizes):,}; "
        f"back in week 1 {first or 0:.1%}, week {len(report.average)} {last or 0:.1%}"
    )


def measure_retention(
    engine: Engine, workspace_id: int, repeat: int, limits: Limits
) -> list[Timing]:
    from cxloop.journeys import service
    from cxloop.journeys.retention import RetentionSpec

    start, _ = year_days()  # a Monday: the first of 12 weekly cohorts, each followed 12 weeks

    def retention(**spec: Any) -> tuple[float, Callable[[Session], Any], Callable[[Any], str]]:
        question = RetentionSpec(period="week", periods=12, **spec)
        return (
            GOAL_S,
            lambda session: service.run_retention(
                session, workspace_id=workspace_id, spec=question, start=start
            ),
            _retention_note,
        )

    ordered, bought = "Order Completed", {"return_event": "Order Completed"}
    return _through_service(
        engine,
        limits,
        repeat,
        {
            "retention: Order Completed → any event": retention(start_event=ordered),
            "retention: Order Completed → any event, unbounded": retention(
                start_event=ordered, bounded=False
            ),
            "retention: Order Completed → Order Completed": retention(
                start_event=ordered, **bought
            ),
            "retention: Order Completed → Order Completed, unbounded": retention(
                start_event=ordered, bounded=False, **bought
            ),
            "retention: Page Viewed → any event": retention(start_event="Page Viewed"),
        },
    )


def _map_note(found: Any) -> str:
    persons = " → ".join(f"{s.persons:,}" for s in found.stages)
    flagged = sum(cell.flagged for cell in found.cells.values())
    return f"stages {persons}; {len(found.cells)} cells, {flagged} flagged"


def save_shop_places(engine: Engine, workspace_id: int) -> None:
    """The online shop's default stages and touchpoints, saved for the workspace as a shop
    would save them whose page views arrive as ``Page Viewed`` track events (not page calls):
    those enter awareness and count as the site touchpoint too."""
    from cxloop.accounts.access import Principal
    from cxloop.journeys import stages
    from cxloop.journeys.stages import DEFAULT_STAGES, DEFAULT_TOUCHPOINTS, EventRule

    viewed = EventRule(event="Page Viewed")

    def with_views(place: Any) -> Any:
        if place.key not in ("awareness", "site"):
            return place
        return place.model_copy(update={"rules": [*place.rules, viewed]})

    owner = Principal(workspace_id=workspace_id, role="owner", label="journeys benchmark")
    with Session(engine) as session:
        stages.save_stages(
            session,
            principal=owner,
            workspace_id=workspace_id,
            stages=stages.StagesIn(stages=[with_views(p) for p in DEFAULT_STAGES]),
        )
        stages.save_touchpoints(
            session,
            principal=owner,
            workspace_id=workspace_id,
            touchpoints=stages.TouchpointsIn(
                touchpoints=[with_views(p) for p in DEFAULT_TOUCHPOINTS]
            ),
        )
        session.commit()


def measure_map(engine: Engine, workspace_id: int, repeat: int, limits: Limits) -> list[Timing]:
    from cxloop.journeys import service

    save_shop_places(engine, workspace_id)
    first, last = year_days()

    def journey_map(start: date, end: date) -> Callable[[Session], Any]:
        return lambda session: service.run_journey_map(
            session, workspace_id=workspace_id, start=start, end=end
        )

    return _through_service(
        engine,
        limits,
        repeat,
        {
            "map: the year": (MAP_GOAL_S, journey_map(first, last), _map_note),
            # The page's default span (the last 30 days) at the end of the data.
            "map: the last 30 days": (
                MAP_GOAL_S,
                journey_map(last - timedelta(days=29), last),
                _map_note,
            ),
        },
    )


MEASURES: dict[str, Callable[[Engine, int, int, Limits], list[Timing]]] = {
    "funnel": measure_funnels,
    "paths": measure_paths,
    "retention": measure_retention,
    "map": measure_map,
}


def explain(engine: Engine, workspace_id: int, limits: Limits) -> str:
    """The plan of the ordered funnel's read of its events (the column-wise engine's one
    statement over the log): executed (``EXPLAIN ANALYZE``) on PostgreSQL unless that takes
    longer than the time limit, then only planned."""
    from cxloop.journeys.attempts import step_events_query

    spec = funnel_specs()["ordered, 5 steps"]
    query = step_events_query(spec, workspace_id=workspace_id, period=period())
    compiled = str(
        query.compile(
            dialect=engine.dialect,
            compile_kwargs={"render_postcompile": True, "literal_binds": True},
        )
    )
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled).all()
        return "\n".join(" | ".join(str(c) for c in row) for row in rows)
    with Session(engine) as session:
        try:
            limits.apply(session)
            lines = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + compiled)).scalars()
            return "\n".join(lines)
        except STOPPED:
            session.rollback()
            limits.apply(session)
            lines = session.execute(text("EXPLAIN " + compiled)).scalars()
            return f"(EXPLAIN ANALYZE ran past {limits.seconds:.0f} s; the plan only)\n" + (
                "\n".join(lines)
            )
        finally:
            session.rollback()


def print_table(db: str, base: Timing, timings: list[Timing]) -> None:
    print(f"\n{db}:")
    print("| measurement | median s | × baseline | goal | runs s | |")
    print("|---|---|---|---|---|---|")
    for t in [base, *timings]:
        ratio = t.median_s / base.median_s if base.median_s else float("inf")
        more = "> " if t.timed_out else ""
        met = "met" if t.median_s < t.goal_s and not t.timed_out else "**missed**"
        goal = "" if t is base else f"< {t.goal_s:.0f} s {met}"
        runs = ", ".join(f"{r:.2f}" for r in t.runs)
        print(
            f"| {t.name} | {more}{t.median_s:.3f} | {more}{ratio:.1f}× | {goal} | {runs} "
            f"| {t.note} |"
        )
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--customers", type=int, default=1_000_000, help="PostgreSQL's")
    parser.add_argument(
        "--sqlite-events",
        type=int,
        default=1_000_000,
        help="SQLite's events (a tenth as many customers, at most --customers)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--keep", action="store_true", help="keep the data, and reuse a kept build of these sizes"
    )
    parser.add_argument("--only", choices=tuple(MEASURES), action="append", help="repeatable")
    parser.add_argument(
        "--explain", action="store_true", help="print the plan of the ordered funnel's read"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds after which a measured run stops"
    )
    parser.add_argument(
        "--pg-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for every measured run, e.g. enable_nestloop=off",
    )
    args = parser.parse_args()
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")

    from cxloop.core.db import make_engine
    from cxloop.core.migrate import upgrade

    print(f"machine: {load_summary()}")
    only = args.only or list(MEASURES)
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        if db == "sqlite":
            customers = max(1, min(args.customers, args.sqlite_events // 10))
            data_dir = Path(tempfile.gettempdir()) / "cxloop-bench-journeys"
            if not args.keep:
                data_dir = Path(tempfile.mkdtemp(prefix="cxloop-bench-journeys-sqlite-"))
            path = data_dir / f"journeys-{customers}-{args.seed}.db"
            url = f"sqlite:///{path}"
            exists = path.exists()
        else:
            customers, data_dir, path = args.customers, None, None
            url, exists = PG_URL, pg_database_exists(PG_NAME)
        try:
            workspace_id = None
            if args.keep and exists:
                upgrade(url)  # a kept database follows the migrations written since
                engine = make_engine(url)
                workspace_id = kept(engine, customers, args.seed)
                engine.dispose()
            if workspace_id is None:
                if db == "postgresql":
                    recreate_pg_database(PG_NAME)
                elif path is not None and path.exists():
                    for stale in path.parent.glob(path.name + "*"):
                        stale.unlink()
                upgrade(url)
                engine = make_engine(url)
                workspace_id, events, build_s = build(engine, customers, args.seed)
                print(f"{db}: {customers:,} customers, {events:,} events loaded in {build_s:.0f} s")
            else:
                engine = make_engine(url)
                stored_customers, events = counts(engine, workspace_id)
                print(f"{db}: reusing {stored_customers:,} customers, {events:,} events")
            limits = Limits(args.timeout, tuple(args.pg_set) if db == "postgresql" else ())
            if limits.settings:
                print(f"{db}: measured with {', '.join(limits.settings)}")
            base = baseline(engine, workspace_id, args.repeat, limits)
            timings: list[Timing] = []
            for name in only:
                timings += MEASURES[name](engine, workspace_id, args.repeat, limits)
            print_table(db, base, timings)
            if args.explain and "funnel" in only:
                print(f"\n{db}: the ordered funnel's read of its events")
                print(explain(engine, workspace_id, limits))
            engine.dispose()
        finally:
            if not args.keep:
                if db == "postgresql":
                    drop_pg_database(PG_NAME)
                elif data_dir is not None:
                    shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
