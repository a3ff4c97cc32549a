"""What the recommender reads from a workspace: purchases and product views, in grouped SQL.

Purchases are order items of orders that count (refunded and cancelled ones do not), one per
(customer, product, order); views are ``Product Viewed`` track events, matched to products by
the ``product_id`` / ``productId`` / ``sku`` property as the commerce events keep products.
Both are read before ``as_of`` (exclusive) and from ``since`` on when given. A merged profile's
rows count for its survivor; rows of an erased profile, or of a survivor that was erased, do
not count. The database groups; Python receives one row per (customer, product) or per
(customer, product, local day).

The catalogue has no stock or active flag yet: ``load_available_products`` treats every product
of the workspace as on sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Select, String, cast, func, select
from sqlalchemy.orm import Session, aliased

from cxloop.core.timeutil import as_utc
from cxloop.insights.features import DEFAULT_TZ, VOID_ORDER_STATUSES, local_day
from cxloop.insights.recommend import BoolArray, IntArray, Interactions, interactions_from_counts
from cxloop.models import Customer, Event, Order, OrderItem, Product

PRODUCT_VIEWED = "Product Viewed"
# The properties a product event names its product by, in the order commerce events read them.
_PRODUCT_KEYS = ("product_id", "productId", "sku")


def _survivor() -> ColumnElement[int]:
    return func.coalesce(Customer.merged_into_id, Customer.id)


def _viewed_product_key() -> ColumnElement[str]:
    keys = [func.nullif(cast(Event.properties[k].as_string(), String), "") for k in _PRODUCT_KEYS]
    return func.coalesce(*keys)


def _purchases(
    workspace_id: int, as_of: datetime, since: datetime | None, *extra: Any
) -> Select[Any]:
    survivor_row = aliased(Customer)
    survivor = _survivor()
    statement = (
        select(survivor.label("customer"), OrderItem.product_id.label("product"), *extra)
        .select_from(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(survivor_row, survivor_row.id == survivor)
        .where(
            OrderItem.workspace_id == workspace_id,
            OrderItem.product_id.is_not(None),
            Order.workspace_id == workspace_id,
            Order.status.not_in(VOID_ORDER_STATUSES),
            Order.placed_at < as_of,
            Customer.workspace_id == workspace_id,
            Customer.erased_at.is_(None),
            survivor_row.erased_at.is_(None),
        )
    )
    return statement if since is None else statement.where(Order.placed_at >= since)


def _views(workspace_id: int, as_of: datetime, since: datetime | None, *extra: Any) -> Select[Any]:
    survivor_row = aliased(Customer)
    survivor = _survivor()
    statement = (
        select(survivor.label("customer"), Product.id.label("product"), *extra)
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .join(survivor_row, survivor_row.id == survivor)
        .join(
            Product,
            (Product.workspace_id == workspace_id) & (Product.external_id == _viewed_product_key()),
        )
        .where(
            Event.workspace_id == workspace_id,
            Event.type == "track",
            Event.name == PRODUCT_VIEWED,
            Event.timestamp < as_of,
            Customer.workspace_id == workspace_id,
            Customer.erased_at.is_(None),
            survivor_row.erased_at.is_(None),
        )
    )
    return statement if since is None else statement.where(Event.timestamp >= since)


def _columns(session: Session, statement: Select[Any], width: int) -> npt.NDArray[np.int64]:
    # Core rows unzipped into columns: numpy would probe each Row object as a mapping.
    columns = list(zip(*session.connection().execute(statement).all(), strict=False))
    return np.array(columns, dtype=np.int64).reshape(width, -1)


def _drop(table: npt.NDArray[np.int64], exclude: npt.ArrayLike) -> npt.NDArray[np.int64]:
    excluded = np.asarray(exclude, dtype=np.int64).reshape(-1)
    return table[:, ~np.isin(table[0], excluded)] if excluded.size else table


def load_interactions(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    since: datetime | None = None,
    exclude_customer_ids: npt.ArrayLike = (),
) -> Interactions:
    """Orders with each product and views of it per customer before ``as_of``, every product
    of the workspace a column; customers in ``exclude_customer_ids`` (survivor ids) are left out
    entirely, neither learnt from nor scored."""
    as_of = as_utc(as_of)
    since = as_utc(since) if since is not None else None
    catalogue = session.scalars(
        select(Product.id).where(Product.workspace_id == workspace_id).order_by(Product.id)
    ).all()
    purchase_query = _purchases(
        workspace_id, as_of, since, func.count(func.distinct(Order.id))
    ).group_by(_survivor(), OrderItem.product_id)
    view_query = _views(workspace_id, as_of, since, func.count()).group_by(_survivor(), Product.id)
    purchases = _drop(_columns(session, purchase_query, 3), exclude_customer_ids)
    views = _drop(_columns(session, view_query, 3), exclude_customer_ids)
    return interactions_from_counts(
        purchase_customer=purchases[0],
        purchase_product=purchases[1],
        purchase_count=purchases[2],
        view_customer=views[0],
        view_product=views[1],
        view_count=views[2],
        products=np.asarray(catalogue, dtype=np.int64),
    )


@dataclass(frozen=True)
class InteractionLog:
    """Purchases and views by local day: one entry per (customer, product, day) each, days
    numbered from 1970-01-01 in the workspace's time zone (what ``evaluate_leave_last_out``
    reads as time: a customer's last purchase day is their last basket)."""

    purchase_customer: IntArray
    purchase_product: IntArray
    purchase_day: IntArray
    view_customer: IntArray
    view_product: IntArray
    view_day: IntArray


def load_interaction_log(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    since: datetime | None = None,
    tz: str = DEFAULT_TZ,
    exclude_customer_ids: npt.ArrayLike = (),
) -> InteractionLog:
    """Who bought and viewed which product on which local day before ``as_of``."""
    as_of = as_utc(as_of)
    since = as_utc(since) if since is not None else None
    zone = ZoneInfo(tz)
    order_day = local_day(Order.placed_at, zone, as_of)
    view_day = local_day(Event.timestamp, zone, as_of)
    purchase_query = (
        _purchases(workspace_id, as_of, since, order_day.label("day"))
        .group_by(_survivor(), OrderItem.product_id, order_day)
        .order_by(_survivor(), order_day, OrderItem.product_id)
    )
    view_query = (
        _views(workspace_id, as_of, since, view_day.label("day"))
        .group_by(_survivor(), Product.id, view_day)
        .order_by(_survivor(), view_day, Product.id)
    )
    purchases = _drop(_columns(session, purchase_query, 3), exclude_customer_ids)
    views = _drop(_columns(session, view_query, 3), exclude_customer_ids)
    return InteractionLog(
        purchase_customer=purchases[0],
        purchase_product=purchases[1],
        purchase_day=purchases[2],
        view_customer=views[0],
        view_product=views[1],
        view_day=views[2],
    )


def load_available_products(
    session: Session, *, workspace_id: int, products: npt.ArrayLike
) -> BoolArray:
    """Whether each of ``products`` (ids) may be recommended: a product of the workspace.

    Products carry no stock or active flag yet, so every existing product counts as on sale;
    one deleted since (or of another workspace) does not.
    """
    wanted = np.asarray(products, dtype=np.int64).reshape(-1)
    existing = np.asarray(
        session.scalars(select(Product.id).where(Product.workspace_id == workspace_id)).all(),
        dtype=np.int64,
    )
    return np.isin(wanted, existing)
