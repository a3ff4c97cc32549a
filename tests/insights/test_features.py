"""Purchase histories read from the orders table in one query, on SQLite and PostgreSQL: local
days, the orders that do not count, merged and erased profiles, and the CDNOW fit from the
database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

import cxloop.events.hooks  # noqa: F401  (merges move orders to the survivor)
from cxloop.insights import clv, features
from cxloop.models import Customer, Order, Workspace
from cxloop.profiles.identity import merge_customers
from tests.factories import make_customer, make_workspace, unique
from tests.insights.cdnow import PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA, cdnow_transactions

KST = ZoneInfo("Asia/Seoul")
EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)


def buy(
    session: Session, customer: Customer, *orders: tuple[datetime, int | str], **extra: str
) -> None:
    """Orders of one customer: (placed at, total), with the same status and currency."""
    session.add_all(
        Order(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            external_id=unique("O-"),
            total=Decimal(total),
            placed_at=at,
            properties={},
            **extra,
        )
        for at, total in orders
    )
    session.flush()


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session)


def history(
    session: Session, workspace: Workspace, as_of: datetime, **kw: str
) -> clv.PurchaseHistory:
    return features.load_purchase_history(session, workspace_id=workspace.id, as_of=as_of, **kw)


def test_orders_on_one_local_day_count_as_one_purchase_day(
    session: Session, workspace: Workspace
) -> None:
    # given: 23:30 and 00:30 KST share a UTC date but are two days here;
    # 01:00 and 23:00 KST on 3 March are one day here but two UTC dates
    night_owl = make_customer(session, workspace=workspace)
    buy(session, night_owl, (kst(2025, 3, 1, 23, 30), 10_000), (kst(2025, 3, 2, 0, 30), 5_000))
    early_and_late = make_customer(session, workspace=workspace)
    buy(
        session,
        early_and_late,
        (kst(2025, 3, 3, 1, 0), 20_000),
        (kst(2025, 3, 3, 23, 0), 7_000),
        (kst(2025, 3, 10, 12, 0), 3_000),
    )

    found = history(session, workspace, kst(2025, 4, 1))

    assert found.customer.tolist() == sorted([night_owl.id, early_and_late.id])
    rows = {c: i for i, c in enumerate(found.customer.tolist())}
    owl, both = rows[night_owl.id], rows[early_and_late.id]
    assert found.first_day[owl] == day_number(date(2025, 3, 1))
    assert found.last_day[owl] == day_number(date(2025, 3, 2))
    assert found.purchase_days[owl] == 2
    assert found.purchase_days[both] == 2
    assert found.orders[both] == 3
    assert found.revenue[both] == 30_000
    assert found.first_day_revenue[both] == 27_000
    assert found.end_day == day_number(date(2025, 3, 31))
    assert found.days_since_last_purchase[both] == 21

    summary = found.summary(unit_days=1.0)
    assert summary.frequency[both] == 1
    assert summary.recency[both] == 7.0
    assert summary.age[both] == 28.0
    assert summary.monetary[both] == 3_000


def test_a_purchase_at_local_midnight_is_on_that_day(
    session: Session, workspace: Workspace
) -> None:
    customer = make_customer(session, workspace=workspace)
    buy(session, customer, (kst(2025, 3, 1), 1_000), (kst(2025, 3, 1) - timedelta(seconds=1), 1))

    found = history(session, workspace, kst(2025, 4, 1))

    assert found.first_day[0] == day_number(date(2025, 2, 28))
    assert found.last_day[0] == day_number(date(2025, 3, 1))


def test_orders_that_do_not_count(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    buy(session, customer, (kst(2025, 3, 1, 12), 10_000))
    buy(session, customer, (kst(2025, 3, 5, 12), 99_000), status="refunded")
    buy(session, customer, (kst(2025, 3, 6, 12), 99_000), status="cancelled")
    buy(session, customer, (kst(2025, 3, 7, 12), 99), currency="USD")
    buy(session, customer, (kst(2025, 4, 1), 99_000))  # at as_of: not before it
    elsewhere = make_customer(session, workspace=make_workspace(session))
    buy(session, elsewhere, (kst(2025, 3, 2, 12), 50_000))
    erased = make_customer(session, workspace=workspace)
    buy(session, erased, (kst(2025, 3, 2, 12), 50_000))
    erased.erased_at = datetime(2025, 3, 20, tzinfo=UTC)
    session.flush()

    found = history(session, workspace, kst(2025, 4, 1))
    dollars = history(session, workspace, kst(2025, 4, 1), currency="USD")

    assert found.customer.tolist() == [customer.id]
    assert found.orders.tolist() == [1]
    assert found.revenue.tolist() == [10_000]
    assert dollars.revenue.tolist() == [99]


def test_a_merged_profile_buys_for_its_survivor(session: Session, workspace: Workspace) -> None:
    survivor = make_customer(session, workspace=workspace)
    merged = make_customer(session, workspace=workspace)
    buy(session, survivor, (kst(2025, 3, 10, 12), 4_000))
    buy(session, merged, (kst(2025, 3, 1, 12), 6_000), (kst(2025, 3, 10, 18), 1_000))
    merge_customers(session, survivor=survivor, merged=merged, reason="test")
    session.flush()
    # whatever still points at the merged profile counts for the survivor too
    buy(session, merged, (kst(2025, 3, 20, 12), 2_000))

    found = history(session, workspace, kst(2025, 4, 1))

    assert found.customer.tolist() == [survivor.id]
    assert found.purchase_days.tolist() == [3]
    assert found.orders.tolist() == [4]
    assert found.revenue.tolist() == [13_000]
    assert found.first_day_revenue.tolist() == [6_000]


def test_local_days_follow_daylight_saving_time(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    buy(
        session,
        customer,
        (datetime(2025, 1, 1, 4, 30, tzinfo=UTC), 1),  # 23:30 EST, 31 December
        (datetime(2025, 7, 1, 4, 30, tzinfo=UTC), 1),  # 00:30 EDT, 1 July
    )

    found = history(session, workspace, datetime(2025, 8, 1, tzinfo=UTC), tz="America/New_York")

    assert found.first_day.tolist() == [day_number(date(2024, 12, 31))]
    assert found.last_day.tolist() == [day_number(date(2025, 7, 1))]


def test_seoul_changed_its_offset_only_for_the_summer_times_of_1987_and_1988() -> None:
    changes = features.offset_changes(KST, datetime(2026, 1, 1, tzinfo=UTC))

    assert changes == (
        (datetime(1970, 1, 1, tzinfo=UTC), 9 * 3600),
        (datetime(1987, 5, 9, 17, tzinfo=UTC), 10 * 3600),
        (datetime(1987, 10, 10, 17, tzinfo=UTC), 9 * 3600),
        (datetime(1988, 5, 7, 17, tzinfo=UTC), 10 * 3600),
        (datetime(1988, 10, 8, 17, tzinfo=UTC), 9 * 3600),
    )


def test_a_workspace_without_orders_has_an_empty_history(
    session: Session, workspace: Workspace
) -> None:
    found = history(session, workspace, kst(2025, 4, 1))

    assert len(found) == 0
    assert len(found.summary()) == 0


def test_the_history_is_read_in_one_query(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    buy(session, customer, (kst(2025, 3, 1, 12), 1), (kst(2025, 3, 9, 12), 2))
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        history(session, workspace, kst(2025, 4, 1))
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert len(statements) == 1


def test_cdnow_from_the_orders_table_fits_the_published_parameters(
    session: Session, workspace: Workspace
) -> None:
    customer, day, value = cdnow_transactions()
    sample_ids = np.unique(customer)
    session.execute(
        insert(Customer),
        [{"workspace_id": workspace.id, "display_name": str(c)} for c in sample_ids],
    )
    db_id = dict(
        session.execute(
            select(Customer.display_name, Customer.id).where(Customer.workspace_id == workspace.id)
        ).all()
    )
    noon = [datetime.fromisoformat(f"{d}T12:00:00+09:00") for d in day.astype(str)]
    session.execute(
        insert(Order),
        [
            {
                "workspace_id": workspace.id,
                "customer_id": db_id[str(c)],
                "external_id": f"cdnow-{i}",
                "total": Decimal(f"{v:.2f}"),
                "currency": "USD",
                "placed_at": at,
                "properties": {},
            }
            for i, (c, at, v) in enumerate(zip(customer, noon, value, strict=True))
        ],
    )

    found = history(session, workspace, kst(1997, 10, 1), currency="USD")
    summary = found.summary()
    bg = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    gg = clv.fit_gamma_gamma(summary.frequency, summary.monetary)

    expected = clv.summarise_transactions(customer, day, value, observation_end="1997-09-30")
    assert len(found) == 2357
    assert summary.frequency.tolist() == [
        int(expected.frequency[np.searchsorted(expected.customer, int(name))])
        for name in sorted(db_id, key=db_id.__getitem__)
    ]
    assert np.sort(summary.age) == pytest.approx(np.sort(expected.age))
    assert np.sort(summary.monetary) == pytest.approx(np.sort(expected.monetary))
    fitted = {**vars(bg.params), **vars(gg.params)}
    for name, published in {**PUBLISHED_BGNBD, **PUBLISHED_GAMMA_GAMMA}.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
