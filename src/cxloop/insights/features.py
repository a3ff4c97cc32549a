"""Per-customer purchase histories of a workspace, read from its orders in one SQL query.

The models in ``clv`` and ``rfm`` need, per customer, the first and last purchase day, the
number of purchase days and orders, the revenue and the revenue of the first day. The database
computes them: orders are grouped by customer and *local* day (the workspace's time zone, so
two orders at 23:30 and 00:30 KST are two days even when they share a UTC date), then by
customer. Python receives one row of numbers per customer.

Rules, the same as the business KPIs': refunded and cancelled orders do not count; only orders
in one currency count (money is never added across currencies); an order of a merged profile
counts for its survivor; orders of erased profiles do not count; ``as_of`` is exclusive, and no
order at or after it is read, so a run "as of" a past date sees only what was known then.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, Float, Integer, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cxloop.core.timeutil import as_utc
from cxloop.events.commerce import ORDER_STATUS_EVENTS
from cxloop.insights.clv import PurchaseHistory
from cxloop.models import Customer, Order

VOID_ORDER_STATUSES = tuple(sorted(set(ORDER_STATUS_EVENTS.values())))
DEFAULT_TZ = "Asia/Seoul"
# Time-zone rules are read from here on; an order older than this takes the offset then in force.
_OFFSETS_FROM = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_DAY = 86400


class day_number(FunctionElement[int]):
    """Whole days since 1970-01-01 of (a stored UTC time + an offset in seconds), computed in
    whole seconds so a purchase at local midnight never falls on the day before."""

    type = Integer()
    name = "day_number"
    inherit_cache = True


@compiles(day_number)
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC times as text; integer division truncates, the floor for times after 1970.
    moment, offset = (compiler.process(c, **kw) for c in element.clauses)
    return f"((CAST(strftime('%s', {moment}) AS INTEGER) + ({offset})) / {_SECONDS_PER_DAY})"


@compiles(day_number, "postgresql")
def _day_number_postgresql(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    moment, offset = (compiler.process(c, **kw) for c in element.clauses)
    # Whole seconds as bigint, so the rest is integer arithmetic (EXTRACT gives numeric).
    return (
        f"CAST((CAST(FLOOR(EXTRACT(EPOCH FROM {moment})) AS BIGINT) + ({offset})) "
        f"/ {_SECONDS_PER_DAY} AS INTEGER)"
    )


def offset_changes(zone: ZoneInfo, until: datetime) -> tuple[tuple[datetime, int], ...]:
    """The zone's UTC offset in seconds from 1970 on: (UTC moment it starts, offset), in order.

    Found by stepping a day at a time and bisecting each change to the second; zones change
    their offset at most a few times a year, and never twice in one day.
    """

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    changes = [(_OFFSETS_FROM, offset(_OFFSETS_FROM))]
    step = _SECONDS_PER_DAY
    second = int(_OFFSETS_FROM.timestamp())
    last = int(as_utc(until).timestamp())
    while second < last:
        following = second + step
        if offset(datetime.fromtimestamp(following, UTC)) != changes[-1][1]:
            low, high = second, following  # the old offset at low, the new one at high
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            start = datetime.fromtimestamp(high, UTC)
            changes.append((start, offset(start)))
        second = following
    return tuple(changes)


def local_day(column: Any, zone: ZoneInfo, until: datetime) -> ColumnElement[int]:
    """Days since 1970-01-01 of the local date of a stored UTC time, as a SQL expression.

    The offset is a CASE over the zone's changes since 1970, newest first, compared in UTC, so
    nearly every order matches the first branch (Asia/Seoul has four, for its summer time of
    1987–88); a zone that never changed its offset gives a constant.
    """
    changes = _offset_changes(zone.key, as_utc(until).date())
    if len({off for _, off in changes}) == 1:
        return day_number(column, literal(changes[0][1]))
    offset = case(
        *[(column >= start, off) for start, off in reversed(changes[1:])],
        else_=changes[0][1],
    )
    return day_number(column, offset)


@lru_cache(maxsize=64)
def _offset_changes(zone_key: str, until: date) -> tuple[tuple[datetime, int], ...]:
    return offset_changes(ZoneInfo(zone_key), datetime.combine(until, time(), UTC) + timedelta(1))


def load_purchase_history(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    currency: str = "KRW",
    tz: str = DEFAULT_TZ,
) -> PurchaseHistory:
    """Every buying customer's purchase days, orders and revenue before ``as_of``, in one query.

    Customers are listed by id (the survivor's id for merged profiles). The last observed day is
    the local date of the moment just before ``as_of``.
    """
    as_of = as_utc(as_of)
    zone = ZoneInfo(tz)
    survivor = func.coalesce(Customer.merged_into_id, Customer.id)
    day = local_day(Order.placed_at, zone, as_of)
    per_day = (
        select(
            survivor.label("customer"),
            day.label("day"),
            func.count().label("orders"),
            cast(func.sum(Order.total), Float).label("revenue"),
        )
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.workspace_id == workspace_id,
            Customer.workspace_id == workspace_id,
            Customer.erased_at.is_(None),
            Order.status.not_in(VOID_ORDER_STATUSES),
            Order.currency == currency,
            Order.placed_at < as_of,
        )
        .group_by(survivor, day)
        .subquery("purchase_days")
    )
    with_first = select(
        per_day,
        func.min(per_day.c.day).over(partition_by=per_day.c.customer).label("first_day"),
    ).subquery("with_first_day")
    statement = (
        select(
            with_first.c.customer,
            func.min(with_first.c.day),
            func.max(with_first.c.day),
            func.count(),
            cast(func.sum(with_first.c.orders), Integer),
            func.sum(with_first.c.revenue),
            func.sum(
                case((with_first.c.day == with_first.c.first_day, with_first.c.revenue), else_=0.0)
            ),
        )
        .group_by(with_first.c.customer)
        .order_by(with_first.c.customer)
    )
    # Core rows, unzipped into columns: numpy would probe each Row object as a mapping, which
    # for a million customers costs half a minute instead of a second.
    columns = list(zip(*session.connection().execute(statement).all(), strict=False))
    table = np.array(columns, dtype=np.float64).reshape(7, -1).T
    last_moment = (as_of - timedelta(microseconds=1)).astimezone(zone)
    end_day = (last_moment.date() - datetime(1970, 1, 1).date()).days
    whole = table[:, :5].astype(np.int64)
    return PurchaseHistory(
        customer=whole[:, 0],
        first_day=whole[:, 1],
        last_day=whole[:, 2],
        purchase_days=whole[:, 3],
        orders=whole[:, 4],
        revenue=table[:, 5].copy(),
        first_day_revenue=table[:, 6].copy(),
        end_day=end_day,
    )
