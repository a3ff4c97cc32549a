"""Orders, order items and products kept from Segment e-commerce events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.events.segment import Message
from cxloop.models import Order, OrderItem, Product

ORDER_COMPLETED = "Order Completed"
ORDER_STATUS_EVENTS = {"Order Refunded": "refunded", "Order Cancelled": "cancelled"}
PRODUCT_EVENTS = frozenset(
    {
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Product Removed",
        "Product Added to Wishlist",
        "Product Shared",
        "Product Reviewed",
    }
)
# Track events that keep orders or products.
COMMERCE_EVENTS = frozenset({ORDER_COMPLETED, *ORDER_STATUS_EVENTS, *PRODUCT_EVENTS})
# ISO 4217 currencies without a minor unit: amounts are whole numbers.
ZERO_DECIMAL_CURRENCIES = frozenset({"KRW", "JPY", "VND", "CLP", "ISK", "UGX", "PYG", "XAF"})


def money(value: Any, currency: str = "KRW") -> Decimal | None:
    """A monetary amount as a Decimal rounded to the currency's minor unit, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        return None
    quantum = Decimal(1) if currency.upper() in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return amount.quantize(quantum)


def currency_of(props: dict[str, Any], default: str) -> str:
    """The event's ``currency`` when it is an ISO 4217 code, else ``default``."""
    value = props.get("currency")
    if isinstance(value, str) and len(value.strip()) == 3 and value.strip().isalpha():
        return value.strip().upper()
    return default


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def product_fields(raw: dict[str, Any], currency: str) -> dict[str, Any] | None:
    external = _text(raw.get("product_id") or raw.get("productId") or raw.get("sku"), 128)
    if external is None:
        return None
    return {
        "external_id": external,
        "sku": _text(raw.get("sku"), 128),
        "name": _text(raw.get("name"), 300) or "",
        "category": _text(raw.get("category"), 200),
        "brand": _text(raw.get("brand"), 200),
        "price": money(raw.get("price"), currency),
        "currency": currency,
    }


@dataclass(frozen=True)
class LineItem:
    """One line of an order's ``products``: the product's fields (None without an id), how
    many, and what the line comes to."""

    fields: dict[str, Any] | None
    category: str | None
    quantity: int
    amount: Decimal


def line_items(props: dict[str, Any], currency: str) -> list[LineItem]:
    """The lines of an order's ``products`` list; entries that are not objects are skipped,
    a quantity that is not a sensible whole number counts as 1."""
    lines = []
    for raw in props.get("products") or []:
        if not isinstance(raw, dict):
            continue
        fields = product_fields(raw, currency)
        quantity = raw.get("quantity", 1)
        quantity = quantity if isinstance(quantity, int) and 0 < quantity < 1_000_000 else 1
        price = money(raw.get("price"), currency) or Decimal(0)
        lines.append(
            LineItem(
                fields=fields,
                category=_text(raw.get("category"), 200),
                quantity=quantity,
                amount=price * quantity,
            )
        )
    return lines


def upsert_products(
    session: Session, *, workspace_id: int, products: Iterable[dict[str, Any]]
) -> dict[str, int]:
    """Create or refresh products by external id; returns external id → product id."""
    latest: dict[str, dict[str, Any]] = {}
    for fields in products:
        latest[fields["external_id"]] = {
            **latest.get(fields["external_id"], {}),
            **{k: v for k, v in fields.items() if v not in (None, "")},
        }
    if not latest:
        return {}
    existing = {
        p.external_id: p
        for p in session.scalars(
            select(Product).where(
                Product.workspace_id == workspace_id, Product.external_id.in_(latest)
            )
        )
    }
    for external_id, fields in latest.items():
        product = existing.get(external_id)
        if product is None:
            product = Product(workspace_id=workspace_id, properties={}, **fields)
            session.add(product)
            existing[external_id] = product
        else:
            for key, value in fields.items():
                if getattr(product, key) != value:
                    setattr(product, key, value)
    session.flush()
    return {external_id: p.id for external_id, p in existing.items()}


