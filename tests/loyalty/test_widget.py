"""The member widget: a signed-in shopper (verified by userHash) sees their points, tier and
progress in their language; an unverified one is asked to sign in and learns nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.accounts.widget_identity import identity_secret, user_hash
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from tests.factories import Tenant
from tests.loyalty.test_earning import PROGRAM, ago, drain, order, send


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    drain(tx_database)
    return tx_database


def panel(client: TestClient, tenant: Tenant, **params: str) -> Any:
    return client.get(
        "/widget/v1/loyalty/member",
        params={"writeKey": tenant.write_secret, **params},
        headers={"Origin": "https://shop.example"},
    )


def test_a_verified_shopper_sees_points_tier_and_progress(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    caught_up: Database,
    settings: Settings,
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    send(
        client,
        tenant,
        order("w1", "W-1", 880000, ago(days=20)),
        order("w1", "W-2", 5000, ago(hours=2)),
    )
    drain(caught_up)
    signed = user_hash(identity_secret(tenant.workspace, settings=settings), "w1")

    korean = panel(client, tenant, userId="w1", userHash=signed, locale="ko")
    english = panel(client, tenant, userId="w1", userHash=signed, locale="en")

    assert korean.status_code == 200
    assert korean.headers["access-control-allow-origin"] == "*"
    member = korean.json()["member"]
    assert member["tier"] == "Silver"
    assert member["progress"] == "Gold까지 ₩115,000 남음"
    assert member["balances"] == [
        {"point_type": "points", "available": "8,800", "pending": "50", "expiring": "0"}
    ]
    assert [(e["what"], e["points"]) for e in member["latest"]] == [
        ("적립", "+50"),
        ("적립", "+8,800"),
    ]
    assert english.json()["member"]["progress"] == "₩115,000 more to Gold"


@pytest.mark.parametrize("user_hash_sent", ["", "0" * 64], ids=["no-hash", "wrong-hash"])
def test_without_a_valid_hash_the_shopper_is_asked_to_sign_in(
    client: TestClient, tenant: Tenant, caught_up: Database, user_hash_sent: str
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    send(client, tenant, order("w2", "W-3", 100000, ago(days=20)))
    drain(caught_up)

    answer = panel(client, tenant, userId="w2", userHash=user_hash_sent, locale="ko")

    assert answer.status_code == 200
    assert answer.json()["verified"] is False and answer.json()["member"] is None
    assert answer.json()["labels"]["sign_in"].startswith("로그인하면")


def test_a_wrong_write_key_is_refused_as_problem_json(client: TestClient, tenant: Tenant) -> None:
    answer = client.get("/widget/v1/loyalty/member", params={"writeKey": "nope"})

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["access-control-allow-origin"] == "*"


def test_the_script_is_served_without_a_cdn(client: TestClient) -> None:
    answer = client.get("/widget/loyalty.js")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert b"textContent" in answer.content and b"innerHTML" not in answer.content


def test_a_shopper_spends_points_on_a_coupon_from_the_widget_once_per_click(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    caught_up: Database,
    settings: Settings,
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    coupon = {
        "name_ko": "5,000원 할인 쿠폰",
        "name_en": "₩5,000 off",
        "cost": 5000,
        "code_source": "pool",
    }
    assert client.put(
        "/api/v1/loyalty/rewards/coupon-5000", json=coupon, headers=tenant.api
    ).status_code in (200, 201)
    uploaded = client.post(
        "/api/v1/loyalty/rewards/coupon-5000/codes",
        content="SAVE-AAAA\nSAVE-BBBB\n",
        headers={**tenant.api, "Content-Type": "text/plain"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    send(client, tenant, order("w3", "W-9", 700000, ago(days=20)))
    drain(caught_up)
    signed = user_hash(identity_secret(tenant.workspace, settings=settings), "w3")
    offered = panel(client, tenant, userId="w3", userHash=signed, locale="ko").json()
    assert offered["member"]["rewards"] == [
        {"key": "coupon-5000", "name": "5,000원 할인 쿠폰", "cost": "5,000", "affordable": True}
    ]
    body = {
        "writeKey": tenant.write_secret,
        "userId": "w3",
        "userHash": signed,
        "reward": "coupon-5000",
        "idempotencyKey": "click-0001",
        "locale": "ko",
    }

    first = client.post("/widget/v1/loyalty/redemptions", json=body)
    again = client.post("/widget/v1/loyalty/redemptions", json=body)
    short = client.post(
        "/widget/v1/loyalty/redemptions", json={**body, "idempotencyKey": "click-0002"}
    )
    forged = client.post(
        "/widget/v1/loyalty/redemptions",
        json={**body, "userHash": "0" * 64, "idempotencyKey": "click-0003"},
    )

    assert first.status_code == 201, first.text
    assert first.json()["code"] == again.json()["code"] == "SAVE-AAAA"
    assert first.json()["member"]["balances"][0]["available"] == "2,000"
    assert short.status_code == 422 and short.headers["access-control-allow-origin"] == "*"
    assert "5000 points asked, 2000 available" in short.json()["detail"]
    assert forged.status_code == 401
