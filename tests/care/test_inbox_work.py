"""Working the inbox at scale: filters by channel, priority, tag, language and SLA state, a
search over subjects, messages and customers, a "my teams" view, and one change applied to
many conversations at once — all or nothing, only in the agent's own workspace, audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import intake
from cxloop.care import service as care
from cxloop.core.timeutil import utcnow
from cxloop.models import AuditEntry, CareInbox, Conversation, Customer, Membership, User
from tests.factories import Tenant, make_customer, make_user, unique
from tests.helpers.web import flashes, get, login, post


def principal_of(tenant: Tenant, user: User) -> Principal:
    return Principal(workspace_id=tenant.id, role="owner", user_id=user.id, label=user.email)


def inbox(session: Session, tenant: Tenant, channel: str, team: str = "") -> CareInbox:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    return care.create_inbox(
        session, principal=principal_of(tenant, owner), name=channel, channel=channel, team=team
    ).inbox


def conversation(
    session: Session, tenant: Tenant, where: CareInbox, text: str, **changes: Any
) -> Conversation:
    customer = make_customer(
        session, workspace=tenant.workspace, email=f"{unique('c')}@example.com"
    )
    received = intake.receive_message(
        session, inbox=where, customer=customer, text=text, contact=unique("visitor")
    )
    assert received is not None
    for name, value in changes.items():
        setattr(received.conversation, name, value)
    session.flush()
    return received.conversation


def listed(client: TestClient, tenant: Tenant, **query: str) -> list[int]:
    response = client.get("/api/v1/care/conversations", params=query, headers=tenant.api)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def three(session: Session, tenant: Tenant) -> dict[str, Conversation]:
    chat = inbox(session, tenant, "chat", team="cs")
    sms = inbox(session, tenant, "sms", team="delivery")
    now = utcnow()
    return {
        "refund": conversation(
            session,
            tenant,
            chat,
            "환불은 언제 되나요? 주문번호 A-1004",
            priority="high",
            tags=["환불", "vip"],
            language="ko",
            sla_missed=["first_response"],
        ),
        "delivery": conversation(
            session,
            tenant,
            sms,
            "Where is my parcel?",
            tags=["배송"],
            language="en",
            first_response_due_at=now + timedelta(minutes=20),
        ),
        "coupon": conversation(
            session,
            tenant,
            chat,
            "쿠폰 100% 적용이 안 돼요",
            language="ko",
            resolution_due_at=now + timedelta(days=2),
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "chat"}, ["coupon", "refund"]),
        ({"channel": "sms"}, ["delivery"]),
        ({"priority": "high"}, ["refund"]),
        ({"tag": "환불"}, ["refund"]),
        ({"tag": "vi"}, []),  # a whole tag, not a part of one
        ({"language": "en"}, ["delivery"]),
        ({"sla": "missed"}, ["refund"]),
        ({"sla": "due_soon"}, ["delivery"]),
        ({"sla": "running"}, ["coupon", "delivery"]),
        ({"team": "delivery"}, ["delivery"]),
        ({"q": "a-1004"}, ["refund"]),  # in a message, any case
        ({"q": "100%"}, ["coupon"]),  # % is a character, not a wildcard
        ({"q": "parcel", "channel": "chat"}, []),
    ],
    ids=lambda v: "&".join(f"{k}={w}" for k, w in v.items()) if isinstance(v, dict) else "",
)
def test_filters_and_search_narrow_the_list(
    client: TestClient,
    tenant: Tenant,
    three: dict[str, Conversation],
    query: dict[str, str],
    expected: list[str],
) -> None:
    by_id = {c.id: name for name, c in three.items()}
    assert sorted(by_id[i] for i in listed(client, tenant, **query)) == expected


def test_search_finds_a_customer_by_email(
    client: TestClient, tenant: Tenant, three: dict[str, Conversation], session: Session
) -> None:
    customer = session.get(Customer, three["delivery"].customer_id)
    assert customer is not None and customer.email
    address = customer.email
    assert listed(client, tenant, q=address.split("@")[0].upper()) == [three["delivery"].id]


def test_an_unknown_filter_value_is_a_problem_not_a_500(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/api/v1/care/conversations?sla=late", headers=tenant.api)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "sla", "message": "unknown sla"}]


def test_a_bulk_change_applies_to_every_picked_conversation_and_is_audited(
    client: TestClient, session: Session, tenant: Tenant, three: dict[str, Conversation]
) -> None:
    ids = [three["refund"].id, three["coupon"].id]
    response = client.post(
        "/api/v1/care/conversations/bulk",
        json={"ids": ids, "status": "resolved", "priority": "low", "add_tag": "정리"},
        headers=tenant.api,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"changed": sorted(ids)}
    for name in ("refund", "coupon"):
        session.refresh(three[name])
        assert (three[name].status, three[name].priority) == ("resolved", "low")
        assert "정리" in three[name].tags
    session.refresh(three["delivery"])
    assert three["delivery"].status == "open"
    entry = session.scalar(
        select(AuditEntry).where(
            AuditEntry.workspace_id == tenant.id,
            AuditEntry.action == "care.conversations_bulk_update",
        )
    )
    assert entry is not None and entry.detail["count"] == 2


def test_a_bulk_change_with_another_workspaces_conversation_changes_nothing(
    client: TestClient, session: Session, tenant: Tenant, three: dict[str, Conversation]
) -> None:
    other = Tenant(session)
    theirs = conversation(session, other, inbox(session, other, "chat"), "남의 대화")
    response = client.post(
        "/api/v1/care/conversations/bulk",
        json={"ids": [three["refund"].id, theirs.id], "status": "resolved"},
        headers=tenant.api,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "ids", "message": f"unknown: [{theirs.id}]"}]
    for item in (three["refund"], theirs):
        session.refresh(item)
        assert item.status == "open"


def test_an_agent_sees_their_teams_and_changes_a_selection_from_the_list(
    client: TestClient, session: Session, tenant: Tenant, three: dict[str, Conversation]
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == tenant.id, Membership.user_id == agent.id
        )
    )
    assert membership is not None
    membership.teams = ["delivery"]
    session.flush()
    assert login(client, agent.email).status_code == 303

    page = get(client, "/inbox?view=my_teams")
    assert page.status_code == 200
    shown = [int(i) for i in re.findall(r'id="row-(\d+)"', page.text)]
    assert shown == [three["delivery"].id]
    assert re.search(r'id="view-my_teams"[^>]*>내 팀<span class="count">1</span>', page.text)

    narrowed = get(client, "/inbox?channel=chat&q=%EC%BF%A0%ED%8F%B0")  # q=쿠폰
    assert [int(i) for i in re.findall(r'id="row-(\d+)"', narrowed.text)] == [three["coupon"].id]
    bad = get(client, "/inbox?sla=late")
    assert bad.status_code == 422 and "sla=late" in bad.text

    done = post(
        client,
        "/inbox/bulk",
        {"ids": [str(three["refund"].id), str(three["coupon"].id)], "assignee": "me"},  # type: ignore[dict-item]
    )
    assert done.status_code == 303
    assert flashes(get(client, done.headers["location"])) == [("success", "대화 2개를 바꿨습니다.")]
    for name in ("refund", "coupon"):
        session.refresh(three[name])
        assert three[name].assignee_id == agent.id
    nothing = post(client, "/inbox/bulk", {"status": "resolved"})
    assert flashes(get(client, nothing.headers["location"])) == [
        ("error", "바꿀 대화를 먼저 선택하세요.")
    ]


def test_resolved_conversations_are_counted_up_to_a_cap(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    three: dict[str, Conversation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cxloop.care import views

    monkeypatch.setattr(views, "COUNT_CAP", 2)
    for item in three.values():
        item.status = "resolved"
    session.flush()
    agent = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    assert login(client, agent.email).status_code == 303
    page = get(client, "/inbox?view=resolved")
    assert re.search(r'id="view-resolved"[^>]*>[^<]*<span class="count">2\+</span>', page.text)
    assert re.search(r'id="view-open"[^>]*>[^<]*<span class="count">0</span>', page.text)
    assert len(re.findall(r'id="row-(\d+)"', page.text)) == 3  # the list itself is not capped
