"""``build_demo``: the demo workspace, built phase by phase from one seed.

Phases run in order and share a ``DemoContext``: workspace (team and keys), catalogue, people,
behaviour (a year of Segment messages through the real ingestion path), consents, finish (the
bus consumers and churn marking). A later phase (surveys, conversations, …) is one more
function of the context added to ``PHASES``; each phase draws from a random stream of its own,
so adding one leaves the data of the others as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, select, text, update

from cxloop.core.db import Database, refresh_statistics
from cxloop.demo.behaviour import Behaviour
from cxloop.demo.calendar import Calendar, demo_now
from cxloop.demo.care import add_conversations, quiet_care
from cxloop.demo.catalogue import build_catalogue
from cxloop.demo.consents import record_consents
from cxloop.demo.context import DemoContext
from cxloop.demo.feedback import add_feedback
from cxloop.demo.help import add_knowledge_base
from cxloop.demo.help.bot_month import add_bot_month
from cxloop.demo.insights import add_insights
from cxloop.demo.loyalty import add_loyalty_program, settle_loyalty
from cxloop.demo.names import name_codes
from cxloop.demo.people import make_people, visitor_count
from cxloop.demo.team import DEMO_PASSWORD, DEMO_SLUG, OWNER_EMAIL, build_workspace
from cxloop.demo.texts import analyse_texts
from cxloop.events import bus, consumers  # noqa: F401  (registers the bus consumers)
from cxloop.events.commerce import upsert_products
from cxloop.events.segment import parse_message
from cxloop.events.service import ingest
from cxloop.models import ConsentRecord, Customer, Event, Identity, Order, Workspace
from cxloop.profiles.tasks import mark_churned

INGEST_BATCH = 1000
BUS_BATCH = 5000
# PostgreSQL's planner statistics lag behind a bulk load: believing the new workspace empty,
# it looked identities up by workspace rather than by value, which made the build 1.5 times
# slower. As after any bulk load, they are refreshed now and then.
ANALYZE_AFTER_BATCHES = frozenset({2, 8, 32, 128})
FILLED_TABLES = "customers, identities, events, orders, order_items, products"


@dataclass(frozen=True)
class DemoResult:
    """What was built, and how to get in (the write and API key secrets are shown once)."""

    workspace_slug: str
    customers: int  # identified profiles (members), merged ones not counted
    visitors: int  # anonymous profiles: visitors who never signed up
    events: int
    orders: int
    consents: int
    email: str
    password: str
    write_key: str
    api_key: str


def add_catalogue(ctx: DemoContext) -> None:
    """Phase: the product catalogue, as a catalogue import would load it."""
    ctx.catalogue = build_catalogue(ctx.rng("catalogue"))
    task = ctx.task("Product catalogue", len(ctx.catalogue.products))
    with ctx.database.session() as session:
        upsert_products(
            session,
            workspace_id=ctx.workspace_id,
            products=[p.fields() for p in ctx.catalogue.products],
        )
    task.advance(len(ctx.catalogue.products))


def add_people(ctx: DemoContext) -> None:
    """Phase: who the members and visitors are (nothing is stored until they show up)."""
    task = ctx.task("People", ctx.members + visitor_count(ctx.members))
    for person in make_people(ctx.rng("people"), ctx.seed, ctx.calendar, ctx.members):
        ctx.people.append(person)
        task.advance()


def play_behaviour(ctx: DemoContext) -> None:
    """Phase: a year of visits sent through ``events.service.ingest``, in batches."""
    assert ctx.catalogue is not None
    behaviour = Behaviour(
        seed=ctx.seed,
        rng=ctx.rng("behaviour"),
        calendar=ctx.calendar,
        catalogue=ctx.catalogue,
        people=ctx.people,
    )
    task = ctx.task("Visits (events ingested)", behaviour.plan())
    batch: list[dict[str, Any]] = []
    batches = 0
    last = ctx.calendar.start
    for is_visit, ended, messages in behaviour.play():
        batch.extend(messages)
        last = max(last, ended)
        task.advance(1 if is_visit else 0)
        if len(batch) >= INGEST_BATCH:
            _ingest(ctx, batch, last)
            batch = []
            batches += 1
            if batches in ANALYZE_AFTER_BATCHES:
                _refresh_statistics(ctx)
    if batch:
        _ingest(ctx, batch, last)
    _refresh_statistics(ctx)
    _link_profiles(ctx)


def _link_profiles(ctx: DemoContext) -> None:
    """Note each member's profile (the one holding their user id) for the later phases."""
    with ctx.database.session() as session:
        rows = session.execute(
            select(Identity.value, Identity.customer_id).where(
                Identity.workspace_id == ctx.workspace_id, Identity.kind == "user_id"
            )
        )
        holders: dict[str, int] = {value: customer_id for value, customer_id in rows}
    for person in ctx.people:
        if person.user_id is not None:
            person.customer_id = holders[person.user_id]


