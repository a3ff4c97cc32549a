"""The chat widget's calls: a visitor's session continues their analytics profile, messages
are stored once however often the widget retries, the visitor sees replies but never notes,
hostile calls are refused before anything is stored, out of hours the visitor leaves a way to
be answered, and replies reach an open stream live."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.widget_identity import identity_secret, user_hash
from cxloop.care import service as care
from cxloop.care import sla
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.models import Conversation, ConversationMessage, Identity
from tests.factories import Tenant, make_customer, make_user, unique

ALWAYS_OPEN = [[[0, 1440]]] * 7


def owner(tenant: Tenant) -> Principal:
    user = make_user(tenant._session, workspace=tenant.workspace, role="owner")
    return Principal(workspace_id=tenant.id, role="owner", user_id=user.id, label=user.email)


def chat_inbox(session: Session, tenant: Tenant, *, weekly: Any = ALWAYS_OPEN) -> int:
    principal = owner(tenant)
    inbox = care.create_inbox(session, principal=principal, name="웹 채팅", channel="chat").inbox
    sla.set_hours(session, workspace_id=tenant.id, team="", weekly=weekly, public_holidays=False)
    return inbox.id


def start(client: TestClient, tenant: Tenant, inbox_id: int, **extra: Any) -> dict[str, Any]:
    body = {
        "writeKey": tenant.write_secret,
        "inbox": inbox_id,
        "anonymousId": unique("anon"),
        **extra,
    }
    response = client.post("/chat/v1/session", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def say(client: TestClient, token: str, text: str, client_id: str | None = None, **extra: Any):  # type: ignore[no-untyped-def]
    return client.post(
        "/chat/v1/messages",
        json={"text": text, "clientId": client_id or str(uuid.uuid4()), **extra},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_visitor_chats_under_their_analytics_profile_and_a_retry_is_stored_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    inbox_id = chat_inbox(session, tenant)
    anonymous_id = unique("anon")
    opened = start(client, tenant, inbox_id, anonymousId=anonymous_id, locale="ko")
    assert opened["open"] is True
    assert opened["conversation"] is None and opened["messages"] == []
    assert opened["labels"]["send"] == "보내기"

    client_id = str(uuid.uuid4())
    first = say(client, opened["token"], "주문한 상품 어디쯤 왔나요?", client_id)
    again = say(client, opened["token"], "주문한 상품 어디쯤 왔나요?", client_id)
    assert first.status_code == 201, first.text
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]

    conversation = session.get(Conversation, first.json()["conversation"])
    assert conversation is not None
    assert (conversation.channel, conversation.status, conversation.inbox_id) == (
        "chat",
        "open",
        inbox_id,
    )
    count = session.scalar(
        select(func.count()).where(ConversationMessage.conversation_id == conversation.id)
    )
    assert count == 1
    identity = session.scalar(
        select(Identity).where(
            Identity.workspace_id == tenant.id,
            Identity.kind == "anonymous_id",
            Identity.value == anonymous_id,
        )
    )
    assert identity is not None and identity.customer_id == conversation.customer_id


def test_the_visitor_sees_replies_but_never_notes_and_resumes_with_their_token(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    inbox_id = chat_inbox(session, tenant)
    opened = start(client, tenant, inbox_id)
    sent = say(client, opened["token"], "환불 문의입니다").json()
    conversation = session.get(Conversation, sent["conversation"])
    assert conversation is not None
    agent = owner(tenant)
    care.add_note(session, conversation=conversation, principal=agent, text="VIP 고객, 내부 메모")
    reply = care.reply(session, conversation=conversation, principal=agent, text="확인해 드릴게요")
    session.flush()
    assert reply.outbound_message_id is None  # a chat reply goes to the widget, not the outbox

    caught_up = client.get(
        f"/chat/v1/messages?after={sent['message']['id']}",
        headers={"Authorization": f"Bearer {opened['token']}"},
    ).json()
    assert [(m["from"], m["text"]) for m in caught_up["messages"]] == [("agent", "확인해 드릴게요")]

    resumed = start(client, tenant, inbox_id, token=opened["token"])
    assert resumed["conversation"] == conversation.id
    assert [m["text"] for m in resumed["messages"]] == ["환불 문의입니다", "확인해 드릴게요"]


def test_an_anonymous_id_that_names_a_person_reaches_their_chats_only_with_the_signed_user_id(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    inbox_id = chat_inbox(session, tenant)
    user_id, anonymous_id = unique("user"), unique("anon")
    person = make_customer(
        session, workspace=tenant.workspace, email=f"{unique('p')}@example.com", user_id=user_id
    )
    session.add(
        Identity(
            workspace_id=tenant.id, customer_id=person.id, kind="anonymous_id", value=anonymous_id
        )
    )
    session.flush()
    signed = user_hash(identity_secret(tenant.workspace, settings=settings), user_id)
    theirs = start(
        client, tenant, inbox_id, anonymousId=anonymous_id, userId=user_id, userHash=signed
    )
    assert theirs["verified"] is True
    said = say(client, theirs["token"], "제 주문 확인 부탁해요").json()
    conversation = session.get(Conversation, said["conversation"])
    assert conversation is not None and conversation.customer_id == person.id

    for forged in ({"userId": user_id, "userHash": "0" * 64}, {}):
        copied = start(client, tenant, inbox_id, anonymousId=anonymous_id, **forged)
        assert copied["verified"] is False
        assert copied["conversation"] is None and copied["messages"] == []
        stranger = say(client, copied["token"], "안녕하세요").json()
        other = session.get(Conversation, stranger["conversation"])
        assert other is not None and other.customer_id != person.id


@pytest.mark.parametrize(
    ("case", "call", "status"),
    [
        (
            "no token",
            lambda c, t, i: c.post("/chat/v1/messages", json={"text": "x", "clientId": "12345678"}),
            401,
        ),
        (
            "forged token",
            lambda c, t, i: c.get(
                "/chat/v1/messages", headers={"Authorization": "Bearer abc.def.ghi"}
            ),
            401,
        ),
        (
            "unknown write key",
            lambda c, t, i: c.post("/chat/v1/session", json={"writeKey": "wk_nope", "inbox": i}),
            401,
        ),
        (
            "another workspace's inbox",
            lambda c, t, i: c.post(
                "/chat/v1/session", json={"writeKey": t.write_secret, "inbox": i + 10_000}
            ),
            404,
        ),
        (
            "body over 16 KB",
            lambda c, t, i: c.post(
                "/chat/v1/session",
                content=b'{"writeKey": "' + b"x" * 20_000 + b'"}',
                headers={"Content-Type": "application/json"},
            ),
            422,
        ),
        (
            "not JSON",
            lambda c, t, i: c.post(
                "/chat/v1/session", content=b"<xml/>", headers={"Content-Type": "application/json"}
            ),
            422,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_hostile_calls_are_refused_with_a_problem_and_store_nothing(
    client: TestClient, session: Session, tenant: Tenant, case: str, call: Any, status: int
) -> None:
    inbox_id = chat_inbox(session, tenant)
    response = call(client, tenant, inbox_id)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["access-control-allow-origin"] == "*"
    stored = session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.workspace_id == tenant.id)
    )
    assert stored == 0


def test_an_email_inbox_is_no_chat_and_overlong_text_is_refused(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    email_inbox = care.create_inbox(session, principal=owner(tenant), name="메일").inbox
    response = client.post(
        "/chat/v1/session", json={"writeKey": tenant.write_secret, "inbox": email_inbox.id}
    )
    assert response.status_code == 404
    opened = start(client, tenant, chat_inbox(session, tenant))
    too_long = say(client, opened["token"], "가" * 5001)
    assert too_long.status_code == 422
    assert too_long.json()["errors"] == [{"field": "text", "message": "at most 5,000 characters"}]


def test_out_of_hours_the_visitor_leaves_a_contact_kept_on_the_message(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    closed_all_week: list[list[list[int]]] = [[] for _ in range(7)]
    inbox_id = chat_inbox(session, tenant, weekly=closed_all_week)
    opened = start(client, tenant, inbox_id, locale="en")
    assert opened["open"] is False
    assert opened["labels"]["closed"] == "We're away now"
    bad = say(client, opened["token"], "Where is my order?", email="not-an-address")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "email", "message": "not a valid email address"}]
    good = say(
        client, opened["token"], "Where is my order?", name=" Kim  Minji ", phone="010-1234-5678"
    )
    assert good.status_code == 201, good.text
    message = session.get(ConversationMessage, good.json()["message"]["id"])
    assert message is not None
    assert message.details == {"left_contact": {"name": "Kim Minji", "phone": "+821012345678"}}


def test_a_reply_reaches_the_visitors_open_stream_live(
    live_server: str, database: Database
) -> None:
    with database.session() as session:
        tenant = Tenant(session)
        inbox_id = chat_inbox(session, tenant)
        agent = owner(tenant)
        write_key = tenant.write_secret
    with httpx.Client(base_url=live_server, timeout=10) as http:
        opened = http.post(
            "/chat/v1/session",
            json={"writeKey": write_key, "inbox": inbox_id, "anonymousId": unique("anon")},
        ).json()
        token = opened["token"]
        sent = http.post(
            "/chat/v1/messages",
            json={"text": "배송 언제 오나요?", "clientId": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        events: list[tuple[str, dict[str, Any]]] = []
        ready = threading.Event()

        def listen() -> None:
            with httpx.stream(
                "GET", f"{live_server}/chat/v1/stream?token={token}", timeout=10
            ) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                name = ""
                for line in stream.iter_lines():
                    if line.startswith("retry:"):
                        ready.set()
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line[6:])))
                        return

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        assert ready.wait(10), "the stream did not open"
        with database.session() as session:
            conversation = session.get(Conversation, sent["conversation"])
            assert conversation is not None
            care.reply(
                session, conversation=conversation, principal=agent, text="내일 도착 예정입니다"
            )
        thread.join(10)
    assert len(events) == 1
    name, data = events[0]
    assert name == "message"
    assert data["conversation"] == sent["conversation"]
    assert (data["message"]["from"], data["message"]["text"]) == ("agent", "내일 도착 예정입니다")
