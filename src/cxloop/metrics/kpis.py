"""Business KPIs from orders and events: retention, churn, repeat purchase, average order value,
historical customer value and revenue cohorts.

Every function takes the session, then the workspace and the period as keyword arguments, and
aggregates in the database (the same SQL on SQLite and PostgreSQL); Python only shapes the few
aggregated rows. Rules shared by all of them:

- periods are half-open, ``start <= t < end``; naive datetimes are taken as UTC;
- refunded and cancelled orders do not count (neither as revenue nor as activity);
- a merged profile is not a customer: whatever still points at it counts for its survivor
  (merges normally move events and orders already);
- money is summed per currency, never across currencies, and rounded to the currency's minor
  unit (KRW has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CompoundSelect, Select, case, func, literal, select, union
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc
from cxloop.events.commerce import ORDER_STATUS_EVENTS, ZERO_DECIMAL_CURRENCIES
from cxloop.models import Customer, Event, Order

# Statuses whose orders are void: what they paid was given back or never taken.
VOID_ORDER_STATUSES = tuple(sorted(set(ORDER_STATUS_EVENTS.values())))
DEFAULT_TZ = "Asia/Seoul"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retention:
    previous_start: datetime
    start: datetime
    end: datetime
    previous_active: int  # customers active in [previous_start, start)
    retained: int  # of those, active again in [start, end)
    rate: float | None  # retained / previous_active; None when nobody was active before


@dataclass(frozen=True, slots=True)
class Churn:
    as_of: datetime
    inactive_days: int
    customers: int  # customers with at least one order before as_of
    churned: int  # of those, no event or order in the last inactive_days
    rate: float | None


@dataclass(frozen=True, slots=True)
class RepeatPurchase:
    start: datetime
    end: datetime
    buyers: int  # customers with at least one order in the window
    repeat_buyers: int  # customers with two or more
    rate: float | None


@dataclass(frozen=True, slots=True)
class OrderValue:
    currency: str
    orders: int
    revenue: Decimal
    average: Decimal  # revenue / orders, in the currency's minor unit


@dataclass(frozen=True, slots=True)
class CustomerValue:
    customer_id: int
    currency: str
    orders: int
    revenue: Decimal  # sum of counted order totals (refunds and cancellations left out)
    first_order_at: datetime
    last_order_at: datetime
    tenure_days: int  # whole days from the first order to as_of
    average_order_value: Decimal


@dataclass(frozen=True, slots=True)
class CohortRow:
    cohort: date  # first day of the month of the customers' first order, in the table's zone
    label: str  # "2025-03"
    customers: int
    revenue: Decimal  # everything the cohort spent up to as_of
    # Cumulative revenue per customer by months since the first order: [0] is the first month.
    cumulative_per_customer: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class CohortTable:
    as_of: datetime
    currency: str
    tz: str
    rows: tuple[CohortRow, ...]  # oldest cohort first


# --- shared pieces -----------------------------------------------------------------------------


def _period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise ValueError(f"the period must end after it starts ({start} → {end})")
    return start, end


def _customer() -> ColumnElement[int]:
    """The customer a row counts for: the survivor when its profile was merged."""
    return func.coalesce(Customer.merged_into_id, Customer.id)


def _counted_orders(workspace_id: int, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.workspace_id == workspace_id,
            Customer.workspace_id == workspace_id,
            Order.status.not_in(VOID_ORDER_STATUSES),
        )
    )


def _active(workspace_id: int, start: datetime, end: datetime) -> CompoundSelect:
    """Customers with an event or a counted order in [start, end), each once."""
    events = (
        select(_customer().label("customer_id"))
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(
            Event.workspace_id == workspace_id,
            Customer.workspace_id == workspace_id,
            Event.timestamp >= start,
            Event.timestamp < end,
        )
    )
    orders = _counted_orders(workspace_id, _customer().label("customer_id")).where(
        Order.placed_at >= start, Order.placed_at < end
    )
    return union(events, orders)


def _count_in(column: ColumnElement[int], found: CompoundSelect) -> ColumnElement[int]:
    """How many rows have ``column`` among the customers ``found`` selects. An ``IN`` builds a
    lookup of ``found`` once (an index on SQLite, a hash on PostgreSQL); an outer join of the
    two subqueries was left to the planner, which on SQLite could scan one for every row of
    the other."""
    return func.coalesce(func.sum(case((column.in_(found), 1), else_=0)), 0)


def _unit(currency: str) -> Decimal:
    return Decimal(1) if currency.upper() in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def _money(value: Any, currency: str) -> Decimal:
    # SQLite sums NUMERIC as floating point: round back to the currency's unit.
    amount = Decimal(str(value)) if value is not None else Decimal(0)
    return amount.quantize(_unit(currency), rounding=ROUND_HALF_UP)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- KPIs --------------------------------------------------------------------------------------


def retention_rate(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> Retention:
    """Share of customers active in the previous period of equal length who are active again
    in [start, end)."""
    start, end = _period(start, end)
    previous_start = start - (end - start)
    before = _active(workspace_id, previous_start, start).subquery("before")
    previous_active, retained = session.execute(
        select(func.count(), _count_in(before.c.customer_id, _active(workspace_id, start, end)))
    ).one()
    return Retention(
        previous_start=previous_start,
        start=start,
        end=end,
        previous_active=previous_active,
        retained=retained,
        rate=_rate(retained, previous_active),
    )


def churn_rate(
    session: Session, *, workspace_id: int, as_of: datetime, inactive_days: int = 90
) -> Churn:
    """Share of customers (one order or more before ``as_of``) with no event and no order in
    the ``inactive_days`` before ``as_of``."""
    if inactive_days <= 0:
        raise ValueError(f"the inactivity window must be at least one day; got {inactive_days}")
    as_of = as_utc(as_of)
    buyers = (
        _counted_orders(workspace_id, _customer().label("customer_id"))
        .where(Order.placed_at < as_of)
        .distinct()
        .subquery("buyers")
    )
    recent = _active(workspace_id, as_of - timedelta(days=inactive_days), as_of)
    customers, active = session.execute(
        select(func.count(), _count_in(buyers.c.customer_id, recent))
    ).one()
    return Churn(
        as_of=as_of,
        inactive_days=inactive_days,
        customers=customers,
        churned=customers - active,
        rate=_rate(customers - active, customers),
    )


def repeat_purchase_rate(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> RepeatPurchase:
    """Share of the customers who ordered in [start, end) who ordered at least twice in it."""
    start, end = _period(start, end)
    per_customer = (
        _counted_orders(workspace_id, _customer().label("customer_id"), func.count().label("n"))
        .where(Order.placed_at >= start, Order.placed_at < end)
        .group_by(_customer())
        .subquery("per_customer")
    )
    buyers, repeat = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((per_customer.c.n >= 2, 1), else_=0)), 0),
        ).select_from(per_customer)
    ).one()
    return RepeatPurchase(
        start=start,
        end=end,
        buyers=buyers,
        repeat_buyers=int(repeat),
        rate=_rate(int(repeat), buyers),
    )


def average_order_value(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> list[OrderValue]:
    """Orders, revenue and average order value per currency in [start, end), busiest first."""
    start, end = _period(start, end)
    rows = session.execute(
        _counted_orders(
            workspace_id, Order.currency, func.count(), func.coalesce(func.sum(Order.total), 0)
        )
        .where(Order.placed_at >= start, Order.placed_at < end)
        .group_by(Order.currency)
    ).all()
    values = []
    for currency, orders, revenue in rows:
        total = _money(revenue, currency)
        average = (total / orders).quantize(_unit(currency), rounding=ROUND_HALF_UP)
        values.append(OrderValue(currency=currency, orders=orders, revenue=total, average=average))
    return sorted(values, key=lambda v: (-v.orders, v.currency))


def customer_values(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    currency: str | None = None,
    customer_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[CustomerValue]:
    """Historical value per customer and currency up to ``as_of``: revenue, orders, first and
    last order, tenure; highest revenue first (optionally one currency or some customers)."""
    as_of = as_utc(as_of)
    customer = _customer()
    statement = (
        _counted_orders(
            workspace_id,
            customer.label("customer_id"),
            Order.currency,
            func.count().label("orders"),
            func.sum(Order.total).label("revenue"),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
        )
        .where(Order.placed_at < as_of)
        .group_by(customer, Order.currency)
        .order_by(func.sum(Order.total).desc(), customer, Order.currency)
    )
    if currency is not None:
        statement = statement.where(Order.currency == currency)
    if customer_ids is not None:
        statement = statement.where(customer.in_(list(customer_ids)))
    if limit is not None:
        statement = statement.limit(limit)
    values = []
    for customer_id, code, orders, revenue, first, last in session.execute(statement):
        total = _money(revenue, code)
        values.append(
            CustomerValue(
                customer_id=customer_id,
                currency=code,
                orders=orders,
                revenue=total,
                first_order_at=first,
                last_order_at=last,
                tenure_days=(as_of - first).days,
                average_order_value=(total / orders).quantize(_unit(code), rounding=ROUND_HALF_UP),
            )
        )
    return values


def _month_starts(first: datetime, last: datetime, zone: ZoneInfo) -> list[date]:
    month = as_utc(first).astimezone(zone).date().replace(day=1)
    final = as_utc(last).astimezone(zone).date().replace(day=1)
    months = []
    while month <= final:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _month_index(column: Any, months: list[date], zone: ZoneInfo) -> ColumnElement[int]:
    """Index in ``months`` of the local month a timestamp falls in, as a SQL expression.

    Month boundaries are computed here in the zone (daylight saving included) and compared in
    UTC, so the same plain comparisons work on SQLite and PostgreSQL and can use the index.
    """
    if len(months) == 1:
        return literal(0)
    bounds = [datetime(m.year, m.month, 1, tzinfo=zone).astimezone(UTC) for m in months[1:]]
    return case(*[(column < bound, i) for i, bound in enumerate(bounds)], else_=len(bounds))


def cohort_table(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    currency: str = "KRW",
    tz: str = DEFAULT_TZ,
) -> CohortTable:
    """Customers by the month of their first order (in ``tz``) and their cumulative revenue per
    customer by months since that first order, up to ``as_of``; orders in ``currency`` only."""
    as_of = as_utc(as_of)
    zone = ZoneInfo(tz)
    first_order = session.scalar(
        _counted_orders(workspace_id, func.min(Order.placed_at)).where(
            Order.placed_at < as_of, Order.currency == currency
        )
    )
    if first_order is None:
        return CohortTable(as_of=as_of, currency=currency, tz=tz, rows=())
    months = _month_starts(first_order, as_of - timedelta(microseconds=1), zone)
    orders = (
        _counted_orders(
            workspace_id,
            _customer().label("customer_id"),
            _month_index(Order.placed_at, months, zone).label("month"),
            Order.total.label("total"),
        )
        .where(Order.placed_at < as_of, Order.currency == currency)
        .subquery("cohort_orders")
    )
    # One pass over the orders: each order with its customer's first month (the cohort).
    cohorted = select(
        orders.c.customer_id,
        orders.c.month,
        orders.c.total,
        func.min(orders.c.month).over(partition_by=orders.c.customer_id).label("cohort"),
    ).subquery("cohorted")
    sizes: dict[int, int] = {}
    revenue: dict[tuple[int, int], Decimal] = {}
    for cohort, month, customers, total in session.execute(
        select(
            cohorted.c.cohort,
            cohorted.c.month,
            func.count(func.distinct(cohorted.c.customer_id)),
            func.sum(cohorted.c.total),
        ).group_by(cohorted.c.cohort, cohorted.c.month)
    ):
        revenue[(cohort, month)] = _money(total, currency)
        if month == cohort:
            sizes[cohort] = customers
    unit = _unit(currency)
    rows = []
    for cohort in sorted(sizes):
        customers = sizes[cohort]
        running = Decimal(0)
        cumulative = []
        for month in range(cohort, len(months)):
            running += revenue.get((cohort, month), Decimal(0))
            cumulative.append((running / customers).quantize(unit, rounding=ROUND_HALF_UP))
        start = months[cohort]
        rows.append(
            CohortRow(
                cohort=start,
                label=f"{start.year}-{start.month:02d}",
                customers=customers,
                revenue=running,
                cumulative_per_customer=tuple(cumulative),
            )
        )
    return CohortTable(as_of=as_of, currency=currency, tz=tz, rows=tuple(rows))
