"""Business KPIs over small exact scenarios: every figure is counted by hand in the test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

import cxloop.events.hooks  # noqa: F401  (merges move events and orders to the survivor)
from cxloop.metrics import kpis
from cxloop.models import Customer, Event, Order, Workspace
from cxloop.profiles.identity import merge_customers
from tests.factories import make_customer, make_workspace, unique

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def order(
    session: Session,
    customer: Customer,
    *,
    at: datetime,
    total: str | int,
    status: str = "completed",
    currency: str = "KRW",
) -> Order:
    row = Order(
        workspace_id=customer.workspace_id,
        customer_id=customer.id,
        external_id=unique("O-"),
        status=status,
        total=Decimal(total),
        currency=currency,
        placed_at=at,
        properties={},
    )
    session.add(row)
    session.flush()
    return row


def event(
    session: Session, customer: Customer, *, at: datetime, name: str = "Page Viewed"
) -> Event:
    row = Event(
        workspace_id=customer.workspace_id,
        customer_id=customer.id,
        message_id=unique("m-"),
        type="track",
        name=name,
        timestamp=at,
        received_at=at,
        properties={},
        context={},
    )
    session.add(row)
    session.flush()
    return row


def merge(session: Session, survivor: Customer, merged: Customer) -> None:
    merge_customers(session, survivor=survivor, merged=merged, reason="test")
    session.flush()


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session)


@pytest.fixture
def other(session: Session) -> Workspace:
    """Another tenant whose data must never count."""
    return make_workspace(session)


def customer(session: Session, workspace: Workspace) -> Customer:
    return make_customer(session, workspace=workspace)


# --- retention ---------------------------------------------------------------------------------


def test_retention_counts_previous_period_customers_active_again(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    # This period [T0, T0+30d), previous period [T0−30d, T0).
    retained_by_order = customer(session, workspace)
    event(session, retained_by_order, at=T0 - 10 * DAY)
    order(session, retained_by_order, at=T0 + 5 * DAY, total=10000)

    lost = customer(session, workspace)
    order(session, lost, at=T0 - 20 * DAY, total=10000)

    only_refunded_now = customer(session, workspace)  # a refunded order is not activity
    event(session, only_refunded_now, at=T0 - 3 * DAY)
    order(session, only_refunded_now, at=T0 + 3 * DAY, total=5000, status="refunded")

    new_now = customer(session, workspace)  # not active before: not in the base
    event(session, new_now, at=T0 + DAY)

    at_the_edges = customer(session, workspace)  # the period is half-open
    event(session, at_the_edges, at=T0 - timedelta(seconds=1))
    event(session, at_the_edges, at=T0)

    too_early = customer(session, workspace)  # active before the previous period only
    event(session, too_early, at=T0 - 30 * DAY - timedelta(seconds=1))
    event(session, too_early, at=T0 + DAY)

    # Merged profiles: their activity counts for the survivor, and they are not customers.
    survivor = customer(session, workspace)
    event(session, survivor, at=T0 - 5 * DAY)
    absorbed = customer(session, workspace)
    event(session, absorbed, at=T0 + 5 * DAY)
    merge(session, survivor, absorbed)  # moves the event onto the survivor
    survivor_2 = customer(session, workspace)
    event(session, survivor_2, at=T0 - 5 * DAY)
    absorbed_2 = customer(session, workspace)
    merge(session, survivor_2, absorbed_2)
    event(session, absorbed_2, at=T0 + 6 * DAY)  # a stray row left on the merged profile

    stranger = customer(session, other)
    event(session, stranger, at=T0 - 5 * DAY)
    event(session, stranger, at=T0 + 5 * DAY)

    result = kpis.retention_rate(session, workspace_id=workspace.id, start=T0, end=T0 + 30 * DAY)

    # Base: retained_by_order, lost, only_refunded_now, at_the_edges, survivor, survivor_2 = 6.
    # Active again: retained_by_order, at_the_edges, survivor, survivor_2 = 4.
    assert (result.previous_active, result.retained) == (6, 4)
    assert result.rate == pytest.approx(4 / 6)
    assert result.previous_start == T0 - 30 * DAY


def test_retention_with_nobody_before_has_no_rate(session: Session, workspace: Workspace) -> None:
    result = kpis.retention_rate(session, workspace_id=workspace.id, start=T0, end=T0 + DAY)

    assert (result.previous_active, result.retained, result.rate) == (0, 0, None)


def test_a_period_that_ends_before_it_starts_is_refused(
    session: Session, workspace: Workspace
) -> None:
    with pytest.raises(ValueError, match="the period must end after it starts"):
        kpis.repeat_purchase_rate(session, workspace_id=workspace.id, start=T0, end=T0)


# --- churn -------------------------------------------------------------------------------------


def test_churn_counts_buyers_without_activity_in_the_window(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    # as_of T0, 30 inactive days: active means an event or a counted order in [T0−30d, T0).
    came_back = customer(session, workspace)
    order(session, came_back, at=T0 - 100 * DAY, total=1000)
    event(session, came_back, at=T0 - 5 * DAY)

    gone = customer(session, workspace)
    order(session, gone, at=T0 - 100 * DAY, total=1000)

    just_gone = customer(session, workspace)  # last seen 31 days ago
    order(session, just_gone, at=T0 - 40 * DAY, total=1000)
    event(session, just_gone, at=T0 - 31 * DAY)

    recent_buyer = customer(session, workspace)
    order(session, recent_buyer, at=T0 - 29 * DAY, total=1000)

    refunded_lately = customer(session, workspace)  # a refund is not activity
    order(session, refunded_lately, at=T0 - 100 * DAY, total=1000)
    order(session, refunded_lately, at=T0 - 3 * DAY, total=1000, status="refunded")

    visitor = customer(session, workspace)  # never bought: not a customer here
    event(session, visitor, at=T0 - 90 * DAY)
    only_cancelled = customer(session, workspace)
    order(session, only_cancelled, at=T0 - 90 * DAY, total=1000, status="cancelled")
    future_buyer = customer(session, workspace)
    order(session, future_buyer, at=T0 + DAY, total=1000)

    survivor = customer(session, workspace)
    order(session, survivor, at=T0 - 100 * DAY, total=1000)
    absorbed = customer(session, workspace)
    event(session, absorbed, at=T0 - 2 * DAY)
    merge(session, survivor, absorbed)

    stranger = customer(session, other)
    order(session, stranger, at=T0 - 100 * DAY, total=1000)

    result = kpis.churn_rate(session, workspace_id=workspace.id, as_of=T0, inactive_days=30)

    # Buyers: came_back, gone, just_gone, recent_buyer, refunded_lately, survivor = 6;
    # churned: gone, just_gone, refunded_lately = 3.
    assert (result.customers, result.churned) == (6, 3)
    assert result.rate == pytest.approx(0.5)

    wider = kpis.churn_rate(session, workspace_id=workspace.id, as_of=T0, inactive_days=35)
    assert wider.churned == 2  # just_gone was seen 31 days ago


def test_churn_window_must_be_positive(session: Session, workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        kpis.churn_rate(session, workspace_id=workspace.id, as_of=T0, inactive_days=0)


# --- repeat purchase ---------------------------------------------------------------------------


def test_repeat_purchase_rate_counts_buyers_with_two_orders_in_the_window(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    twice = customer(session, workspace)
    order(session, twice, at=T0, total=1000)
    order(session, twice, at=T0 + 10 * DAY, total=1000)

    once_in_window = customer(session, workspace)
    order(session, once_in_window, at=T0 - DAY, total=1000)
    order(session, once_in_window, at=T0 + DAY, total=1000)

    second_refunded = customer(session, workspace)
    order(session, second_refunded, at=T0 + DAY, total=1000)
    order(session, second_refunded, at=T0 + 2 * DAY, total=1000, status="refunded")

    thrice = customer(session, workspace)
    for days in (1, 2, 3):
        order(session, thrice, at=T0 + days * DAY, total=1000)

    only_cancelled = customer(session, workspace)
    order(session, only_cancelled, at=T0 + DAY, total=1000, status="cancelled")

    survivor = customer(session, workspace)
    order(session, survivor, at=T0 + DAY, total=1000)
    absorbed = customer(session, workspace)
    order(session, absorbed, at=T0 + 2 * DAY, total=1000)
    merge(session, survivor, absorbed)

    stranger = customer(session, other)
    order(session, stranger, at=T0 + DAY, total=1000)
    order(session, stranger, at=T0 + 2 * DAY, total=1000)

    result = kpis.repeat_purchase_rate(
        session, workspace_id=workspace.id, start=T0, end=T0 + 30 * DAY
    )

    # Buyers: twice, once_in_window, second_refunded, thrice, survivor = 5;
    # two or more orders: twice, thrice, survivor (one order its own, one moved) = 3.
    assert (result.buyers, result.repeat_buyers) == (5, 3)
    assert result.rate == pytest.approx(0.6)


# --- average order value -----------------------------------------------------------------------


def test_average_order_value_per_currency_without_refunds(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    buyer = customer(session, workspace)
    for total in (10000, 20000, 35000):
        order(session, buyer, at=T0 + DAY, total=total)
    order(session, buyer, at=T0 + DAY, total=99999, status="refunded")
    order(session, buyer, at=T0 + DAY, total=50000, status="cancelled")
    order(session, buyer, at=T0 - DAY, total=70000)  # before the window
    order(session, buyer, at=T0 + DAY, total="10.00", currency="USD")
    order(session, buyer, at=T0 + 2 * DAY, total="15.25", currency="USD")
    order(session, customer(session, other), at=T0 + DAY, total=1_000_000)

    values = kpis.average_order_value(
        session, workspace_id=workspace.id, start=T0, end=T0 + 30 * DAY
    )

    # KRW: 65,000 over 3 orders = 21,666.67 → 21,667 (no minor unit).
    # USD: 25.25 over 2 orders = 12.625 → 12.63 (half up).
    assert values == [
        kpis.OrderValue(
            currency="KRW", orders=3, revenue=Decimal("65000"), average=Decimal("21667")
        ),
        kpis.OrderValue(
            currency="USD", orders=2, revenue=Decimal("25.25"), average=Decimal("12.63")
        ),
    ]
    assert str(values[0].average) == "21667"


# --- customer value ----------------------------------------------------------------------------


def test_customer_values_sum_counted_orders_per_customer_and_currency(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    as_of = T0 + 60 * DAY
    loyal = customer(session, workspace)
    order(session, loyal, at=T0 - 10 * DAY, total=10000)
    order(session, loyal, at=T0 + 5 * DAY, total=30000)
    order(session, loyal, at=T0 + 6 * DAY, total=50000, status="refunded")
    order(session, loyal, at=T0 + 70 * DAY, total=80000)  # after as_of

    two_currencies = customer(session, workspace)
    order(session, two_currencies, at=T0, total=5000)
    order(session, two_currencies, at=T0 + DAY, total="12.50", currency="USD")

    survivor = customer(session, workspace)
    order(session, survivor, at=T0 + DAY, total=7000)
    absorbed = customer(session, workspace)
    order(session, absorbed, at=T0 - 20 * DAY, total=8000)
    merge(session, survivor, absorbed)

    order(session, customer(session, other), at=T0, total=999999)

    values = kpis.customer_values(session, workspace_id=workspace.id, as_of=as_of)

    summary = [
        (v.customer_id, v.currency, v.orders, v.revenue, v.tenure_days, v.average_order_value)
        for v in values
    ]
    assert summary == [
        # 10,000 + 30,000; first order 70 days before as_of
        (loyal.id, "KRW", 2, Decimal("40000"), 70, Decimal("20000")),
        # 7,000 + 8,000 moved from the merged profile; first order T0−20d, 80 days
        (survivor.id, "KRW", 2, Decimal("15000"), 80, Decimal("7500")),
        (two_currencies.id, "KRW", 1, Decimal("5000"), 60, Decimal("5000")),
        (two_currencies.id, "USD", 1, Decimal("12.50"), 59, Decimal("12.50")),
    ]
    assert (values[0].first_order_at, values[0].last_order_at) == (T0 - 10 * DAY, T0 + 5 * DAY)

    only = kpis.customer_values(
        session, workspace_id=workspace.id, as_of=as_of, customer_ids=[two_currencies.id]
    )
    assert [v.currency for v in only] == ["KRW", "USD"]
    top = kpis.customer_values(session, workspace_id=workspace.id, as_of=as_of, limit=1)
    assert [v.customer_id for v in top] == [loyal.id]
    usd = kpis.customer_values(session, workspace_id=workspace.id, as_of=as_of, currency="USD")
    assert [(v.customer_id, v.revenue) for v in usd] == [(two_currencies.id, Decimal("12.50"))]


# --- cohorts -----------------------------------------------------------------------------------


def test_cohort_table_by_first_order_month_in_seoul(
    session: Session, workspace: Workspace, other: Workspace
) -> None:
    as_of = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)  # 2025-04-01 00:00 in Seoul
    # 2025-01-31 16:00 UTC is 2025-02-01 01:00 in Seoul: a February customer.
    late_january_utc = customer(session, workspace)
    order(session, late_january_utc, at=datetime(2025, 1, 31, 16, tzinfo=UTC), total=10000)
    order(session, late_january_utc, at=datetime(2025, 3, 10, tzinfo=UTC), total=5000)

    january = customer(session, workspace)
    order(session, january, at=datetime(2025, 1, 15, tzinfo=UTC), total=20000)
    order(session, january, at=datetime(2025, 2, 10, tzinfo=UTC), total=10000)
    order(session, january, at=datetime(2025, 3, 1, tzinfo=UTC), total=7000, status="refunded")

    january_2 = customer(session, workspace)
    order(session, january_2, at=datetime(2025, 1, 20, tzinfo=UTC), total=30000)
    order(session, january_2, at=datetime(2025, 3, 2, tzinfo=UTC), total="9.99", currency="USD")

    february = customer(session, workspace)
    order(session, february, at=datetime(2025, 2, 14, tzinfo=UTC), total=6001)
    order(session, february, at=as_of, total=99999)  # April in Seoul: after as_of

    survivor = customer(session, workspace)  # first own order in March, merged one's in February
    order(session, survivor, at=datetime(2025, 3, 5, tzinfo=UTC), total=4000)
    absorbed = customer(session, workspace)
    order(session, absorbed, at=datetime(2025, 2, 20, tzinfo=UTC), total=2000)
    merge(session, survivor, absorbed)

    order(session, customer(session, other), at=datetime(2024, 12, 1, tzinfo=UTC), total=5)

    table = kpis.cohort_table(session, workspace_id=workspace.id, as_of=as_of)

    # January: january, january_2 → month 0: 20,000 + 30,000 = 50,000 / 2 = 25,000;
    #   month 1: +10,000 → 60,000 / 2 = 30,000; month 2: nothing counted (refund) → 30,000.
    # February: late_january_utc, february, survivor → month 0: 10,000 + 6,001 + 2,000 = 18,001
    #   / 3 = 6,000.33 → 6,000; month 1: +5,000 + 4,000 = 27,001 / 3 = 9,000.33 → 9,000.
    assert [
        (r.cohort, r.label, r.customers, r.revenue, r.cumulative_per_customer) for r in table.rows
    ] == [
        (
            date(2025, 1, 1),
            "2025-01",
            2,
            Decimal("60000"),
            (Decimal(25000), Decimal(30000), Decimal(30000)),
        ),
        (date(2025, 2, 1), "2025-02", 3, Decimal("27001"), (Decimal(6000), Decimal(9000))),
    ]

    in_utc = kpis.cohort_table(session, workspace_id=workspace.id, as_of=as_of, tz="UTC")
    # In UTC late_january_utc ordered in January: 3 January customers, 2 in February.
    assert [(r.label, r.customers) for r in in_utc.rows] == [("2025-01", 3), ("2025-02", 2)]

    dollars = kpis.cohort_table(session, workspace_id=workspace.id, as_of=as_of, currency="USD")
    assert [(r.label, r.customers, r.cumulative_per_customer) for r in dollars.rows] == [
        ("2025-03", 1, (Decimal("9.99"),))
    ]


def test_cohort_table_of_a_workspace_without_orders_is_empty(
    session: Session, workspace: Workspace
) -> None:
    assert kpis.cohort_table(session, workspace_id=workspace.id, as_of=T0).rows == ()
