"""A customer's message joins their timeline and is analysed in the background (sentiment,
categories, language); strong anger from a valuable customer raises the conversation's
priority and tells the team, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import intake
from cxloop.care import service as care
from cxloop.care.texts import (
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    SOURCE,
    conversation_message_analysis,
)
from cxloop.channels.adapters import Inbound
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Customer,
    Event,
    Notification,
    TextAnalysis,
)
from tests.factories import Tenant, make_user

ANGRY = "정말 최악이에요. 배송이 2주째 안 오고 상담원은 연락도 없네요. 다시는 안 삽니다."
THANKS = "빠르게 처리해 주셔서 정말 감사합니다. 상담원분이 친절하셨어요!"


def inbox_of(session: Session, tenant: Tenant) -> CareInbox:
    principal = Principal(workspace_id=tenant.id, role="owner", label="test")
    return care.create_inbox(session, principal=principal, name="고객센터", team="support").inbox


def write(session: Session, inbox: CareInbox, text: str, number: int = 1, **headers: str) -> int:
    received = intake.receive_email(
        session,
        inbox=inbox,
        mail=Inbound(
            channel="email",
            sender="minji@example.com",
            sender_name="김민지",
            recipient="help@shop.example",
            subject="배송 문의",
            text=text,
            html="",
            provider_message_id=f"<t{number}@mail.example.com>",
            headers=headers,
        ),
    )
    assert received is not None
    return received.conversation.id


def analyse(session: Session, tenant: Tenant) -> list[Event]:
    """Run the consumer on the workspace's message events, as the bus would."""
    logged = list(
        session.scalars(
            select(Event).where(Event.workspace_id == tenant.id, Event.name == MESSAGE_RECEIVED)
        )
    )
    conversation_message_analysis.handle(session, logged)
    return logged


def spent(session: Session, tenant: Tenant, revenue: int) -> None:
    customer = session.scalars(
        select(Customer).where(
            Customer.workspace_id == tenant.id, Customer.email == "minji@example.com"
        )
    ).one()
    customer.total_revenue = Decimal(revenue)
    session.flush()


@pytest.mark.parametrize(
    ("revenue", "priority", "told"),
    [(1_200_000, "high", 1), (20_000, "normal", 0)],
    ids=["valuable-customer", "small-customer"],
)
def test_strong_anger_from_a_valuable_customer_raises_the_priority(
    session: Session, tenant: Tenant, revenue: int, priority: str, told: int
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    inbox = inbox_of(session, tenant)
    write(session, inbox, "주문 확인 부탁드려요", number=0)
    spent(session, tenant, revenue)
    conversation_id = write(session, inbox, ANGRY)

    analyse(session, tenant)
    analyse(session, tenant)  # a replay changes nothing

    analysis = session.scalars(
        select(TextAnalysis)
        .where(TextAnalysis.workspace_id == tenant.id, TextAnalysis.source_type == SOURCE)
        .order_by(TextAnalysis.source_id.desc())
    ).first()
    assert analysis is not None and analysis.sentiment == "negative"
    conversation = care.get_conversation(
        session, workspace_id=tenant.id, conversation_id=conversation_id
    )
    assert conversation.priority == priority
    notices = session.scalars(
        select(Notification).where(
            Notification.user_id == owner.id, Notification.kind == "care_angry_customer"
        )
    ).all()
    assert len(notices) == told


def test_a_message_joins_the_timeline_and_thanks_stay_calm(
    session: Session, tenant: Tenant
) -> None:
    inbox = inbox_of(session, tenant)
    spent_later = write(session, inbox, THANKS)
    spent(session, tenant, 5_000_000)

    [event] = analyse(session, tenant)

    assert event.properties["conversation_id"] == spent_later
    assert set(event.properties) == {"conversation_id", "message_id", "inbox_id"}  # no words
    analysis = session.scalars(
        select(TextAnalysis).where(
            TextAnalysis.workspace_id == tenant.id, TextAnalysis.source_type == SOURCE
        )
    ).one()
    assert analysis.sentiment == "positive"
    assert (
        care.get_conversation(session, workspace_id=tenant.id, conversation_id=spent_later).priority
        == "normal"
    )


def test_automatic_mail_is_not_on_the_timeline(session: Session, tenant: Tenant) -> None:
    inbox = inbox_of(session, tenant)
    write(session, inbox, "문의드립니다", number=1)
    write(session, inbox, "부재중입니다", number=2, **{"Auto-Submitted": "auto-replied"})

    assert len(analyse(session, tenant)) == 1


def test_the_teams_reply_joins_the_timeline_and_a_note_does_not(
    session: Session, tenant: Tenant
) -> None:
    inbox = inbox_of(session, tenant)
    conversation = session.get(Conversation, write(session, inbox, "배송 언제 오나요?"))
    assert conversation is not None
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    principal = Principal(workspace_id=tenant.id, role="agent", user_id=agent.id, label="agent")
    reply = care.reply(
        session, conversation=conversation, principal=principal, text="내일 도착해요"
    )
    care.add_note(session, conversation=conversation, principal=principal, text="택배사 확인함")
    logged = session.execute(
        select(Event.name, Event.properties)
        .where(Event.workspace_id == tenant.id, Event.customer_id == conversation.customer_id)
        .where(Event.name.in_((MESSAGE_RECEIVED, MESSAGE_SENT)))
        .order_by(Event.id)
    ).all()
    assert [name for name, _ in logged] == [MESSAGE_RECEIVED, MESSAGE_SENT]
    assert logged[1][1] == {
        "conversation_id": conversation.id,
        "message_id": reply.id,
        "inbox_id": inbox.id,
        "author": "agent",
    }


def test_an_old_angry_message_analysed_late_raises_no_alarm(
    session: Session, tenant: Tenant
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    inbox = inbox_of(session, tenant)
    conversation_id = write(session, inbox, ANGRY)
    spent(session, tenant, 1_200_000)
    message = session.scalars(
        select(ConversationMessage).where(ConversationMessage.conversation_id == conversation_id)
    ).one()
    message.created_at = utcnow() - timedelta(days=3)  # imported, or analysed long after
    session.flush()

    analyse(session, tenant)

    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None and conversation.priority == "normal"
    told = session.scalars(
        select(Notification).where(
            Notification.user_id == owner.id, Notification.kind == "care_angry_customer"
        )
    ).all()
    assert told == []