def _ingest(ctx: DemoContext, raws: list[dict[str, Any]], last: float) -> None:
    # Received a moment after the batch's last event, as a live collector would have.
    received_at = datetime.fromtimestamp(last + 2.0, UTC)
    messages = [parse_message(raw, type_=None, index=None, received_at=received_at) for raw in raws]
    with ctx.database.session() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None
        ingest(
            session, workspace=workspace, messages=messages, received_at=received_at, source="demo"
        )


def _refresh_statistics(ctx: DemoContext) -> None:
    if ctx.database.engine.dialect.name == "postgresql":
        with ctx.database.session() as session:
            session.execute(text(f"ANALYZE {FILLED_TABLES}"))
    else:
        refresh_statistics(ctx.database.engine)


def _consume_then_mark_churned(ctx: DemoContext, advance: Callable[[int], None]) -> None:
    """Run every bus consumer until caught up, then mark the long-inactive members churned."""
    for consumer in list(bus.consumers.values()):
        while handled := bus.run_once(ctx.database, consumer, batch_size=BUS_BATCH):
            advance(handled)
    with ctx.database.session() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None
        mark_churned(session, workspace=workspace)


def finish(ctx: DemoContext) -> None:
    """Phase: let the bus consumers catch up (first/last seen, counters, order totals, stages),
    then mark the long-inactive members churned."""
    with ctx.database.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(Event).where(Event.workspace_id == ctx.workspace_id)
        )
    task = ctx.task("Profiles (bus consumers)", pending or 0)
    _consume_then_mark_churned(ctx, task.advance)
    _date_profiles(ctx)
    task.finish()


def _date_profiles(ctx: DemoContext) -> None:
    """A profile was added when its person was first seen (the shop has used cxloop for the
    whole year), not on the day the demo was built."""
    with ctx.database.session() as session:
        session.execute(
            update(Customer)
            .where(Customer.workspace_id == ctx.workspace_id, Customer.first_seen_at.is_not(None))
            .values(created_at=Customer.first_seen_at)
        )


def drain_bus(ctx: DemoContext) -> None:
    """Phase: the bus consumers read what the later phases logged (survey answers, …); an
    answer is activity, so churn is worked out again afterwards."""
    _consume_then_mark_churned(ctx, lambda _handled: None)


Phase = Callable[[DemoContext], None]
PHASES: tuple[Phase, ...] = (
    build_workspace,
    name_codes,
    add_catalogue,
    add_people,
    play_behaviour,
    record_consents,
    add_loyalty_program,
    finish,
    add_feedback,
    analyse_texts,
    add_knowledge_base,
    add_conversations,
    add_bot_month,
    drain_bus,
    settle_loyalty,
    quiet_care,
    add_insights,
)


def build_demo(
    database: Database,
    *,
    customers: int = 5000,
    seed: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DemoResult:
    """(Re)build the ``demo`` workspace: a year of data up to ``now`` (default: today, KST).

    The same seed on the same day gives the same data, message ids and timestamps included.
    """
    anchor = demo_now(now)
    ctx = DemoContext(
        database=database,
        seed=seed,
        members=customers,
        now=anchor,
        calendar=Calendar(anchor),
        progress=progress,
    )
    with _few_collections():
        for phase in PHASES:
            phase(ctx)
    return _result(ctx)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Run with the cyclic garbage collector mostly asleep.

    A build allocates millions of short-lived objects (messages, ORM rows) while tens of
    thousands live on (people, plans); default thresholds make the collector walk the
    survivors again and again, which took a quarter of the build's time. Restored after.
    """
    previous = gc.get_threshold()
    gc.freeze()  # what exists now (modules, settings, …) is never garbage
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def _result(ctx: DemoContext) -> DemoResult:
    with ctx.database.session() as session:
        ws = ctx.workspace_id

        def count(model: Any, *where: Any) -> int:
            query = select(func.count()).select_from(model).where(model.workspace_id == ws, *where)
            return session.scalar(query) or 0

        live = Customer.merged_into_id.is_(None)
        return DemoResult(
            workspace_slug=DEMO_SLUG,
            customers=count(Customer, live, Customer.lifecycle_stage != "anonymous"),
            visitors=count(Customer, live, Customer.lifecycle_stage == "anonymous"),
            events=count(Event),
            orders=count(Order),
            consents=count(ConsentRecord),
            email=OWNER_EMAIL,
            password=DEMO_PASSWORD,
            write_key=ctx.secrets["write_key"],
            api_key=ctx.secrets["api_key"],
        )
