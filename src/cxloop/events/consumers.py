"""Bus consumers shipped with the events domain."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.events.bus import register
from cxloop.events.commerce import ORDER_COMPLETED, ORDER_STATUS_EVENTS, order_totals
from cxloop.models import Customer, Event

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
        first: dict[int, datetime] = {}
        last: dict[int, datetime] = {}
        channels: dict[int, Counter[str]] = defaultdict(Counter)
        identified: set[int] = set()
        orders_changed: set[int] = set()
        for event in events:
            cid = event.customer_id
            if cid not in first or event.timestamp < first[cid]:
                first[cid] = event.timestamp
            if cid not in last or event.timestamp > last[cid]:
                last[cid] = event.timestamp
            channels[cid][event.channel] += 1
            if event.user_id:
                identified.add(cid)
            if event.type == "track" and event.name in _ORDER_EVENTS:
                orders_changed.add(cid)
        # Locked in id order, as ingestion locks the profiles it loads: no deadlock between them.
        customers = session.scalars(
            select(Customer)
            .where(Customer.id.in_(sorted(first)))
            .order_by(Customer.id)
            .with_for_update()
        )
        totals = order_totals(session, customer_ids=orders_changed)
        for customer in customers:
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


register(ProfileActivity())
