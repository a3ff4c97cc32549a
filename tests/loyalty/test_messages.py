"""What members are told: points earned, a new tier, points about to expire; once each, in the
member's language, by email or by text message when there is only a phone number."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.loyalty.messages import tell_members
from cxloop.loyalty.program import load_programs
from cxloop.models import OutboundMessage
from tests.factories import Tenant
from tests.loyalty.test_earning import PROGRAM, ago, drain, order, send


@pytest.fixture
def caught_up(tx_database: Database) -> Database:
    drain(tx_database)
    return tx_database


def identify(user: str, locale: str = "ko-KR", **traits: str) -> dict[str, object]:
    return {
        "type": "identify",
        "userId": user,
        "traits": traits,
        "context": {"locale": locale},
        "timestamp": ago(days=40),
    }


def messages(session: Session, tenant: Tenant) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.workspace_id == tenant.id)
        .order_by(OutboundMessage.id)
    )
    return [(m.channel, m.recipient, m.body_text) for m in rows]


def test_members_are_told_once_of_points_and_of_a_new_tier(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    send(
        client,
        tenant,
        identify("k1", email="minji@example.kr", locale="ko-KR"),
        identify("e1", phone="010-2345-6789", locale="en-US"),
        order("k1", "K-1", 350000, ago(days=20)),
        order("e1", "E-1", 12000, ago(days=20)),
    )
    drain(caught_up)
    program = load_programs(session, workspace_ids=[tenant.id])[tenant.id]

    first = tell_members(session, program, now=utcnow())
    again = tell_members(session, program, now=utcnow())

    assert (first.earned, first.tiers) == (2, 1)
    assert (again.earned, again.tiers) == (2, 1)  # asked again: the same messages, none new
    sent = messages(session, tenant)
    assert len(sent) == 3
    texts = {
        (channel, recipient): text for channel, recipient, text in sent if "Silver" not in text
    }
    assert "3,500포인트가 적립되었어요" in texts[("email", "minji@example.kr")]
    assert "You earned 120 points" in texts[("sms", "+821023456789")]
    assert any("Silver 등급이 되었어요" in text for _, _, text in sent)


def test_members_are_told_of_points_expiring_within_30_days(
    client: TestClient, session: Session, tenant: Tenant, caught_up: Database
) -> None:
    client.put(
        "/api/v1/loyalty/program",
        json={**PROGRAM, "expiry_months": 1, "pending_days": 0},
        headers=tenant.api,
    )
    send(
        client,
        tenant,
        identify("x1", email="soon@example.kr"),
        order("x1", "X-1", 100000, ago(days=10)),
        order("x1", "X-2", 50000, ago(days=1)),
    )
    drain(caught_up)
    program = load_programs(session, workspace_ids=[tenant.id])[tenant.id]

    told = tell_members(session, program, now=utcnow() + timedelta(hours=1))

    assert told.expiring == 1
    expiring = [text for _, _, text in messages(session, tenant) if "소멸" in text]
    assert expiring == ["[멤버십] 1,500포인트가 30일 안에 소멸돼요. 소멸 전에 사용하세요."]
