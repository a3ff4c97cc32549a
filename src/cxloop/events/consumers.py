"""Bus consumers shipped with the events domain."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.events.bus import Position, at_or_before, hold
from cxloop.events.commerce import ORDER_COMPLETED, ORDER_STATUS_EVENTS, order_totals
from cxloop.models import BusCheckpoint, Customer, Event

T = TypeVar("T")
_ORDER_EVENTS = frozenset({ORDER_COMPLETED, *ORDER_STATUS_EVENTS})


def lifecycle_stage(*, identified: bool, order_count: int) -> str:
    """The stage a profile is in from what it has done (churn is set by a periodic job)."""
    if order_count >= 2:
        return "repeat"
    if order_count == 1:
        return "customer"
    return "lead" if identified else "anonymous"


class ProfileActivity:
    """Keeps each profile's first/last seen, touchpoint counters, order totals and stage."""

    name = "profile_activity"
    columns: tuple[str, ...] | None = (
        "customer_id",
        "timestamp",
        "channel",
        "user_id",
        "type",
        "name",
    )

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        customers = _locked_survivors(session, {e.customer_id for e in events})
        first: dict[int, datetime] = {}
        last: dict[int, datetime] = {}
        channels: dict[int, Counter[str]] = defaultdict(Counter)
        identified: set[int] = set()
        orders_changed: set[int] = set()
        for event in events:
            # A profile merged since the batch was read: its events, orders and counters are
            # on the survivor now, and so is this event.
            cid = customers[event.customer_id].id
            if cid not in first or event.timestamp < first[cid]:
                first[cid] = event.timestamp
            if cid not in last or event.timestamp > last[cid]:
                last[cid] = event.timestamp
            channels[cid][event.channel] += 1
            if event.user_id:
                identified.add(cid)
            if event.type == "track" and event.name in _ORDER_EVENTS:
                orders_changed.add(cid)
        totals = order_totals(session, customer_ids=orders_changed)
        for customer in {c.id: c for c in customers.values()}.values():
            cid = customer.id
            if customer.first_seen_at is None or first[cid] < customer.first_seen_at:
                customer.first_seen_at = first[cid]
            if customer.last_seen_at is None or last[cid] > customer.last_seen_at:
                customer.last_seen_at = last[cid]
            counts = dict(customer.touchpoints or {})
            for channel, n in channels[cid].items():
                counts[channel] = counts.get(channel, 0) + n
            customer.touchpoints = counts
            customer.event_count = (customer.event_count or 0) + sum(channels[cid].values())
            if cid in orders_changed:
                customer.order_count, customer.total_revenue = totals.get(cid, (0, 0))  # type: ignore[assignment]
            if customer.erased_at is None and customer.merged_into_id is None:
                is_identified = cid in identified or customer.lifecycle_stage != "anonymous"
                # Any new activity also brings a churned customer back.
                customer.lifecycle_stage = lifecycle_stage(
                    identified=is_identified, order_count=customer.order_count
                )

    def replay(self, session: Session, events: Sequence[Event], *, upto: Position) -> None:
        """Recount the profiles these events belong to from the log (counting them again
        would count them twice)."""
        recount(session, customer_ids={e.customer_id for e in events}, upto=upto)


profile_activity = ProfileActivity()


def _locked_survivors(session: Session, ids: set[int]) -> dict[int, Customer]:
    """The profiles with these ids, locked, each replaced by the one it was merged into (a
    merge leaves one hop to the survivor)."""
    # Locked in id order, as ingestion locks the profiles it loads: no deadlock between them.
    found = {
        c.id: c
        for c in session.scalars(
            select(Customer)
            .where(Customer.id.in_(sorted(ids)))
            .order_by(Customer.id)
            .with_for_update()
        )
    }
    moved = {c.merged_into_id for c in found.values() if c.merged_into_id is not None}
    if moved - found.keys():
        found.update(
            (c.id, c)
            for c in session.scalars(
                select(Customer)
                .where(Customer.id.in_(sorted(moved - found.keys())))
                .order_by(Customer.id)
                .with_for_update()
            )
        )
    return {
        cid: found.get(c.merged_into_id, c) if c.merged_into_id is not None else c
        for cid, c in found.items()
        if cid in ids
    }


@dataclass(frozen=True)
class Tally:
    """What the log says a profile's counters should be."""

    event_count: int = 0
    touchpoints: tuple[tuple[str, int], ...] = ()
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    identified: bool = False


