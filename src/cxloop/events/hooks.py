"""What the events domain does when profiles merge, are exported or are erased."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cxloop.models import Customer, Event, Order
from cxloop.profiles import identity

# Keys removed from stored events and orders when a customer is erased: they identify a person.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "name",
        "firstName",
        "lastName",
        "first_name",
        "last_name",
        "address",
        "birthday",
        "username",
        "ip",
        "userAgent",
        "user_agent",
        "avatar",
        "title",
        "age",
        "gender",
        "shipping_address",
        "billing_address",
        "recipient",
        "zip",
        "postal_code",
    }
)


def move_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    return identity.move_customer_rows(
        session, (Event, Order), workspace_id, survivor_id, merged_id
    )


def export_events_and_orders(session: Session, customer: Customer) -> dict[str, Any]:
    events = session.scalars(
        select(Event)
        .where(Event.workspace_id == customer.workspace_id, Event.customer_id == customer.id)
        .order_by(Event.timestamp, Event.id)
    )
    orders = session.scalars(
        select(Order)
        .where(Order.workspace_id == customer.workspace_id, Order.customer_id == customer.id)
        .options(selectinload(Order.items))
        .order_by(Order.placed_at)
    )
    return {
        "events": [
            {
                "message_id": e.message_id,
                "type": e.type,
                "name": e.name,
                "channel": e.channel,
                "user_id": e.user_id,
                "anonymous_id": e.anonymous_id,
                "timestamp": e.timestamp,
                "properties": e.properties,
                "context": e.context,
            }
            for e in events
        ],
        "orders": [
            {
                "order_id": o.external_id,
                "status": o.status,
                "total": str(o.total),
                "currency": o.currency,
                "placed_at": o.placed_at,
                "coupon": o.coupon,
                "items": [
                    {
                        "product_id": i.external_product_id,
                        "name": i.name,
                        "price": str(i.price),
                        "quantity": i.quantity,
                    }
                    for i in o.items
                ],
            }
            for o in orders
        ],
    }


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def scrub_events_and_orders(session: Session, customer: Customer) -> dict[str, int]:
    """Keep the events and orders (counts and amounts) but nothing that names the person."""
    events = list(
        session.scalars(
            select(Event).where(
                Event.workspace_id == customer.workspace_id, Event.customer_id == customer.id
            )
        )
    )
    for event in events:
        event.user_id = None
        event.anonymous_id = None
        # An identify's properties are the traits, which erasure clears from the profile too.
        event.properties = {} if event.type == "identify" else _scrub(event.properties)
        event.context = _scrub(event.context)
    orders = list(
        session.scalars(
            select(Order).where(
                Order.workspace_id == customer.workspace_id, Order.customer_id == customer.id
            )
        )
    )
    for order in orders:
        order.properties = _scrub(order.properties)
    return {"events_scrubbed": len(events), "orders_scrubbed": len(orders)}
