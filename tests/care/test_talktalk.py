"""Naver TalkTalk end to end: the partner webhook (only at an inbox's secret address, size-limited)
stores each event before it answers and takes a user's message into their conversation on a
profile with a ``talktalk`` identity; a replay stores one message; an agent's reply goes once to
a local server speaking the chat bot send API (partner token checked) and TalkTalk's echo marks
it delivered; handover, leave, open and friend become notes, thread ownership and profile
facts; an event that could not be read is kept and read again by the job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.care import talktalk
from cxloop.channels import tasks as channel_tasks
from cxloop.channels.adapters import NotUnderstood, Outgoing, SendFailure
from cxloop.channels.naver_talktalk import TalkTalkSession, read_event
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    CareInbox,
    CareWebhookEvent,
    ConsentRecord,
    Conversation,
    ConversationMessage,
    Customer,
    Identity,
    OutboundMessage,
    TalkTalkThread,
)
from cxloop.profiles import service as profiles
from tests.factories import Tenant, unique
from tests.helpers.talktalk import PARTNER_TOKEN, FakeTalkTalk


@pytest.fixture
def fake_talktalk() -> Iterator[FakeTalkTalk]:
    server = FakeTalkTalk()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": "네이버 톡톡", "channel": "talktalk", "team": "chat"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    path: str = made.json()["webhook_path"]
    assert path.startswith("/hooks/naver-talktalk/")
    return path


def user_key() -> str:
    return unique("al-2eGuGr5WQ").replace(":", "_")


def send(user: str, text: str, **extra: Any) -> dict[str, Any]:
    event = {"event": "send", "user": user, "textContent": {"text": text, "inputType": "typing"}}
    return event | extra


def post(client: TestClient, hook: str, event: dict[str, Any] | bytes) -> str:
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    response = client.post(
        hook, content=body, headers={"Content-Type": "application/json;charset=UTF-8"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b""  # TalkTalk would send a JSON answer to the user
    return response.headers["X-Cxloop-Result"]


def conversations_of(session: Session, user: str) -> list[Conversation]:
    return list(
        session.scalars(
            select(Conversation).where(Conversation.contact == user).order_by(Conversation.id)
        )
    )


def messages_of(session: Session, conversation: Conversation) -> list[ConversationMessage]:
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation.id)
            .order_by(ConversationMessage.id)
        )
    )


def events_of(session: Session, body: bytes) -> int:
    """How many stored events hold exactly ``body`` (by its hash: a read one is emptied)."""
    digest = hashlib.sha256(body).hexdigest()
    return int(
        session.scalar(
            select(func.count())
            .select_from(CareWebhookEvent)
            .where(CareWebhookEvent.body_hash == digest)
        )
        or 0
    )


def test_a_users_message_becomes_a_conversation_on_their_profile(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    user = user_key()
    text = "주문한 무선 이어폰 배송이 언제 되나요?"

    outcome = post(client, hook, send(user, text))

    assert outcome == "stored"
    [conversation] = conversations_of(session, user)
    assert (conversation.workspace_id, conversation.channel, conversation.status) == (
        tenant.id,
        "talktalk",
        "open",
    )
    [message] = messages_of(session, conversation)
    assert (message.direction, message.author, message.body_text) == (
        "in",
        "customer",
        "주문한 무선 이어폰 배송이 언제 되나요?",
    )
    assert message.details == {"talktalk": {"input_type": "typing"}}
    identity = session.scalar(
        select(Identity).where(Identity.workspace_id == tenant.id, Identity.kind == "talktalk")
    )
    assert identity is not None and identity.value == user
    assert identity.customer_id == conversation.customer_id
    [stored] = session.scalars(
        select(CareWebhookEvent).where(CareWebhookEvent.inbox_id == conversation.inbox_id)
    ).all()
    assert stored.processed_at is not None and stored.attempts == 1
    # Read into the conversation, the stored body is emptied; its hash finds replays.
    assert stored.payload == ""
    sent = json.dumps(send(user, text), ensure_ascii=False).encode()
    assert stored.body_hash == hashlib.sha256(sent).hexdigest()
    # The next message joins the same conversation; an image comes as its address.
    image = {
        "event": "send",
        "user": user,
        "imageContent": {"imageUrl": "https://talk.example/1.jpg"},
    }
    assert post(client, hook, image) == "stored"
    [same] = conversations_of(session, user)
    assert [m.body_text for m in messages_of(session, same)][1] == "https://talk.example/1.jpg"


def test_a_replayed_event_stores_one_message_and_a_later_repeat_is_a_new_one(
    client: TestClient, session: Session, hook: str
) -> None:
    user = user_key()
    body = json.dumps(send(user, "네")).encode()

    first = post(client, hook, body)
    again = post(client, hook, body)

    assert (first, again) == ("stored", "replay")
    [conversation] = conversations_of(session, user)
    assert len(messages_of(session, conversation)) == 1
    assert events_of(session, body) == 1
    # The same words two minutes later are the customer saying them again.
    inbox = session.get(CareInbox, conversation.inbox_id)
    assert inbox is not None
    later = talktalk.take_event(
        session, inbox=inbox, payload=body, now=utcnow() + 2 * talktalk.REPLAY_WINDOW
    )
    assert later.outcome == "stored"
    assert [m.body_text for m in messages_of(session, conversation)] == ["네", "네"]


@pytest.mark.parametrize("which", ["unknown token", "an email inbox's token"])
def test_an_address_cxloop_did_not_give_out_is_401_and_nothing_is_stored(
    client: TestClient, session: Session, tenant: Tenant, which: str
) -> None:
    token = "not-a-token-" + unique("t")
    if which != "unknown token":
        made = client.post(
            "/api/v1/care/inboxes", json={"name": "메일", "channel": "email"}, headers=tenant.api
        )
        token = made.json()["webhook_path"].removeprefix("/hooks/email/")
    user = user_key()

    body = json.dumps(send(user, "안녕하세요")).encode()

    response = client.post(
        f"/hooks/naver-talktalk/{token}", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert events_of(session, body) == 0
    assert conversations_of(session, user) == []


def test_an_oversized_event_is_refused_before_it_is_read(
    client: TestClient, session: Session, hook: str
) -> None:
    user = user_key()
    body = json.dumps(send(user, "가" * 30_000), ensure_ascii=False).encode()
    assert len(body) > 64 * 1024

    response = client.post(hook, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert events_of(session, body) == 0


def test_an_event_that_is_not_talktalks_json_is_kept_raw_for_the_agents(
    client: TestClient, session: Session, hook: str
) -> None:
    marker = unique("broken-")

    outcome = post(client, hook, f"{{not json {marker}".encode())

    assert outcome == "unreadable"
    message = session.scalar(
        select(ConversationMessage).where(ConversationMessage.raw.contains(marker))
    )
    assert message is not None and message.problem == "TalkTalk: The event is not JSON."
    stored = session.scalar(
        select(CareWebhookEvent).where(CareWebhookEvent.payload.contains(marker))
    )
    assert stored is not None and stored.processed_at is not None


def test_an_event_left_unread_is_read_again_by_the_job(
    client: TestClient, session: Session, hook: str
) -> None:
    """As if reading failed after the event was stored and acknowledged: the job takes it."""
    user = user_key()
    post(client, hook, send(user, "첫 메시지"))
    [conversation] = conversations_of(session, user)
    payload = json.dumps(send(user, "저장만 되고 읽히지 않은 메시지"), ensure_ascii=False)
    stuck = CareWebhookEvent(
        workspace_id=conversation.workspace_id,
        inbox_id=conversation.inbox_id,
        channel="talktalk",
        body_hash=hashlib.sha256(payload.encode()).hexdigest(),
        payload=payload,
        received_at=utcnow() - timedelta(minutes=5),
        attempts=1,
        problem="OperationalError: database is locked",
    )
    session.add(stuck)
    session.flush()

    read = talktalk.retry_pending(session)
    again = talktalk.retry_pending(session)

    assert read >= 1 and again == 0
    assert stuck.processed_at is not None and (stuck.attempts, stuck.problem) == (2, "")
    assert [m.body_text for m in messages_of(session, conversation)] == [
        "첫 메시지",
        "저장만 되고 읽히지 않은 메시지",
    ]


def test_an_agents_reply_reaches_talktalk_once_and_the_echo_marks_it_delivered(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    settings: Settings,
    fake_talktalk: FakeTalkTalk,
) -> None:
    user = user_key()
    post(client, hook, send(user, "환불은 언제 되나요?"))
    [conversation] = conversations_of(session, user)

    replied = client.post(
        f"/api/v1/care/conversations/{conversation.id}/replies",
        json={"text": "안녕하세요, 김민지 고객님. 환불은 오늘 처리되었습니다."},
        headers=tenant.api,
    )
    assert replied.status_code == 201, replied.text
    provider = fake_talktalk.settings(settings)
    first = channel_tasks.deliver_outbox(tx_database, settings=provider)
    second = channel_tasks.deliver_outbox(tx_database, settings=provider)

    assert (first.sent, second.sent) == (1, 0)
    [request] = [r for r in fake_talktalk.received if r.body.get("user") == user]
    assert request.path == "/chatbot/v1/event"
    assert request.headers["Authorization"] == PARTNER_TOKEN
    assert request.body == {
        "event": "send",
        "user": user,
        "textContent": {"text": "안녕하세요, 김민지 고객님. 환불은 오늘 처리되었습니다."},
        "options": {"notification": True},
    }
    sent = session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == tenant.id, OutboundMessage.recipient == user
        )
    )
    assert sent is not None
    session.refresh(sent)
    assert (sent.channel, sent.status) == ("talktalk", "sent")
    assert sent.provider_message_id == f"talktalk-{sent.id}"

    echo = {
        "event": "echo",
        "echoedEvent": "send",
        "user": user,
        "partner": "wc8b1i",
        "textContent": {"text": "안녕하세요, 김민지 고객님. 환불은 오늘 처리되었습니다."},
        "options": {"mobile": False, "sourceId": 10007},
    }
    assert post(client, hook, echo) == "delivered"
    session.refresh(sent)
    assert sent.status == "delivered"


def test_a_refused_partner_token_is_retried_and_a_refused_event_is_final(
    session: Session, tenant: Tenant, fake_talktalk: FakeTalkTalk, settings: Settings
) -> None:
    user = user_key()
    outgoing = Outgoing(message_id=7, channel="talktalk", recipient=user, subject="", text="네")

    with (
        TalkTalkSession(fake_talktalk.settings(settings, token="ct_wrong")) as wrong,
        pytest.raises(SendFailure) as refused,
    ):
        wrong.send(outgoing)
    with TalkTalkSession(fake_talktalk.settings(settings)) as right:
        with pytest.raises(SendFailure) as too_long:
            right.send(Outgoing(7, "talktalk", user, "", "가" * 10_001))
        delivered = right.send(outgoing)

    assert refused.value.transient and "01" in refused.value.reason
    assert not too_long.value.transient
    assert delivered.provider_message_id == "talktalk-7"
    assert [r.body["textContent"]["text"] for r in fake_talktalk.received[-1:]] == ["네"]


def test_handover_passes_the_thread_and_tells_the_team(
    client: TestClient, session: Session, hook: str
) -> None:
    user = user_key()
    post(client, hook, send(user, "상담원 연결해 주세요"))
    [conversation] = conversations_of(session, user)
    inbox = session.get(CareInbox, conversation.inbox_id)
    assert inbox is not None
    assert talktalk.thread_owner(session, inbox=inbox, user=user) == "bot"

    to_agent = {
        "event": "handover",
        "user": user,
        "partner": "wc8b1i",
        "options": {"control": "passThread", "targetId": 1},
    }
    assert post(client, hook, to_agent) == "noted"
    assert talktalk.thread_owner(session, inbox=inbox, user=user) == "agent"
    assert post(client, hook, send(user, "아직 기다리고 있어요", standby=True)) == "stored"
    finished = {
        "event": "handover",
        "user": user,
        "partner": "wc8b1i",
        "options": {
            "control": "passThread",
            "metadata": '{"managerNickname":"김상담","autoEnd":false}',
        },
    }
    assert post(client, hook, finished) == "noted"
    assert post(client, hook, {"event": "leave", "user": user}) == "noted"

    assert talktalk.thread_owner(session, inbox=inbox, user=user) == "bot"
    shown = [(m.direction, m.author, m.body_text) for m in messages_of(session, conversation)]
    assert shown == [
        ("in", "customer", "상담원 연결해 주세요"),
        ("note", "system", "톡톡 상담이 상담원에게 넘어왔습니다."),
        ("in", "customer", "아직 기다리고 있어요"),
        ("note", "system", "톡톡 상담이 챗봇에게 넘어갔습니다(상담 완료)."),
        ("note", "system", "고객이 톡톡 채팅방을 나갔습니다. 답장은 알림으로 전달됩니다."),
    ]
    notes = [m for m in messages_of(session, conversation) if m.direction == "note"]
    assert notes[1].details == {
        "talktalk": {
            "event": "handover",
            "control": "passThread",
            "metadata": '{"managerNickname":"김상담","autoEnd":false}',
        }
    }


def test_open_and_friend_events_fill_the_profile_and_the_consent_ledger(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    user = user_key()
    opened = {
        "event": "open",
        "user": user,
        "options": {
            "inflow": "button",
            "referer": "https://smartstore.naver.com/shop/products/309672359",
            "from": "309672359",
            "friend": False,
            "under14": False,
            "under19": True,
        },
    }

    assert post(client, hook, opened) == "profile"
    assert post(client, hook, {"event": "friend", "user": user, "options": {"set": "on"}}) == (
        "profile"
    )

    customer = session.scalar(
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.workspace_id == tenant.id, Identity.kind == "talktalk")
        .where(Identity.value == user)
    )
    assert customer is not None
    assert {k: v for k, v in customer.traits.items() if k.startswith("talktalk_")} == {
        "talktalk_friend": True,
        "talktalk_under14": False,
        "talktalk_under19": True,
    }
    ledger = session.scalars(
        select(ConsentRecord).where(ConsentRecord.customer_id == customer.id)
    ).all()
    assert [(r.purpose, r.channel, r.granted, r.source) for r in ledger] == [
        ("marketing", "talktalk", True, "talktalk_friend")
    ]
    assert conversations_of(session, user) == []  # opening the chat is not a conversation


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "A TalkTalk event is a JSON object with its event name."),
        (b'{"event": "send", "user": "a b"}', "The send event names no valid user."),
        (b'{"event": "send", "user": "al-1"}', "The send event holds neither text nor an image."),
    ],
    ids=["not an object", "user with a space", "send without content"],
)
def test_events_that_are_not_talktalks_are_named_so(body: bytes, reason: str) -> None:
    with pytest.raises(NotUnderstood) as refused:
        read_event(body)
    assert str(refused.value) == reason


def test_erasing_the_customer_forgets_their_talktalk_address_and_thread(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    user = user_key()
    post(client, hook, send(user, "제 정보를 지워 주세요"))
    post(client, hook, {"event": "friend", "user": user, "options": {"set": "on"}})
    [conversation] = conversations_of(session, user)
    customer = session.get(Customer, conversation.customer_id)
    assert customer is not None

    removed = profiles.erase_customer(
        session, principal=accounts.cli_principal(tenant.id), customer=customer
    )

    assert removed["conversation_contacts_blanked"] == 1
    assert removed["talktalk_threads_deleted"] == 1
    session.refresh(conversation)
    assert conversation.contact == ""
    assert session.scalar(select(TalkTalkThread).where(TalkTalkThread.user_key == user)) is None
    assert [m.body_text for m in messages_of(session, conversation)] == [""]


def test_an_event_whose_reading_fails_is_acknowledged_kept_and_read_later(
    client: TestClient, session: Session, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is injected once into reading (as a lost database connection would be): the
    webhook still answers 200 because the raw event was stored, and the job reads it later."""
    user = user_key()
    real = talktalk._message

    def fail_once(*args: Any) -> talktalk.Taken:
        monkeypatch.setattr(talktalk, "_message", real)
        raise RuntimeError("connection to the database was lost")

    monkeypatch.setattr(talktalk, "_message", fail_once)
    body = json.dumps(send(user, "결제가 두 번 됐어요"), ensure_ascii=False).encode()

    outcome = post(client, hook, body)

    assert outcome == "retrying"
    assert conversations_of(session, user) == []
    [stored] = session.scalars(
        select(CareWebhookEvent).where(
            CareWebhookEvent.body_hash == hashlib.sha256(body).hexdigest()
        )
    ).all()
    assert stored.processed_at is None and stored.attempts == 1
    assert stored.problem == "RuntimeError: connection to the database was lost"
    assert talktalk.retry_pending(session, now=utcnow() + talktalk.RETRY_AFTER) >= 1
    [conversation] = conversations_of(session, user)
    assert [m.body_text for m in messages_of(session, conversation)] == ["결제가 두 번 됐어요"]
    assert stored.processed_at is not None and stored.attempts == 2
