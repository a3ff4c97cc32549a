"""The internal bus: the profile_activity consumer, checkpoints, crash and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.events import bus
from cxloop.events.consumers import ProfileActivity
from cxloop.models import BusCheckpoint, Customer, Event, Identity
from cxloop.profiles.activity import lifecycle_stage
from tests.factories import Tenant

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
NAME = "profile_activity"


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=tenant.write)
    assert response.json() == {"success": True}, response.text


def drain(database: Database, batch_size: int = 1000) -> int:
    return bus.drain(database, names=[NAME], batch_size=batch_size)


def profile(session: Session, tenant: Tenant, kind: str, value: str) -> Customer:
    session.expire_all()
    customer_id = session.scalars(
        select(Identity.customer_id).where(
            Identity.workspace_id == tenant.id, Identity.kind == kind, Identity.value == value
        )
    ).one()
    customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer


def position(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(BusCheckpoint.position).where(BusCheckpoint.consumer == NAME)) or 0


def at(hours: int) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def order(user: str, order_id: str, total: int, hours: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": at(hours),
        "properties": {"order_id": order_id, "total": total},
        **extra,
    }


def state(customer: Customer) -> tuple[Any, ...]:
    return (
        customer.first_seen_at,
        customer.last_seen_at,
        customer.touchpoints,
        customer.event_count,
        customer.order_count,
        customer.total_revenue,
        customer.lifecycle_stage,
    )


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    """The bus with every event already in the database handled (other tests' leftovers)."""
    drain(tx_database)
    return tx_database


def test_profile_activity_keeps_seen_times_counters_orders_and_stage(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    # given a buyer's events out of time order over three channels, and an anonymous visitor
    send(
        client,
        tenant,
        {
            "type": "page",
            "userId": "u1",
            "timestamp": at(1),
            "context": {"library": {"name": "analytics.js"}},
        },
        {"type": "track", "userId": "u1", "event": "Cart Viewed", "timestamp": at(2)},
        order("u1", "O-1", 10000, 3),
        order("u1", "O-2", 5000, 0, context={"library": {"name": "analytics-ios"}}),
        {"type": "page", "anonymousId": "visitor", "timestamp": at(5)},
    )
    # when the bus runs
    assert drain(caught_up) == 5
    # then the profiles carry what happened
    buyer = profile(session, tenant, "user_id", "u1")
    assert state(buyer) == (
        T0,
        T0 + timedelta(hours=3),
        {"web": 1, "server": 2, "ios": 1},
        4,
        2,
        Decimal("15000"),
        "repeat",
    )
    visitor = profile(session, tenant, "anonymous_id", "visitor")
    assert state(visitor) == (
        T0 + timedelta(hours=5),
        T0 + timedelta(hours=5),
        {"server": 1},
        1,
        0,
        Decimal("0"),
        "anonymous",
    )


@pytest.mark.parametrize(
    ("events", "stage"),
    [
        pytest.param([{"type": "page", "anonymousId": "x"}], "anonymous", id="anonymous"),
        pytest.param([{"type": "page", "userId": "x"}], "lead", id="identified"),
        pytest.param([order("x", "A", 1000, 0)], "customer", id="one-order"),
        pytest.param(
            [order("x", "A", 1000, 0), order("x", "B", 1000, 1)], "repeat", id="two-orders"
        ),
        pytest.param(
            [
                order("x", "A", 1000, 0),
                order("x", "B", 2000, 1),
                {
                    "type": "track",
                    "userId": "x",
                    "event": "Order Refunded",
                    "properties": {"order_id": "B"},
                },
            ],
            "customer",
            id="two-orders-one-refunded",
        ),
    ],
)
def test_lifecycle_stage_follows_activity(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    caught_up: Database,
    events: list[dict[str, Any]],
    stage: str,
) -> None:
    send(client, tenant, *events)
    drain(caught_up)
    kind = "user_id" if "userId" in events[0] else "anonymous_id"
    assert profile(session, tenant, kind, "x").lifecycle_stage == stage


def test_a_refund_takes_the_order_out_of_the_totals(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    send(client, tenant, order("u1", "A", 1000, 0), order("u1", "B", 2500, 1))
    drain(caught_up)
    send(
        client,
        tenant,
        {
            "type": "track",
            "userId": "u1",
            "event": "Order Refunded",
            "properties": {"order_id": "B"},
        },
    )
    drain(caught_up)
    buyer = profile(session, tenant, "user_id", "u1")
    assert (buyer.order_count, buyer.total_revenue) == (1, Decimal("1000"))


def test_new_activity_brings_a_churned_customer_back(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    send(client, tenant, order("u1", "A", 1000, 0))
    drain(caught_up)
    buyer = profile(session, tenant, "user_id", "u1")
    buyer.lifecycle_stage = "churned"
    session.flush()
    send(client, tenant, {"type": "page", "userId": "u1"})
    drain(caught_up)
    assert profile(session, tenant, "user_id", "u1").lifecycle_stage == "customer"


class CrashOnBatch:
    """profile_activity that applies its changes and then dies on the n-th batch."""

    name = NAME

    def __init__(self, crash_on: int) -> None:
        self.crash_on = crash_on
        self.batches = 0

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        self.batches += 1
        ProfileActivity().handle(session, events)
        if self.batches == self.crash_on:
            raise RuntimeError("power cut")


def test_a_crash_mid_batch_changes_nothing_and_the_rerun_counts_once(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    # given four new events
    start = position(session)
    send(client, tenant, *({"type": "track", "userId": "u1", "event": f"E{i}"} for i in range(4)))
    ids = sorted(session.scalars(select(Event.id).where(Event.workspace_id == tenant.id)))
    # when the consumer dies while handling its second batch of two
    crashing = CrashOnBatch(crash_on=2)
    assert bus.run_once(caught_up, crashing, batch_size=2) == 2
    with pytest.raises(RuntimeError, match="power cut"):
        bus.run_once(caught_up, crashing, batch_size=2)
    # then the first batch is committed with its checkpoint, the second is not there at all
    assert position(session) == ids[1]
    assert profile(session, tenant, "user_id", "u1").event_count == 2
    # and the rerun handles the rest once
    assert drain(caught_up, batch_size=2) == 2
    assert position(session) == ids[3] > start
    assert profile(session, tenant, "user_id", "u1").event_count == 4


def test_the_checkpoint_stays_put_when_the_whole_batch_fails(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    start = position(session)
    send(client, tenant, {"type": "page", "userId": "u1"}, order("u1", "A", 1000, 0))
    with pytest.raises(RuntimeError):
        bus.run_once(caught_up, CrashOnBatch(crash_on=1))
    assert position(session) == start
    assert state(profile(session, tenant, "user_id", "u1"))[3:] == (0, 0, Decimal("0"), "lead")
    drain(caught_up)
    assert state(profile(session, tenant, "user_id", "u1"))[3:] == (
        2,
        1,
        Decimal("1000"),
        "customer",
    )


def test_two_drains_in_a_row_change_nothing(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    send(client, tenant, order("u1", "A", 1000, 0), {"type": "page", "anonymousId": "v"})
    assert drain(caught_up) == 2
    before = state(profile(session, tenant, "user_id", "u1"))
    checkpoint = position(session)
    assert drain(caught_up) == 0
    assert state(profile(session, tenant, "user_id", "u1")) == before
    assert position(session) == checkpoint


def test_counts_survive_a_merge_after_they_were_made(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    # given an anonymous and a known profile, both already counted by the bus
    send(
        client,
        tenant,
        {"type": "page", "anonymousId": "dev"},
        {"type": "page", "anonymousId": "dev"},
    )
    send(client, tenant, order("u1", "A", 3000, 0))
    drain(caught_up)
    # when an identify merges them and the bus runs again
    send(client, tenant, {"type": "identify", "userId": "u1", "anonymousId": "dev"})
    drain(caught_up)
    # then every event is counted once on the survivor
    merged = profile(session, tenant, "user_id", "u1")
    assert (merged.event_count, merged.order_count, merged.total_revenue) == (
        4,
        1,
        Decimal("3000"),
    )


def test_lag_counts_what_each_consumer_has_yet_to_read(
    client: TestClient, tenant: Tenant, session: Session, caught_up: Database
) -> None:
    send(client, tenant, *({"type": "page", "anonymousId": f"a{i}"} for i in range(3)))
    assert bus.lag_of(session)[NAME] == 3
    drain(caught_up)
    assert bus.lag_of(session)[NAME] == 0


@pytest.mark.parametrize(
    ("identified", "orders", "stage"),
    [(False, 0, "anonymous"), (True, 0, "lead"), (False, 1, "customer"), (True, 5, "repeat")],
)
def test_lifecycle_stage_rule(identified: bool, orders: int, stage: str) -> None:
    assert lifecycle_stage(identified=identified, order_count=orders) == stage