def tally(
    session: Session,
    *,
    upto: Position,
    customer_ids: Iterable[int] | None = None,
    workspace_id: int | None = None,
) -> dict[int, Tally]:
    """Each profile's counters as the log gives them, from the events up to ``upto``."""
    query = (
        select(
            Event.customer_id,
            Event.channel,
            func.count(),
            func.min(Event.timestamp),
            func.max(Event.timestamp),
            func.count(Event.user_id),
        )
        .where(at_or_before(session, upto))
        .group_by(Event.customer_id, Event.channel)
    )
    if customer_ids is not None:
        query = query.where(Event.customer_id.in_(sorted(customer_ids)))
    if workspace_id is not None:
        query = query.where(Event.workspace_id == workspace_id)
    found: dict[int, Tally] = {}
    for cid, channel, n, first, last, with_user in session.execute(query):
        was = found.get(cid, Tally())
        found[cid] = Tally(
            event_count=was.event_count + n,
            touchpoints=tuple(sorted((*was.touchpoints, (channel, n)))),
            first_seen_at=first if was.first_seen_at is None else min(first, was.first_seen_at),
            last_seen_at=last if was.last_seen_at is None else max(last, was.last_seen_at),
            identified=was.identified or with_user > 0,
        )
    return found


def recount(session: Session, *, customer_ids: Iterable[int], upto: Position) -> int:
    """Set the counters of these profiles from the log up to ``upto`` and their orders;
    returns how many profiles changed. Idempotent: a second run changes nothing."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    tallies = tally(session, upto=upto, customer_ids=ids)
    totals = order_totals(session, customer_ids=ids)
    changed = 0
    for customer in session.scalars(
        select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update()
    ):
        if customer.merged_into_id is not None or customer.erased_at is not None:
            continue  # its events and orders live on the survivor; an erased one keeps none
        t = tallies.get(customer.id, Tally())
        before = _counters(customer)
        customer.event_count = t.event_count
        customer.touchpoints = dict(t.touchpoints)
        if t.first_seen_at is not None and (
            customer.first_seen_at is None or t.first_seen_at < customer.first_seen_at
        ):
            customer.first_seen_at = t.first_seen_at
        if t.last_seen_at is not None and (
            customer.last_seen_at is None or t.last_seen_at > customer.last_seen_at
        ):
            customer.last_seen_at = t.last_seen_at
        customer.order_count, customer.total_revenue = totals.get(customer.id, (0, Decimal(0)))
        if t.event_count:  # as the live handler does on any activity
            customer.lifecycle_stage = lifecycle_stage(
                identified=t.identified or customer.lifecycle_stage != "anonymous",
                order_count=customer.order_count,
            )
        changed += _counters(customer) != before
    return changed


def _counters(customer: Customer) -> tuple[object, ...]:
    return (
        customer.event_count,
        tuple(sorted((customer.touchpoints or {}).items())),
        customer.order_count,
        Decimal(str(customer.total_revenue or 0)),
    )


@dataclass(frozen=True)
class Mismatch:
    """A profile whose stored counters differ from what the log and its orders say."""

    customer_id: int
    workspace_id: int
    stored: tuple[object, ...]
    expected: tuple[object, ...]


def check_counters(session: Session, *, workspace_id: int | None = None) -> list[Mismatch]:
    """Profiles whose event count, touchpoints, order count or revenue differ from the log
    (up to what the consumer has read) and the orders table. Reads one consistent snapshot."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    checkpoint = session.get(BusCheckpoint, profile_activity.name)
    upto = Position(checkpoint.tx, checkpoint.position) if checkpoint else Position()
    tallies = tally(session, upto=upto, workspace_id=workspace_id)
    query = (
        select(Customer)
        .where(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
        .order_by(Customer.id)
    )
    if workspace_id is not None:
        query = query.where(Customer.workspace_id == workspace_id)
    found = []
    for chunk in _chunks(session.scalars(query), 1000):
        orders = order_totals(session, customer_ids=[c.id for c in chunk])
        for customer in chunk:
            t = tallies.get(customer.id, Tally())
            count, revenue = orders.get(customer.id, (0, Decimal(0)))
            expected = (t.event_count, t.touchpoints, count, Decimal(str(revenue)))
            stored = _counters(customer)
            if stored != expected:
                found.append(Mismatch(customer.id, customer.workspace_id, stored, expected))
    return found


def repair_counters(database: Database, *, customer_ids: Iterable[int]) -> int:
    """Recount these profiles from the log, a thousand per transaction; returns how many
    changed."""
    changed = 0
    for chunk in _chunks(sorted(set(customer_ids)), 1000):
        with database.session() as session:
            upto = hold(session, profile_activity.name)
            changed += recount(session, customer_ids=chunk, upto=upto)
    return changed


def _chunks(rows: Iterable[T], size: int) -> Iterable[list[T]]:
    chunk: list[T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
