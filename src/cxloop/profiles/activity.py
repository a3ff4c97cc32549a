"""What a customer's activity does to their profile: first and last seen, touchpoint and event
counters, order count and revenue, lifecycle stage. The events domain says what its events
show; only this module writes it onto profiles. Also the one way to follow merges to the
surviving profile."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.batching import chunked
from cxloop.core.timeutil import earliest, latest
from cxloop.models import Customer

# Completed order count and revenue per customer id, for the ids asked (from the orders).
OrderTotals = Callable[[Iterable[int]], Mapping[int, tuple[int, Decimal]]]


def lifecycle_stage(*, identified: bool, order_count: int) -> str:
    """The stage a profile is in from what it has done (churn is set by a periodic job)."""
    if order_count >= 2:
        return "repeat"
    if order_count == 1:
        return "customer"
    return "lead" if identified else "anonymous"


@dataclass
class Activity:
    """What some of one customer's events show (a batch of them, or all)."""

    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    touchpoints: Counter[str] = field(default_factory=Counter)
    identified: bool = False
    # Whether an order of theirs was placed or changed (its totals are read afresh).
    orders_changed: bool = False

    @property
    def event_count(self) -> int:
        return sum(self.touchpoints.values())

    def add(self, other: Activity) -> None:
        self.first_seen_at = earliest(self.first_seen_at, other.first_seen_at)
        self.last_seen_at = latest(self.last_seen_at, other.last_seen_at)
        self.touchpoints.update(other.touchpoints)
        self.identified = self.identified or other.identified
        self.orders_changed = self.orders_changed or other.orders_changed


def survivors(
    session: Session, ids: Iterable[int], *, workspace_id: int | None = None, lock: bool = False
) -> dict[int, Customer]:
    """Each asked id → its profile, or the profile it was merged into (a merge leaves every
    merged profile one hop from its survivor). ``lock``: rows locked in id order, as ingestion
    locks the profiles it loads, so the two never deadlock."""
    wanted = sorted(set(ids))

    def load(some: list[int]) -> dict[int, Customer]:
        query = select(Customer).where(Customer.id.in_(some)).order_by(Customer.id)
        if workspace_id is not None:
            query = query.where(Customer.workspace_id == workspace_id)
        if lock:
            query = query.with_for_update()
        return {c.id: c for c in session.scalars(query)}

    found = load(wanted) if wanted else {}
    moved = {c.merged_into_id for c in found.values() if c.merged_into_id is not None}
    if missing := sorted(moved - found.keys()):
        found.update(load(missing))
    return {
        cid: found.get(c.merged_into_id, c) if c.merged_into_id is not None else c
        for cid, c in found.items()
        if cid in wanted
    }


def survivor_of(session: Session, customer: Customer | None) -> Customer | None:
    """The profile ``customer`` lives on as (itself unless it was merged)."""
    if customer is None or customer.merged_into_id is None:
        return customer
    return survivors(session, [customer.id]).get(customer.id, customer)


def add_activity(
    session: Session, activity: Mapping[int, Activity], *, order_totals: OrderTotals
) -> None:
    """Add what a batch of events showed to each profile (to its survivor, when it was merged
    since the events were read: the merge moved its events and counters there)."""
    profiles = survivors(session, activity, lock=True)
    combined: dict[int, Activity] = {}
    for cid, seen in activity.items():
        if cid in profiles:
            combined.setdefault(profiles[cid].id, Activity()).add(seen)
    live = {c.id: c for c in profiles.values()}
    totals = order_totals([cid for cid, a in combined.items() if a.orders_changed])
    for cid, seen in combined.items():
        customer = live[cid]
        customer.first_seen_at = earliest(customer.first_seen_at, seen.first_seen_at)
        customer.last_seen_at = latest(customer.last_seen_at, seen.last_seen_at)
        counts = dict(customer.touchpoints or {})
        for channel, n in seen.touchpoints.items():
            counts[channel] = counts.get(channel, 0) + n
        customer.touchpoints = counts
        customer.event_count = (customer.event_count or 0) + seen.event_count
        if seen.orders_changed:
            customer.order_count, customer.total_revenue = totals.get(cid, (0, Decimal(0)))
        if customer.erased_at is None and customer.merged_into_id is None:
            # Any new activity also brings a churned customer back.
            customer.lifecycle_stage = lifecycle_stage(
                identified=seen.identified or customer.lifecycle_stage != "anonymous",
                order_count=customer.order_count,
            )


def set_activity(
    session: Session,
    activity: Mapping[int, Activity],
    *,
    customer_ids: Iterable[int],
    order_totals: OrderTotals,
) -> int:
    """Set the counters of these profiles to what all their activity shows (a recount from the
    log; a profile with none gets zeros); returns how many changed. Idempotent. Merged and
    erased profiles are left alone: their events and orders live on the survivor."""
    ids = sorted(set(customer_ids))
    totals = order_totals(ids)
    changed = 0
    for customer in session.scalars(
        select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update()
    ):
        if customer.merged_into_id is not None or customer.erased_at is not None:
            continue
        seen = activity.get(customer.id, Activity())
        before = counters_of(customer)
        customer.event_count = seen.event_count
        customer.touchpoints = dict(seen.touchpoints)
        customer.first_seen_at = earliest(customer.first_seen_at, seen.first_seen_at)
        customer.last_seen_at = latest(customer.last_seen_at, seen.last_seen_at)
        customer.order_count, customer.total_revenue = totals.get(customer.id, (0, Decimal(0)))
        if seen.event_count:  # as adding activity does
            customer.lifecycle_stage = lifecycle_stage(
                identified=seen.identified or customer.lifecycle_stage != "anonymous",
                order_count=customer.order_count,
            )
        changed += counters_of(customer) != before
    return changed


@dataclass(frozen=True)
class Counters:
    """A profile's counters that its events and orders determine."""

    event_count: int
    touchpoints: tuple[tuple[str, int], ...]
    order_count: int
    revenue: Decimal

    @classmethod
    def expected(cls, activity: Activity | None, orders: tuple[int, Decimal]) -> Counters:
        seen = activity or Activity()
        return cls(
            seen.event_count,
            tuple(sorted((k, v) for k, v in seen.touchpoints.items() if v)),
            orders[0],
            Decimal(str(orders[1])),
        )


def counters_of(customer: Customer) -> Counters:
    return Counters(
        customer.event_count or 0,
        tuple(sorted((k, v) for k, v in (customer.touchpoints or {}).items() if v)),
        customer.order_count or 0,
        Decimal(str(customer.total_revenue or 0)),
    )


def live_counters(
    session: Session, *, workspace_id: int | None = None, chunk: int = 1000
) -> Iterator[list[tuple[Customer, Counters]]]:
    """The counters of every live profile (not merged, not erased), a chunk at a time."""
    query = (
        select(Customer)
        .where(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
        .order_by(Customer.id)
    )
    if workspace_id is not None:
        query = query.where(Customer.workspace_id == workspace_id)
    yield from chunked(((c, counters_of(c)) for c in session.scalars(query)), chunk)
