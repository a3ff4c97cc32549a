"""Phone calls: imported from a phone system's CSV or JSON export, each call becomes a message of
the caller's conversation in a phone inbox, matched to the customer by their number, once per
call id; a call with the customer counts as the team's response and a resolved one resolves the
conversation. An agent logs a call on the customer's page (전화 기록), authored by them; the
call shows in the customer's conversations and on their timeline."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import Conversation, ConversationMessage, Event, User
from tests.factories import Tenant, make_customer, make_user, unique
from tests.helpers.web import flashes, get, login, post, text_of

CALLS = (
    "call_id,phone,agent,started_at,duration,direction,notes,outcome\n"
    "{a},010-2345-6789,{agent},2026-12-04 10:00:00,200,in,배송지 변경 문의. 변경 완료 안내,"
    "resolved\n"
    "{b},010-2345-6789,,2026-12-05T09:30:00+09:00,0,in,,no_answer\n"
    "{c},02-1234,,2026-12-05 11:00,60,in,,resolved\n"
    "{d},010-9876-5432,{agent},2026-12-05 14:00,95,out,반품 회수 일정 안내,follow_up\n"
    "{e},010-2345-6789,,2026-12-05 15:00,30,sideways,,resolved\n"
)


@pytest.fixture
def phone_inbox(client: TestClient, tenant: Tenant) -> int:
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": "대표번호 1588", "channel": "phone"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    assert made.json()["webhook_path"] == ""
    inbox_id: int = made.json()["id"]
    return inbox_id


def call_messages(session: Session, workspace_id: int, call_id: str) -> list[ConversationMessage]:
    return list(
        session.scalars(
            select(ConversationMessage).where(
                ConversationMessage.workspace_id == workspace_id,
                ConversationMessage.channel_message_id == f"call:{call_id}",
            )
        )
    )


def test_imported_calls_join_the_callers_conversation_once(
    client: TestClient, session: Session, tenant: Tenant, phone_inbox: int
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    known = make_customer(session, workspace=tenant.workspace, phone="010-2345-6789")
    session.flush()
    ids = {k: unique(f"{k}-") for k in "abcde"}
    body = CALLS.format(agent=agent.email.upper(), **ids).encode()
    url = f"/api/v1/care/inboxes/{phone_inbox}/import"
    csv_headers = tenant.api | {"Content-Type": "text/csv"}

    first = client.post(url, content=body, headers=csv_headers)
    again = client.post(url, content=body, headers=csv_headers)

    assert first.status_code == 200, first.text
    assert first.json() == {
        "rows": 5,
        "created": 3,
        "duplicates": 0,
        "errors": [
            {"line": 4, "reason": "phone is not a phone number: '02-1234'"},
            {"line": 6, "reason": "direction must be in or out"},
        ],
    }
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 3)
    [answered] = call_messages(session, tenant.id, ids["a"])
    [missed] = call_messages(session, tenant.id, ids["b"])
    conversation = session.get(Conversation, answered.conversation_id)
    assert conversation is not None
    # Both of the known customer's calls are one conversation on their profile, by number.
    assert missed.conversation_id == conversation.id
    assert (conversation.customer_id, conversation.channel) == (known.id, "phone")
    assert answered.body_text == "배송지 변경 문의. 변경 완료 안내"
    assert answered.details["call"] | {"ended_at": None} == {
        "id": ids["a"],
        "direction": "in",
        "duration": 200,
        "outcome": "resolved",
        "agent_id": agent.id,
        "agent": agent.email.lower(),
        "phone": "+821023456789",
        "ended_at": None,
    }
    assert answered.sent_at is not None and answered.sent_at.isoformat() == (
        "2026-12-04T01:00:00+00:00"
    )
    assert missed.body_text == "수신 전화 0:00 · 받지 않음"
    # The answered call was the team's response and resolved the conversation; the missed
    # call a day later reopened it, waiting for a call back.
    assert conversation.first_response_at is not None
    assert conversation.first_response_at.isoformat() == "2026-12-04T01:00:00+00:00"
    assert (conversation.status, conversation.assignee_id) == ("open", agent.id)
    [placed] = call_messages(session, tenant.id, ids["d"])
    assert (placed.direction, placed.author, placed.author_user_id) == ("out", "agent", agent.id)
    other = session.get(Conversation, placed.conversation_id)
    assert other is not None and other.customer_id != known.id
    assert other.first_response_at is not None  # the team called them


def test_a_call_through_the_api_is_logged_for_a_known_customer(
    client: TestClient, session: Session, tenant: Tenant, phone_inbox: int
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, email=f"{unique('c')}@ex.com")
    session.flush()
    call_id = unique("api-")
    body = {
        "inbox_id": phone_inbox,
        "customer_id": customer.id,
        "call_id": call_id,
        "started_at": "2026-12-06T09:00:00+09:00",
        "duration": 125,
        "direction": "in",
        "notes": "환불 진행 상황 문의",
        "outcome": "resolved",
    }

    made = client.post("/api/v1/care/calls", json=body, headers=tenant.key("agent"))
    repeated = client.post("/api/v1/care/calls", json=body, headers=tenant.key("agent"))
    wrong_inbox = client.post(
        "/api/v1/care/calls", json=body | {"inbox_id": 2**31 - 1}, headers=tenant.api
    )
    viewer = client.post("/api/v1/care/calls", json=body, headers=tenant.key("viewer"))

    assert made.status_code == 201, made.text
    assert (made.json()["status"], repeated.json()["status"]) == ("stored", "duplicate")
    assert wrong_inbox.status_code == 404
    assert viewer.status_code == 403
    conversation = session.get(Conversation, made.json()["conversation_id"])
    assert conversation is not None
    assert (conversation.customer_id, conversation.status) == (customer.id, "resolved")


def test_an_agent_logs_a_call_on_the_customer_page(
    client: TestClient, session: Session, tenant: Tenant, phone_inbox: int
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, phone="010-5555-1234")
    user: User = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    session.flush()
    assert login(client, user.email).status_code == 303

    page = get(client, f"/customers/{customer.id}")
    assert page.status_code == 200
    assert "전화 기록" in text_of(page)
    call_id = re.search(r'name="call_id" value="([^"]+)"', page.text)
    assert call_id is not None
    form = {
        "inbox_id": str(phone_inbox),
        "call_id": call_id.group(1),
        "direction": "out",
        "duration": "3:20",
        "notes": "교환 상품 발송 안내, 고객 동의",
        "outcome": "follow_up",
    }
    logged = post(client, f"/customers/{customer.id}/calls", form)
    twice = post(client, f"/customers/{customer.id}/calls", form)
    bad = post(client, f"/customers/{customer.id}/calls", form | {"duration": "3:75"})

    assert logged.status_code == 303 and logged.headers["location"].endswith("#care")
    [message] = call_messages(session, tenant.id, f"web:{call_id.group(1)}")
    assert (message.direction, message.author, message.author_user_id) == ("out", "agent", user.id)
    assert message.details["call"]["duration"] == 200
    assert message.body_text == "교환 상품 발송 안내, 고객 동의"
    after = get(client, f"/customers/{customer.id}")
    assert flashes(after) == [
        ("success", f"통화를 기록했습니다 (대화 #{message.conversation_id})."),
        ("success", f"이 통화는 이미 기록되어 있습니다 (대화 #{message.conversation_id})."),
        ("error", "통화 시간은 3:20처럼 분:초로, 또는 분 단위 숫자로 입력하세요."),
    ]
    # The call is in the customer's conversations and on their timeline.
    shown = text_of(after)
    assert "발신 전화 3:20 · 후속 조치 필요" in shown
    assert f'href="/inbox/{message.conversation_id}"' in after.text
    assert twice.status_code == 303
    in_inbox = text_of(get(client, f"/inbox/{message.conversation_id}"))
    assert "상담원이 걸었음(발신) 3:20 후속 조치 필요" in in_inbox
    timeline = session.scalars(
        select(Event).where(
            Event.workspace_id == tenant.id,
            Event.customer_id == customer.id,
            Event.name == "Conversation Message Received",
        )
    ).all()
    assert [(e.channel, e.properties["message_id"]) for e in timeline] == [("phone", message.id)]
    assert bad.status_code == 303


def test_a_viewer_sees_no_call_form_and_cannot_post_one(
    client: TestClient, session: Session, tenant: Tenant, phone_inbox: int
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, phone="010-5555-9876")
    user = make_user(session, workspace=tenant.workspace, role="viewer")
    session.flush()
    assert login(client, user.email).status_code == 303

    page = get(client, f"/customers/{customer.id}")
    posted = post(
        client,
        f"/customers/{customer.id}/calls",
        {"inbox_id": str(phone_inbox), "call_id": "x", "duration": "1", "outcome": "resolved"},
    )

    assert page.status_code == 200 and "/calls" not in page.text
    assert posted.status_code == 403
    assert call_messages(session, tenant.id, "web:x") == []