def record_commerce(
    session: Session,
    *,
    workspace_id: int,
    default_currency: str,
    rows: list[tuple[Message, int, int]],
) -> set[int]:
    """Keep orders and products from new events; returns customers whose orders changed.

    ``rows`` holds (message, customer id, event id) for the events just stored.
    """
    products: list[dict[str, Any]] = []
    orders: list[tuple[Message, int, int, str]] = []
    status_changes: list[tuple[str, str]] = []
    for message, customer_id, event_id in rows:
        if message.type != "track" or message.name is None:
            continue
        props = message.properties
        currency = currency_of(props, default_currency)
        if message.name == ORDER_COMPLETED:
            order_id = _text(props.get("order_id") or props.get("orderId"), 128)
            if order_id is None:
                continue
            orders.append((message, customer_id, event_id, order_id))
            for item in props.get("products") or []:
                if isinstance(item, dict) and (fields := product_fields(item, currency)):
                    products.append(fields)
        elif message.name in ORDER_STATUS_EVENTS:
            order_id = _text(props.get("order_id") or props.get("orderId"), 128)
            if order_id:
                status_changes.append((order_id, ORDER_STATUS_EVENTS[message.name]))
        elif message.name in PRODUCT_EVENTS and (fields := product_fields(props, currency)):
            products.append(fields)
    product_ids = upsert_products(session, workspace_id=workspace_id, products=products)
    changed: set[int] = set()
    if orders:
        known = set(
            session.scalars(
                select(Order.external_id).where(
                    Order.workspace_id == workspace_id,
                    Order.external_id.in_({o[3] for o in orders}),
                )
            )
        )
        for message, customer_id, event_id, order_id in orders:
            if order_id in known:
                continue  # the same order sent again under another messageId
            known.add(order_id)
            session.add(
                _order(
                    workspace_id,
                    message,
                    customer_id,
                    event_id,
                    order_id,
                    default_currency,
                    product_ids,
                )
            )
            changed.add(customer_id)
    for order_id, status in status_changes:
        order = session.scalar(
            select(Order).where(Order.workspace_id == workspace_id, Order.external_id == order_id)
        )
        if order is not None and order.status != status:
            order.status = status
            changed.add(order.customer_id)
    session.flush()
    return changed


def _order(
    workspace_id: int,
    message: Message,
    customer_id: int,
    event_id: int,
    order_id: str,
    default_currency: str,
    product_ids: dict[str, int],
) -> Order:
    props = message.properties
    currency = currency_of(props, default_currency)
    items = []
    for line in line_items(props, currency):
        fields = line.fields or {}
        items.append(
            OrderItem(
                workspace_id=workspace_id,
                product_id=product_ids.get(fields.get("external_id", "")),
                external_product_id=fields.get("external_id"),
                sku=fields.get("sku"),
                name=fields.get("name") or "",
                category=line.category,
                price=fields.get("price") or Decimal(0),
                quantity=line.quantity,
            )
        )
    total = money(props.get("total"), currency)
    revenue = money(props.get("revenue"), currency)
    if total is None:
        total = (
            revenue
            if revenue is not None
            else sum((i.price * i.quantity for i in items), Decimal(0))
        )
    return Order(
        workspace_id=workspace_id,
        customer_id=customer_id,
        external_id=order_id,
        status="completed",
        total=total,
        revenue=revenue,
        shipping=money(props.get("shipping"), currency),
        tax=money(props.get("tax"), currency),
        discount=money(props.get("discount"), currency),
        currency=currency,
        coupon=_text(props.get("coupon"), 128),
        channel=message.channel,
        placed_at=message.timestamp,
        event_id=event_id,
        properties={k: v for k, v in props.items() if k != "products"},
        items=items,
    )


def order_totals(
    session: Session, *, customer_ids: Iterable[int]
) -> dict[int, tuple[int, Decimal]]:
    """Completed order count and revenue per customer, from the orders table."""
    ids = list(customer_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Order.customer_id, func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(Order.customer_id.in_(ids), Order.status == "completed")
        .group_by(Order.customer_id)
    ).all()
    return {cid: (int(n), Decimal(str(total))) for cid, n, total in rows}


def spend_since(
    session: Session, *, workspace_id: int, since: datetime, customer_ids: Iterable[int] | None
) -> dict[int, tuple[int, Decimal]]:
    """Completed orders and their total per customer placed since ``since`` (of every customer
    of the workspace when ``customer_ids`` is None)."""
    query = (
        select(Order.customer_id, func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(
            Order.workspace_id == workspace_id,
            Order.placed_at >= since,
            Order.status == "completed",
        )
        .group_by(Order.customer_id)
    )
    if customer_ids is not None:
        ids = list(customer_ids)
        if not ids:
            return {}
        query = query.where(Order.customer_id.in_(ids))
    return {cid: (int(n), Decimal(str(total))) for cid, n, total in session.execute(query)}
