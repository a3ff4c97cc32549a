"""Badges and challenges: "3 orders this month → badge + 2,000 points", ten orders, a streak
of weeks; each event counts once however often it is handed over, each goal is reached once."""

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
from cxloop.loyalty.goals import loyalty_goals
from cxloop.models import LedgerEntry
from tests.factories import Tenant, merge_by_id
from tests.loyalty.test_earning import PROGRAM, customer_id, member, order, send

CONSUMERS = ["loyalty_earning", "loyalty_goals"]
START = utcnow() - timedelta(days=30)
GOALS: dict[str, Any] = {
    "goals": [
        {
            "key": "november-3",
            "kind": "challenge",
            "name": "이번 달 3회 구매",
            "event": "Order Completed",
            "count": 3,
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(days=31)).isoformat(),
            "reward_points": 2000,
        },
        {"key": "ten-orders", "name": "단골", "event": "Order Completed", "count": 10},
        {"key": "weekly", "name": "4주 연속", "event": "Order Completed", "streak_weeks": 4},
    ]
}


def drain(database: Database) -> int:
    return bus.drain(database, names=CONSUMERS)


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    drain(tx_database)
    return tx_database


@pytest.fixture
def program(client: TestClient, tenant: Tenant) -> None:
    assert (
        client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api).status_code == 200
    )
    answer = client.put("/api/v1/loyalty/goals", json=GOALS, headers=tenant.api)
    assert answer.status_code == 200, answer.text


def goals(body: dict[str, Any]) -> dict[str, tuple[int, int, bool]]:
    return {
        g["key"]: (g["done"], g["needed"], g["completed_at"] is not None) for g in body["goals"]
    }


def test_three_orders_in_the_month_win_the_challenge_once_and_its_points(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: None
) -> None:
    orders = [
        order("g1", f"N-{week}", 10000, (START + timedelta(days=2, weeks=week)).isoformat())
        for week in range(4)
    ]
    send(client, tenant, *orders[:2])
    drain(caught_up)
    customer = customer_id(session, tenant, "g1")
    assert goals(member(client, tenant, customer))["november-3"] == (2, 3, False)

    send(client, tenant, *orders[2:])
    drain(caught_up)
    replayed = bus.replay(caught_up, loyalty_goals, since=datetime(2000, 1, 1, tzinfo=UTC))

    assert replayed >= 4
    body = member(client, tenant, customer)
    assert goals(body) == {
        "november-3": (3, 3, True),
        "ten-orders": (4, 10, False),
        "weekly": (4, 4, True),
    }
    rewards = session.scalars(
        select(LedgerEntry.amount).where(LedgerEntry.source_key.like("goal:%"))
    ).all()
    assert rewards == [2000]


def test_a_gap_week_breaks_the_streak(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: None
) -> None:
    start = utcnow() - timedelta(weeks=10)
    weeks = (0, 1, 3, 4, 5)  # three in a row at best
    send(
        client,
        tenant,
        *(order("g2", f"S-{w}", 10000, (start + timedelta(weeks=w)).isoformat()) for w in weeks),
    )
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "g2"))

    assert goals(body)["weekly"] == (3, 4, False)
    assert "november-3" not in goals(body) or goals(body)["november-3"][0] == 0


@pytest.mark.parametrize(
    ("goal", "words"),
    [
        ({"key": "c", "kind": "challenge", "name": "x", "event": "E"}, "has a start and an end"),
        ({"key": "b", "name": "x", "event": "E", "streak_weeks": 1}, "greater than or equal to 2"),
        ({"key": "b", "name": "x", "event": "E", "point_type": "stamps"}, "not a point type"),
    ],
    ids=["challenge-without-dates", "streak-of-one", "unknown-point-type"],
)
def test_a_wrong_goal_is_refused_with_what_is_wrong(
    client: TestClient, tenant: Tenant, program: None, goal: dict[str, Any], words: str
) -> None:
    answer = client.put("/api/v1/loyalty/goals", json={"goals": [goal]}, headers=tenant.api)

    assert answer.status_code == 422
    assert words in answer.text
    kept = client.get("/api/v1/loyalty/goals", headers=tenant.api).json()["goals"]
    assert {g["key"] for g in kept} == {"november-3", "ten-orders", "weekly"}


def test_goals_are_saved_by_those_who_may(
    client: TestClient, tenant: Tenant, program: None
) -> None:
    answer = client.put("/api/v1/loyalty/goals", json=GOALS, headers=tenant.key("agent"))

    assert answer.status_code == 403
    assert session_free_count(client, tenant) == 3


def session_free_count(client: TestClient, tenant: Tenant) -> int:
    return len(client.get("/api/v1/loyalty/goals", headers=tenant.key("viewer")).json()["goals"])


def test_nothing_counts_without_goals(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    send(client, tenant, order("g3", "Z-1", 10000, (utcnow() - timedelta(days=1)).isoformat()))
    drain(caught_up)

    assert session.scalar(select(func.count()).where(LedgerEntry.source_key.like("goal:%"))) == 0


def test_a_merge_keeps_the_badges_of_both_and_the_export_lists_the_whole_membership(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database, program: None
) -> None:
    # given "g4" who completed the weekly streak and "g5" who completed the challenge, both
    # with the three orders of the month
    start = START + timedelta(days=1)
    send(
        client,
        tenant,
        *(order("g4", f"W-{w}", 10000, (start + timedelta(weeks=w)).isoformat()) for w in range(4)),
        *(order("g5", f"X-{d}", 120000, (start + timedelta(days=d)).isoformat()) for d in range(3)),
    )
    drain(caught_up)
    survivor, merged = customer_id(session, tenant, "g4"), customer_id(session, tenant, "g5")
    gift = {"name_ko": "머그컵", "kind": "gift", "cost": 1000, "code_source": "none"}
    assert client.put("/api/v1/loyalty/rewards/mug", json=gift, headers=tenant.api).is_success
    redeemed = client.post(
        f"/api/v1/loyalty/members/{merged}/redemptions",
        json={"reward": "mug", "idempotency_key": "mug-1"},
        headers=tenant.api,
    )
    assert redeemed.status_code == 200, redeemed.text

    merge_by_id(session, workspace_id=tenant.id, survivor=survivor, merged=merged)

    body = member(client, tenant, survivor)
    assert {k: v[2] for k, v in goals(body).items()} == {
        "november-3": True,
        "ten-orders": False,
        "weekly": True,
    }
    assert goals(body)["ten-orders"][0] == 7
    exported = client.get(f"/api/v1/customers/{survivor}/export", headers=tenant.api)
    assert exported.status_code == 200, exported.text
    loyalty = exported.json()["loyalty"]
    assert loyalty["tier"] == "silver"
    assert [(c["from"], c["to"], c["reason"]) for c in loyalty["tier_history"]] == [
        ("basic", "silver", "upgrade")
    ]
    assert [(r["reward"], r["points"], r["status"]) for r in loyalty["rewards"]] == [
        ("머그컵", 1000, "issued")
    ]
    assert sorted(g["goal"] for g in loyalty["goals"]) == ["4주 연속", "이번 달 3회 구매"]
    assert sum(e["amount"] for e in loyalty["ledger"]) == body["balances"][0]["total"]
