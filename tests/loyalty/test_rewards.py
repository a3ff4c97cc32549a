"""The rewards catalogue and redemptions over the API: a coupon from an uploaded pool, stock and
codes running out, tier limits, idempotent retries, cancelling, generated codes, other
workspaces and roles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.loyalty.rewards import MAX_CODES_BYTES
from cxloop.models import AuditEntry, LedgerEntry, LoyaltyMember
from tests.factories import Tenant, make_customer
from tests.loyalty.test_earning import (
    PROGRAM,
    ago,
    customer_id,
    drain,
    member,
    order,
    points,
    send,
)

API = "/api/v1/loyalty"
COUPON: dict[str, Any] = {
    "name_ko": "5,000원 할인 쿠폰",
    "name_en": "₩5,000 off",
    "kind": "coupon",
    "value": 5000,
    "cost": 5000,
    "code_source": "pool",
}


@pytest.fixture
def bus(tx_database: Database) -> Database:
    """The earning consumer, with the events already in the database handled."""
    drain(tx_database)
    return tx_database


@pytest.fixture
def program(client: TestClient, tenant: Tenant) -> None:
    answer = client.put(f"{API}/program", json=PROGRAM, headers=tenant.api)
    assert answer.status_code == 200, answer.text


def save(client: TestClient, tenant: Tenant, key: str, **changes: Any) -> dict[str, Any]:
    answer = client.put(f"{API}/rewards/{key}", json={**COUPON, **changes}, headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def upload(client: TestClient, tenant: Tenant, key: str, text: str) -> Any:
    return client.post(
        f"{API}/rewards/{key}/codes",
        content=text.encode(),
        headers={**tenant.api, "Content-Type": "text/plain"},
    )


def give(client: TestClient, tenant: Tenant, customer: int, given: int) -> None:
    """Give the customer ``given`` points by hand (available at once, never expiring)."""
    answer = client.post(
        f"{API}/members/{customer}/adjust",
        json={"points": given, "reason": "welcome"},
        headers=tenant.api,
    )
    assert answer.status_code == 200, answer.text


def customer_with(client: TestClient, session: Session, tenant: Tenant, given: int) -> int:
    """A new customer given ``given`` points by hand."""
    customer = make_customer(session, workspace=tenant.workspace).id
    give(client, tenant, customer, given)
    return customer


def redeem(
    client: TestClient,
    tenant: Tenant,
    customer: int,
    key: str,
    idempotency_key: str,
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"{API}/members/{customer}/redemptions",
        json={"reward": key, "idempotency_key": idempotency_key},
        headers=headers or tenant.api,
    )


def cancel(client: TestClient, tenant: Tenant, redemption: int) -> Any:
    return client.post(f"{API}/redemptions/{redemption}/cancel", headers=tenant.api)


def reward(client: TestClient, tenant: Tenant, key: str) -> dict[str, Any]:
    answer = client.get(f"{API}/rewards/{key}", headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ledger_sums(session: Session, customer: int) -> tuple[int, int]:
    """The member's ledger total and the sum of their lots' remainders (always equal)."""
    member_id = session.scalar(
        select(LoyaltyMember.id).where(LoyaltyMember.customer_id == customer)
    )
    total, remaining = session.execute(
        select(func.sum(LedgerEntry.amount), func.sum(LedgerEntry.remaining)).where(
            LedgerEntry.member_id == member_id
        )
    ).one()
    return int(total or 0), int(remaining or 0)


def test_a_coupon_from_an_uploaded_pool_is_redeemed_for_points(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    # given a ₩5,000 coupon with a pool of two codes (one line repeated) and a member with 8,000
    saved = save(client, tenant, "coupon-5000")
    uploaded = upload(client, tenant, "coupon-5000", "SAVE-AAAA\n  SAVE-BBBB  \n\nSAVE-AAAA\n")
    customer = customer_with(client, session, tenant, 8000)

    # when the member redeems it
    answer = redeem(client, tenant, customer, "coupon-5000", "order-1")

    # then 5,000 points are spent and the first code of the pool is theirs
    assert saved["codes_free"] == 0 and saved["archived"] is False
    assert uploaded.status_code == 200
    assert uploaded.json() == {"added": 2, "duplicates": 1, "codes_free": 2}
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {k: body[k] for k in ("customer_id", "reward", "points", "code", "status")} == {
        "customer_id": customer,
        "reward": "coupon-5000",
        "points": 5000,
        "code": "SAVE-AAAA",
        "status": "issued",
    }
    assert body["reward_name_ko"] == "5,000원 할인 쿠폰"
    assert points(member(client, tenant, customer)) == {
        "total": 3000,
        "available": 3000,
        "pending": 0,
    }
    assert reward(client, tenant, "coupon-5000")["codes_free"] == 1
    listed = client.get(f"{API}/members/{customer}/redemptions", headers=tenant.api).json()
    assert [r["code"] for r in listed["items"]] == ["SAVE-AAAA"]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.id)
    ).all()
    assert {"loyalty.reward_save", "loyalty.codes_upload", "loyalty.redeem_reward"} <= set(actions)


@pytest.mark.parametrize(
    ("changes", "codes", "status", "words"),
    [
        ({"stock": 0, "code_source": "none"}, "", 409, "is out of stock"),
        ({}, "", 409, "has no codes left"),
        ({"cost": 20000, "code_source": "none"}, "", 422, "20000 points asked, 8000 available"),
        ({"active": False, "code_source": "none"}, "", 422, "it is not active"),
        (
            {"ends_at": "2020-01-01T00:00:00+09:00", "code_source": "none"},
            "",
            422,
            "could be redeemed until",
        ),
    ],
    ids=["no-stock", "no-codes", "too-few-points", "inactive", "over"],
)
def test_a_reward_that_cannot_be_had_is_refused_with_why_and_nothing_is_spent(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    program: None,
    changes: dict[str, Any],
    codes: str,
    status: int,
    words: str,
) -> None:
    save(client, tenant, "gift", **changes)
    customer = customer_with(client, session, tenant, 8000)

    answer = redeem(client, tenant, customer, "gift", "k-1")

    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert points(member(client, tenant, customer))["total"] == 8000


def test_stock_runs_out_and_comes_back_when_a_redemption_is_cancelled(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "mug", kind="gift", code_source="none", cost=1000, stock=1)
    customer = customer_with(client, session, tenant, 5000)

    first = redeem(client, tenant, customer, "mug", "m-1")
    second = redeem(client, tenant, customer, "mug", "m-2")
    assert first.status_code == 200 and second.status_code == 409
    assert reward(client, tenant, "mug")["stock"] == 0

    assert cancel(client, tenant, first.json()["id"]).status_code == 200
    assert reward(client, tenant, "mug")["stock"] == 1
    assert redeem(client, tenant, customer, "mug", "m-3").status_code == 200


def test_a_reward_for_a_higher_tier_waits_until_the_member_reaches_it(
    client: TestClient, session: Session, tenant: Tenant, program: None, bus: Database
) -> None:
    save(client, tenant, "lounge", kind="experience", code_source="none", min_tier="silver")
    send(client, tenant, order("t1", "T-1", 100000, ago(days=20)))
    drain(bus)
    customer = customer_id(session, tenant, "t1")
    give(client, tenant, customer, 10000)

    refused = redeem(client, tenant, customer, "lounge", "l-1")
    send(client, tenant, order("t1", "T-2", 250000, ago(hours=1)))
    drain(bus)
    allowed = redeem(client, tenant, customer, "lounge", "l-2")

    assert refused.status_code == 422
    assert "tier 'Silver' and above; this member is in tier 'Basic'" in refused.json()["detail"]
    assert allowed.status_code == 200, allowed.text


def test_the_same_idempotency_key_again_gives_the_same_redemption(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "coupon-5000")
    save(client, tenant, "coupon-3000", cost=3000)
    upload(client, tenant, "coupon-5000", "C1\nC2\n")
    upload(client, tenant, "coupon-3000", "D1\n")
    customer = customer_with(client, session, tenant, 12000)

    first = redeem(client, tenant, customer, "coupon-5000", "retry-me")
    again = redeem(client, tenant, customer, "coupon-5000", "retry-me")
    other_reward = redeem(client, tenant, customer, "coupon-3000", "retry-me")

    assert first.status_code == 200 and again.status_code == 200
    assert again.json() == first.json()
    assert other_reward.status_code == 409
    assert "already used for another redemption" in other_reward.json()["detail"]
    assert points(member(client, tenant, customer))["total"] == 7000
    assert reward(client, tenant, "coupon-5000")["codes_free"] == 1


def test_cancelling_gives_the_points_and_the_code_back_once(
    client: TestClient, session: Session, tenant: Tenant, program: None, bus: Database
) -> None:
    # given points earned on an order (expiring in a year) and points given by hand (never)
    save(client, tenant, "coupon-5000")
    upload(client, tenant, "coupon-5000", "ONLY-ONE\n")
    send(client, tenant, order("c1", "O-1", 300000, ago(days=20)))
    drain(bus)
    customer = customer_id(session, tenant, "c1")
    give(client, tenant, customer, 4000)
    before = member(client, tenant, customer)
    order_lot = next(e for e in before["ledger"] if e["kind"] == "earn")

    # when a redemption spending from both is cancelled, twice
    redeemed = redeem(client, tenant, customer, "coupon-5000", "x-1").json()
    cancelled = cancel(client, tenant, redeemed["id"])
    again = cancel(client, tenant, redeemed["id"])

    # then the points are back (available now, expiring with the order's lot), the code is
    # back in the pool for the next redemption, and the second cancel changed nothing
    assert cancelled.status_code == 200 and again.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.json() == cancelled.json()
    after = member(client, tenant, customer)
    assert points(after) == {"total": 7000, "available": 7000, "pending": 0}
    refunds = [e for e in after["ledger"] if e["kind"] == "refund"]
    assert [(e["amount"], e["expires_at"]) for e in refunds] == [(5000, order_lot["expires_at"])]
    assert ledger_sums(session, customer) == (7000, 7000)
    assert reward(client, tenant, "coupon-5000")["codes_free"] == 1
    assert redeem(client, tenant, customer, "coupon-5000", "x-2").json()["code"] == "ONLY-ONE"
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action == "loyalty.redemption_cancel")
    ).all()
    assert len(actions) == 1


def test_two_redemptions_never_share_a_code(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "coupon-5000", cost=100)
    upload(client, tenant, "coupon-5000", "P1\nP2\nP3\n")
    customers = [customer_with(client, session, tenant, 1000) for _ in range(2)]

    answers = [redeem(client, tenant, customers[i % 2], "coupon-5000", f"r-{i}") for i in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 409]
    assert sorted(a.json()["code"] for a in answers[:3]) == ["P1", "P2", "P3"]


def test_generated_codes_carry_the_prefix_and_a_cancelled_one_is_voided(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "welcome", code_source="generated", code_prefix="WELCOME-", cost=100)
    customer = customer_with(client, session, tenant, 1000)

    first = redeem(client, tenant, customer, "welcome", "g-1").json()
    cancel(client, tenant, first["id"])
    second = redeem(client, tenant, customer, "welcome", "g-2").json()

    assert first["code"].startswith("WELCOME-") and len(first["code"]) == len("WELCOME-") + 12
    assert second["code"].startswith("WELCOME-") and second["code"] != first["code"]
    assert reward(client, tenant, "welcome")["codes_free"] is None
    assert upload(client, tenant, "welcome", "X1\n").status_code == 422


def test_another_workspace_sees_none_of_it(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "coupon-5000")
    upload(client, tenant, "coupon-5000", "Z1\nZ2\n")
    customer = customer_with(client, session, tenant, 8000)
    redemption = redeem(client, tenant, customer, "coupon-5000", "w-1").json()
    other = Tenant(session)
    client.put(f"{API}/program", json=PROGRAM, headers=other.api)
    stranger = make_customer(session, workspace=other.workspace).id

    answers = {
        "reward": client.get(f"{API}/rewards/coupon-5000", headers=other.api),
        "codes": upload(client, other, "coupon-5000", "Y1\n"),
        "redeem-their-reward": redeem(client, other, stranger, "coupon-5000", "w-2"),
        "redeem-by-id": client.post(
            f"{API}/members/{stranger}/redemptions",
            json={"reward_id": redemption["reward_id"], "idempotency_key": "w-3"},
            headers=other.api,
        ),
        "their-customer": redeem(client, other, customer, "coupon-5000", "w-4"),
        "list": client.get(f"{API}/members/{customer}/redemptions", headers=other.api),
        "cancel": cancel(client, other, redemption["id"]),
    }

    assert {k: a.status_code for k, a in answers.items()} == {
        "reward": 404,
        "codes": 404,
        "redeem-their-reward": 404,
        "redeem-by-id": 404,
        "their-customer": 404,
        "list": 404,
        "cancel": 404,
    }
    assert client.get(f"{API}/rewards", headers=other.api).json()["items"] == []
    assert points(member(client, tenant, customer))["total"] == 3000


def test_roles_viewers_read_agents_redeem_marketers_shape_the_catalogue(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "coupon-5000", code_source="none")
    customer = customer_with(client, session, tenant, 20000)
    viewer, agent = tenant.key("viewer"), tenant.key("agent")

    assert redeem(client, tenant, customer, "coupon-5000", "v-1", viewer).status_code == 403
    assert client.get(f"{API}/rewards", headers=viewer).status_code == 200
    assert client.put(f"{API}/rewards/x", json=COUPON, headers=agent).status_code == 403
    by_agent = redeem(client, tenant, customer, "coupon-5000", "a-1", agent)
    assert by_agent.status_code == 200
    assert (
        client.post(f"{API}/redemptions/{by_agent.json()['id']}/cancel", headers=viewer).status_code
        == 403
    )
    assert client.post(f"{API}/rewards/coupon-5000/archive", headers=agent).status_code == 403


def test_the_catalogue_pages_and_hides_archived_rewards(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    for key in ("a", "b", "c"):
        save(client, tenant, key, code_source="none")
    archived = client.post(f"{API}/rewards/b/archive", headers=tenant.api)
    customer = customer_with(client, session, tenant, 8000)

    first = client.get(f"{API}/rewards?limit=1", headers=tenant.api).json()
    second = client.get(
        f"{API}/rewards?limit=5&cursor={first['next_cursor']}", headers=tenant.api
    ).json()
    everything = client.get(f"{API}/rewards?include_archived=true", headers=tenant.api).json()

    assert archived.json()["archived"] is True
    assert [r["key"] for r in first["items"]] + [r["key"] for r in second["items"]] == ["a", "c"]
    assert second["next_cursor"] is None
    assert [r["key"] for r in everything["items"]] == ["a", "b", "c"]
    assert "not active" in redeem(client, tenant, customer, "b", "b-1").json()["detail"]
    # saving it again brings it back
    assert save(client, tenant, "b", code_source="none")["archived"] is False


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("rewards/coupon-5000", {**COUPON, "min_tier": "platinum"}, 422, "not a tier"),
        ("rewards/coupon-5000", {**COUPON, "point_type": "stamps"}, 422, "not a point type"),
        ("rewards/coupon-5000", {**COUPON, "name_ko": "", "name_en": ""}, 422, "needs a name"),
        ("rewards/coupon-5000", {**COUPON, "cost": 0}, 422, "greater than or equal to 1"),
        ("rewards/Bad Key", COUPON, 422, "pattern"),
    ],
    ids=["unknown-tier", "unknown-point-type", "no-name", "free", "bad-key"],
)
def test_a_wrong_reward_is_refused_with_what_is_wrong(
    client: TestClient,
    tenant: Tenant,
    program: None,
    path: str,
    body: dict[str, Any],
    status: int,
    words: str,
) -> None:
    answer = client.put(f"{API}/{path}", json=body, headers=tenant.api)

    assert answer.status_code == status
    assert words in answer.text


def test_a_wrong_upload_or_redemption_request_says_what_is_wrong(
    client: TestClient, session: Session, tenant: Tenant, program: None
) -> None:
    save(client, tenant, "coupon-5000")
    customer = customer_with(client, session, tenant, 8000)

    bad_lines = upload(client, tenant, "coupon-5000", "GOOD-1\nhas space\nGOOD-2\n" + "x" * 65)
    empty = upload(client, tenant, "coupon-5000", "\n\n")
    too_big = upload(client, tenant, "coupon-5000", "A" * (MAX_CODES_BYTES + 1))
    both = client.post(
        f"{API}/members/{customer}/redemptions",
        json={"reward": "coupon-5000", "reward_id": 1, "idempotency_key": "k"},
        headers=tenant.api,
    )
    unknown = redeem(client, tenant, customer, "nothing", "k")

    assert bad_lines.status_code == 422 and "(line 2, 4)" in bad_lines.json()["detail"]
    assert empty.status_code == 422 and "no codes" in empty.json()["detail"]
    assert too_big.status_code == 413
    assert both.status_code == 422 and "not both" in both.text
    assert unknown.status_code == 404
    assert reward(client, tenant, "coupon-5000")["codes_free"] == 0
