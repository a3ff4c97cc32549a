"""The program over the API (clear 422s, roles), tiers moved at night, expiry, caps, excluded
products and a minimum order, merged profiles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.timeutil import KST, utcnow
from cxloop.loyalty import ledger
from cxloop.loyalty.program import load_programs
from cxloop.loyalty.tasks import expire_points
from cxloop.loyalty.tiers import evaluate_tiers
from cxloop.models import AuditEntry, LoyaltyMember, TierChange
from tests.factories import Tenant, merge_by_id
from tests.loyalty.test_earning import (
    PROGRAM,
    ago,
    customer_id,
    drain,
    member,
    order,
    points,
    send,
    track,
)


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    drain(tx_database)
    return tx_database


def put(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.put("/api/v1/loyalty/program", json=body, headers=tenant.api)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"tiers": [{"key": "a", "threshold": 10}, {"key": "b", "threshold": 5}]},
            "must need more",
        ),
        ({"rules": [{"key": "x", "kind": "order"}]}, "needs a rate"),
        ({"rules": [{"key": "x", "kind": "event", "event": "Signed Up"}]}, "needs points"),
        (
            {"rules": [{"key": "x", "rate_percent": 1, "rate_by_tier": {"vip": 3}}]},
            "unknown tiers",
        ),
        ({"rules": [{"key": "x", "rate_percent": 1, "point_type": "stamps"}]}, "not a point type"),
        ({"rules": [{"key": "x", "rate_percent": 101}]}, "less than or equal to 100"),
        ({"pending_days": -1}, "greater than or equal to 0"),
        ({"rules": [{"key": "Bad Key", "rate_percent": 1}]}, "pattern"),
        (
            {"rules": [{"key": "x", "rate_by_category": {"Beauty": 3, "beauty ": 2}}]},
            "names a category twice",
        ),
        (
            {
                "rules": [
                    {
                        "key": "x",
                        "rate_percent": 1,
                        "rate_by_category": {"Gift Card": 3},
                        "excluded_categories": ["gift card"],
                    }
                ]
            },
            "both excluded and given a rate",
        ),
        ({"rules": [{"key": "x", "rate_by_category": {"Beauty": 120}}]}, "between 0 and 100"),
    ],
    ids=[
        "tiers-out-of-order",
        "order-without-rate",
        "event-without-points",
        "unknown-tier",
        "unknown-point-type",
        "rate-over-100",
        "negative-window",
        "bad-key",
        "category-twice",
        "category-excluded-and-rated",
        "category-rate-over-100",
    ],
)
def test_a_wrong_program_is_refused_with_what_is_wrong(
    client: TestClient, tenant: Tenant, change: dict[str, Any], words: str
) -> None:
    answer = put(client, tenant, {**PROGRAM, **change})

    assert answer.status_code == 422
    assert words in answer.text
    assert client.get("/api/v1/loyalty/program", headers=tenant.api).status_code == 404


def test_saving_the_program_is_audited_and_only_for_those_who_may(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    assert put(client, tenant, PROGRAM).status_code == 200
    answer = client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.key("agent"))
    viewer = client.get("/api/v1/loyalty/program", headers=tenant.key("viewer"))

    assert answer.status_code == 403
    assert viewer.status_code == 200
    assert [t["key"] for t in viewer.json()["tiers"]] == ["basic", "silver", "gold"]
    assert [r["key"] for r in viewer.json()["rules"]] == ["orders", "first-review", "survey"]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.id)
    ).all()
    assert actions.count("loyalty.program") == 1


def test_redeeming_spends_available_points_and_refuses_more(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    put(client, tenant, PROGRAM)
    send(
        client,
        tenant,
        order("r1", "P-1", 300000, ago(days=20)),
        order("r1", "P-2", 50000, ago(hours=1)),
    )
    drain(caught_up)
    customer = customer_id(session, tenant, "r1")
    url = f"/api/v1/loyalty/members/{customer}/redeem"

    too_much = client.post(url, json={"points": 3001, "reason": "coupon"}, headers=tenant.api)
    first = client.post(
        url,
        json={"points": 2000, "reason": "₩2,000 coupon", "idempotency_key": "c-1"},
        headers=tenant.api,
    )
    again = client.post(
        url,
        json={"points": 2000, "reason": "₩2,000 coupon", "idempotency_key": "c-1"},
        headers=tenant.api,
    )

    assert too_much.status_code == 422 and "3001 points asked, 3000 available" in too_much.text
    assert first.status_code == 200 and again.status_code == 200
    assert points(again.json()) == {"total": 1500, "available": 1000, "pending": 500}


def test_an_adjustment_adds_or_deducts_with_a_reason(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    put(client, tenant, PROGRAM)
    send(client, tenant, track("a1", "Survey Answered", ago(hours=1)))
    drain(caught_up)
    url = f"/api/v1/loyalty/members/{customer_id(session, tenant, 'a1')}/adjust"

    added = client.post(url, json={"points": 700, "reason": "사과의 의미로"}, headers=tenant.api)
    deducted = client.post(
        url, json={"points": 200, "reason": "중복 지급", "direction": "deduct"}, headers=tenant.api
    )
    refused = client.post(url, json={"points": 1, "reason": "x"}, headers=tenant.key("agent"))

    assert added.status_code == 200 and deducted.status_code == 200
    assert points(deducted.json()) == {"total": 800, "available": 800, "pending": 0}
    assert [e["reason"] for e in deducted.json()["ledger"]][:2] == ["중복 지급", "사과의 의미로"]
    assert refused.status_code == 403


def test_points_expire_oldest_first_on_their_day(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    put(client, tenant, {**PROGRAM, "expiry_months": 1, "pending_days": 0})
    send(
        client,
        tenant,
        order("e1", "X-1", 100000, ago(days=45)),
        order("e1", "X-2", 100000, ago(days=10)),
    )
    drain(caught_up)

    assert expire_points(caught_up) == 1
    assert expire_points(caught_up) == 0  # nothing left to expire: running twice changes nothing

    body = member(client, tenant, customer_id(session, tenant, "e1"))
    assert points(body) == {"total": 1000, "available": 1000, "pending": 0}
    newest = body["ledger"][0]
    assert (newest["kind"], newest["amount"]) == ("expire", -1000)


def test_tiers_go_up_at_once_and_down_only_when_their_period_ends(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    put(client, tenant, PROGRAM)
    send(client, tenant, order("t1", "T-1", 400000, ago(days=300)))
    drain(caught_up)
    customer = customer_id(session, tenant, "t1")
    program = load_programs(session, workspace_ids=[tenant.id])[tenant.id]

    # 70 days on the spend falls out of the window, but Silver is held for a year from the upgrade
    later = utcnow() + timedelta(days=70)
    held = evaluate_tiers(session, program, now=later)
    assert (held.held, held.downgraded) == (1, 0)
    # a year after the upgrade, the member goes back to Basic
    result = evaluate_tiers(session, program, now=utcnow() + timedelta(days=366))
    assert result.downgraded == 1
    session.expire_all()
    body = member(client, tenant, customer)
    assert body["progress"]["tier"] == "basic"
    assert [(h["from_tier"], h["to_tier"], h["reason"]) for h in body["tier_history"]] == [
        ("silver", "basic", "downgrade"),
        ("basic", "silver", "upgrade"),
    ]
    assert body["tier_history"][1]["measured"] == 400000
    reasons = session.scalars(select(TierChange.reason).order_by(TierChange.id)).all()
    assert reasons[-2:] == ["upgrade", "downgrade"]


def test_caps_excluded_products_and_a_minimum_order(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    rules = [
        {
            "key": "orders",
            "rate_percent": 10,
            "min_order": 20000,
            "excluded_categories": ["Gift Card"],
        },
        {"key": "login", "kind": "event", "event": "Signed In", "points": 10, "cap_per_day": 25},
    ]
    put(client, tenant, {**PROGRAM, "pending_days": 0, "rules": rules})
    shirt = {"product_id": "S", "price": 30000, "quantity": 2, "category": "Shirts"}
    card = {"product_id": "G", "price": 50000, "quantity": 1, "category": "gift card"}
    noon = (utcnow().astimezone(KST) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    big = order("c1", "M-1", 110000, ago(days=2))
    big["properties"]["products"] = [shirt, card]
    send(
        client,
        tenant,
        big,
        order("c1", "M-2", 15000, ago(days=2)),
        *(
            track("c1", "Signed In", (noon + timedelta(minutes=10 * i)).isoformat())
            for i in range(4)
        ),
    )
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "c1"))
    # ₩110,000 less the ₩50,000 gift card at 10 %; the ₩15,000 order is under the minimum;
    # four sign-ins of 10 points on one day (yesterday noon in Seoul, whatever the hour of the
    # run), capped at 25 a day.
    assert points(body)["total"] == 6000 + 25


def test_categories_earn_at_their_own_rate_and_share_an_order_discount(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    rule = {
        "key": "orders",
        "rate_percent": 1,
        "rate_by_tier": {"gold": 2},
        "rate_by_category": {"Beauty": 5},
        "excluded_categories": ["Gift Card"],
    }
    put(client, tenant, {**PROGRAM, "pending_days": 0, "rules": [rule]})
    shirts = {"product_id": "S", "price": 30000, "quantity": 2, "category": "Shirts"}
    cream = {"product_id": "C", "price": 30000, "quantity": 1, "category": "beauty"}
    card = {"product_id": "G", "price": 10000, "quantity": 1, "category": "Gift Card"}
    full = order("k1", "K-1", 100000, ago(days=2))
    full["properties"]["products"] = [shirts, cream, card]
    # ₩50,000 of cream sold for ₩40,000: the discount is shared by the order's lines
    discounted = order("k1", "K-2", 40000, ago(days=1))
    discounted["properties"]["products"] = [{**cream, "quantity": 1, "price": 50000}]
    send(client, tenant, full, discounted)
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "k1"))
    # K-1: the ₩10,000 gift card earns nothing, ₩30,000 of beauty at 5 % (1,500) and ₩60,000
    # of shirts at 1 % (600); K-2: ₩40,000 of beauty at 5 % (2,000).
    assert [e["amount"] for e in body["ledger"]] == [2000, 2100]


def test_a_category_rate_holds_whatever_the_tier_and_other_products_earn_the_tier_rate(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    rule = {"key": "orders", "rate_percent": 1, "rate_by_tier": {"gold": 2},
            "rate_by_category": {"가전": "0.5"}}  # fmt: skip
    put(client, tenant, {**PROGRAM, "pending_days": 0, "rules": [rule]})
    send(client, tenant, order("k2", "K-3", 1200000, ago(days=3)))
    drain(caught_up)  # the member is Gold from now on
    tv = {"product_id": "TV", "price": 800000, "quantity": 1, "category": "가전"}
    mug = {"product_id": "M", "price": 20000, "quantity": 1, "category": "주방"}
    mixed = order("k2", "K-4", 820000, ago(days=2))
    mixed["properties"]["products"] = [tv, mug]
    send(client, tenant, mixed)
    drain(caught_up)

    body = member(client, tenant, customer_id(session, tenant, "k2"))
    assert body["progress"]["tier"] == "gold"
    # ₩800,000 at 0.5 % (4,000) and ₩20,000 at Gold's 2 % (400)
    assert [e["amount"] for e in body["ledger"]] == [4400, 12000]


def test_a_merged_profile_brings_its_points_and_higher_tier(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    put(client, tenant, PROGRAM)
    send(
        client,
        tenant,
        order("m1", "Y-1", 500000, ago(days=20)),
        track("m2", "Survey Answered", ago(days=1)),
    )
    drain(caught_up)
    first, second = customer_id(session, tenant, "m1"), customer_id(session, tenant, "m2")

    merge_by_id(session, workspace_id=tenant.id, survivor=second, merged=first)

    body = member(client, tenant, second)
    assert points(body)["total"] == 5000 + 300
    assert body["progress"]["tier"] == "silver"
    assert (
        session.scalar(select(LoyaltyMember.id).where(LoyaltyMember.customer_id == first)) is None
    )
    assert (
        ledger.balances(
            session,
            member_id=session.scalar(
                select(LoyaltyMember.id).where(LoyaltyMember.customer_id == second)
            )
            or 0,
            now=utcnow(),
        )["points"].total
        == 5300
    )
