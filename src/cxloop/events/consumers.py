"""Bus consumers shipped with the events domain, and the check of what they derived.

``profile_activity`` tells profiles what each batch of events shows (first and last seen,
touchpoints, orders); profiles writes it (``profiles.activity``), following merges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.batching import chunked
from cxloop.core.db import Database
from cxloop.events.bus import Position, at_or_before, hold
from cxloop.events.commerce import ORDER_COMPLETED, ORDER_STATUS_EVENTS, order_totals
from cxloop.models import BusCheckpoint, Event
from cxloop.profiles.activity import (
    Activity,
    Counters,
    OrderTotals,
    add_activity,
    live_counters,
    set_activity,
)

_ORDER_EVENTS = frozenset({ORDER_COMPLETED, *ORDER_STATUS_EVENTS})
# Events cxloop records about a customer rather than by them (a segment entered…): they reach
# the bus and the timeline but are not the customer's activity, so no counter or "last seen".
SYSTEM_CHANNEL = "cxloop"


def _orders(session: Session) -> OrderTotals:
    return lambda ids: order_totals(session, customer_ids=ids)


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
        shown: dict[int, Activity] = defaultdict(Activity)
        for event in events:
            if event.channel == SYSTEM_CHANNEL:
                continue
            seen = shown[event.customer_id]
            seen.add(
                Activity(
                    first_seen_at=event.timestamp,
                    last_seen_at=event.timestamp,
                    identified=bool(event.user_id),
                    orders_changed=event.type == "track" and event.name in _ORDER_EVENTS,
                )
            )
            seen.touchpoints[event.channel] += 1
        add_activity(session, shown, order_totals=_orders(session))

    def replay(self, session: Session, events: Sequence[Event], *, upto: Position) -> None:
        """Recount the profiles these events belong to from the log (counting them again
        would count them twice)."""
        recount(session, customer_ids={e.customer_id for e in events}, upto=upto)


profile_activity = ProfileActivity()


def tally(
    session: Session,
    *,
    upto: Position,
    customer_ids: Iterable[int] | None = None,
    workspace_id: int | None = None,
) -> dict[int, Activity]:
    """What the log up to ``upto`` shows of each profile's activity."""
    query = (
        select(
            Event.customer_id,
            Event.channel,
            func.count(),
            func.min(Event.timestamp),
            func.max(Event.timestamp),
            func.count(Event.user_id),
        )
        .where(at_or_before(session, upto), Event.channel != SYSTEM_CHANNEL)
        .group_by(Event.customer_id, Event.channel)
    )
    if customer_ids is not None:
        query = query.where(Event.customer_id.in_(sorted(customer_ids)))
    if workspace_id is not None:
        query = query.where(Event.workspace_id == workspace_id)
    found: dict[int, Activity] = defaultdict(Activity)
    for cid, channel, n, first, last, with_user in session.execute(query):
        seen = Activity(first_seen_at=first, last_seen_at=last, identified=with_user > 0)
        seen.touchpoints[channel] = n
        found[cid].add(seen)
    return dict(found)


def recount(session: Session, *, customer_ids: Iterable[int], upto: Position) -> int:
    """Set the counters of these profiles from the log up to ``upto`` and their orders;
    returns how many profiles changed. Idempotent: a second run changes nothing."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    return set_activity(
        session,
        tally(session, upto=upto, customer_ids=ids),
        customer_ids=ids,
        order_totals=_orders(session),
    )


@dataclass(frozen=True)
class Mismatch:
    """A profile whose stored counters differ from what the log and its orders say."""

    customer_id: int
    workspace_id: int
    stored: Counters
    expected: Counters


def check_counters(session: Session, *, workspace_id: int | None = None) -> list[Mismatch]:
    """Profiles whose event count, touchpoints, order count or revenue differ from the log
    (up to what the consumer has read) and the orders table. Reads one consistent snapshot."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    checkpoint = session.get(BusCheckpoint, profile_activity.name)
    upto = Position(checkpoint.tx, checkpoint.position) if checkpoint else Position()
    tallies = tally(session, upto=upto, workspace_id=workspace_id)
    found = []
    for chunk in live_counters(session, workspace_id=workspace_id):
        orders = order_totals(session, customer_ids=[c.id for c, _ in chunk])
        for customer, stored in chunk:
            expected = Counters.expected(
                tallies.get(customer.id), orders.get(customer.id, (0, Decimal(0)))
            )
            if stored != expected:
                found.append(Mismatch(customer.id, customer.workspace_id, stored, expected))
    return found


def repair_counters(database: Database, *, customer_ids: Iterable[int]) -> int:
    """Recount these profiles from the log, a thousand per transaction; returns how many
    changed."""
    changed = 0
    for chunk in chunked(sorted(set(customer_ids)), 1000):
        with database.session() as session:
            upto = hold(session, profile_activity.name)
            changed += recount(session, customer_ids=chunk, upto=upto)
    return changed
