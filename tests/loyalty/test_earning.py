"""Earning through the real ingestion API and the bus: an operator's program, a customer's
orders, review and survey answer, a refund, the same order sent twice and a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.events import bus
from cxloop.loyalty.earning import loyalty_earning
from cxloop.models import Identity, LedgerEntry
from tests.factories import Tenant

NAME = "loyalty_earning"

PROGRAM: dict[str, Any] = {
    "name": "멤버십",
    "pending_days": 14,
    "expiry_months": 12,
    "tiers": [
        {"key": "basic", "name": "Basic"},
        {"key": "silver", "name": "Silver", "threshold": 300000},
        {"key": "gold", "name": "Gold", "threshold": 1000000},
    ],
    "rules": [
        {"key": "orders", "kind": "order", "rate_percent": 1, "rate_by_tier": {"gold": 2}},
        {
            "key": "first-review",
            "kind": "event",
            "event": "Product Reviewed",
            "points": 500,
            "once_per_member": True,
        },
        {"key": "survey", "kind": "event", "event": "Survey Answered", "points": 300},
    ],
}


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=tenant.write)
    assert response.json() == {"success": True}, response.text


def drain(database: Database) -> int:
    return bus.drain(database, names=[NAME])


def ago(**delta: float) -> str:
    return (utcnow() - timedelta(**delta)).isoformat()


def order(user: str, order_id: str, total: int, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": when,
        "properties": {"order_id": order_id, "total": total, "currency": "KRW"},
        **extra,
    }


def track(user: str, event: str, when: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "timestamp": when,
        "properties": properties,
    }


def customer_id(session: Session, tenant: Tenant, user: str) -> int:
    return session.scalars(
        select(Identity.customer_id).where(
            Identity.workspace_id == tenant.id, Identity.kind == "user_id", Identity.value == user
        )
    ).one()


def member(client: TestClient, tenant: Tenant, customer: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/loyalty/members/{customer}", headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def points(body: dict[str, Any]) -> dict[str, int]:
    balance = body["balances"][0]
    return {k: balance[k] for k in ("total", "available", "pending")}


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    """The consumer with every event already in the database handled."""
    drain(tx_database)
    return tx_database


@pytest.fixture
def program(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    answer = client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_orders_earn_pending_points_then_available_and_move_the_member_up_a_tier(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: Any
) -> None:
    # given an order placed an hour ago, and one 20 days ago (its return window has closed)
    send(
        client,
        tenant,
        order("u1", "O-1", 120000, ago(hours=1)),
        order("u1", "O-2", 250000, ago(days=20)),
    )
    # when the bus runs
    assert drain(caught_up) == 2
    # then the recent order's points wait, the older one's may be spent
    body = member(client, tenant, customer_id(session, tenant, "u1"))
    assert points(body) == {"total": 3700, "available": 2500, "pending": 1200}
    # ₩370,000 over the year is Silver; Gold needs ₩630,000 more
    assert body["progress"]["tier"] == "silver"
    assert body["progress"]["next_tier"] == "gold"
    assert body["progress"]["needed"] == 630000
    kinds = [(e["kind"], e["amount"], e["rule"], e["order_ref"]) for e in body["ledger"]]
    assert sorted(kinds, key=lambda k: str(k[3])) == [
        ("earn", 1200, "orders", "O-1"),
        ("earn", 2500, "orders", "O-2"),
    ]


def test_gold_members_earn_at_their_tier_rate(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: Any
) -> None:
    send(client, tenant, order("u2", "G-1", 1200000, ago(days=30)))
    drain(caught_up)
    # the first order made the member Gold (after it earned at the base rate)
    send(client, tenant, order("u2", "G-2", 100000, ago(days=29)))
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "u2"))
    assert body["progress"]["tier"] == "gold" and body["progress"]["next_tier"] is None
    assert points(body)["available"] == 12000 + 2000


def test_an_event_rule_earns_once_per_member_and_every_survey_answer_earns(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: Any
) -> None:
    send(
        client,
        tenant,
        track("u3", "Product Reviewed", ago(hours=3), rating=5),
        track("u3", "Product Reviewed", ago(hours=2), rating=4),
        track("u3", "Survey Answered", ago(hours=2), score=9),
        track("u3", "Survey Answered", ago(hours=1), score=7),
    )
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "u3"))
    assert points(body) == {"total": 1100, "available": 1100, "pending": 0}


def test_a_refund_takes_back_in_proportion_and_a_cancellation_takes_back_the_rest(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: Any
) -> None:
    send(client, tenant, order("u4", "R-1", 200000, ago(days=3)))
    drain(caught_up)
    send(
        client,
        tenant,
        track("u4", "Order Refunded", ago(days=2), order_id="R-1", total=50000),
    )
    drain(caught_up)
    customer = customer_id(session, tenant, "u4")
    assert points(member(client, tenant, customer)) == {
        "total": 1500,
        "available": 0,
        "pending": 1500,
    }

    send(client, tenant, track("u4", "Order Cancelled", ago(days=1), order_id="R-1"))
    drain(caught_up)

    body = member(client, tenant, customer)
    assert points(body) == {"total": 0, "available": 0, "pending": 0}
    assert [e["amount"] for e in body["ledger"]] == [-1500, -500, 2000]


def test_an_order_sent_twice_or_replayed_earns_once(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: Any
) -> None:
    # given the same order under two messageIds (a server SDK's retry), and the same event twice
    first = order("u5", "D-1", 100000, ago(days=20), messageId="m-1")
    send(client, tenant, first, order("u5", "D-1", 100000, ago(days=20), messageId="m-2"))
    send(client, tenant, first)
    drain(caught_up)
    # when every event is handed to the consumer again
    replayed = bus.replay(caught_up, loyalty_earning, since=datetime(2000, 1, 1, tzinfo=UTC))
    # then the order earned once
    assert replayed >= 2
    customer = customer_id(session, tenant, "u5")
    assert points(member(client, tenant, customer)) == {
        "total": 1000,
        "available": 1000,
        "pending": 0,
    }
    earned = select(func.count()).where(LedgerEntry.order_ref == "D-1", LedgerEntry.kind == "earn")
    assert session.scalar(earned) == 1


def test_a_workspace_without_a_program_earns_nothing(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    send(client, tenant, order("u6", "N-1", 100000, ago(days=1)))
    drain(caught_up)

    answer = client.get(
        f"/api/v1/loyalty/members/{customer_id(session, tenant, 'u6')}", headers=tenant.api
    )

    assert answer.status_code == 404
    assert "no active loyalty program" in answer.json()["detail"]
