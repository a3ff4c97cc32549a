"""What the channel intakes share: where each kind of inbox is posted to (its webhook path, the
inbox's secret token at the end; a phone inbox takes imports and calls logged by agents), the
profile of whoever wrote, found or made by their identity on the channel, and what erasing
that profile forgets of their addresses on the channels."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cxloop.core.db import rowcount
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    CareInbox,
    CareWebhookEvent,
    Conversation,
    Customer,
    TalkTalkThread,
    Workspace,
)
from cxloop.profiles import service as profiles
from cxloop.profiles.activity import survivor_of

HOOK_PATHS = {
    "email": "/hooks/email/",
    "talktalk": "/hooks/naver-talktalk/",
    "kakao": "/hooks/kakao/",  # the KakaoTalk chatbot's skill (help bot)
    "social": "/hooks/social/",
    "review": "/hooks/social/",
}


def webhook_path(channel: str, token: str) -> str:
    """The path an inbox of ``channel`` is posted to, or "" when it takes no webhook."""
    prefix = HOOK_PATHS.get(channel)
    return f"{prefix}{token}" if prefix else ""


def customer_for(session: Session, *, inbox: CareInbox, kind: str, value: str) -> Customer:
    """The live profile holding identity ``kind`` = ``value`` in the inbox's workspace, made
    when there is none (a merged profile's survivor when it was merged)."""
    workspace = session.get(Workspace, inbox.workspace_id)
    assert workspace is not None
    customer = profiles.create_customer(
        session,
        workspace=workspace,
        principal=None,
        traits={},
        identities=[(kind, value)],
        source=f"care:{inbox.channel}",
    )
    return survivor_of(session, customer) or customer


def forget_channel_contacts(session: Session, customer: Customer) -> dict[str, int]:
    """Erasure: the customer's addresses on their conversations' channels are blanked, their
    TalkTalk threads forgotten, and any of their TalkTalk events not read yet emptied (each
    count reported when there was something to remove)."""
    mine = (
        Conversation.workspace_id == customer.workspace_id,
        Conversation.customer_id == customer.id,
    )
    users = [
        c
        for c in session.scalars(
            select(Conversation.contact).where(*mine, Conversation.channel == "talktalk")
        )
        if c
    ]
    threads = events = 0
    if users:
        threads = rowcount(
            session.execute(
                delete(TalkTalkThread).where(
                    TalkTalkThread.workspace_id == customer.workspace_id,
                    TalkTalkThread.user_key.in_(users),
                )
            )
        )
        for user in users:
            events += rowcount(
                session.execute(
                    update(CareWebhookEvent)
                    .where(
                        CareWebhookEvent.workspace_id == customer.workspace_id,
                        CareWebhookEvent.processed_at.is_(None),
                        CareWebhookEvent.payload.contains(f'"{user}"', autoescape=True),
                    )
                    .values(payload="", processed_at=utcnow(), problem="erased")
                    .execution_options(synchronize_session=False)
                )
            )
    contacts = rowcount(
        session.execute(
            update(Conversation)
            .where(*mine, Conversation.contact != "")
            .values(contact="")
            .execution_options(synchronize_session=False)
        )
    )
    counts = {
        "conversation_contacts_blanked": contacts,
        "talktalk_threads_deleted": threads,
        "webhook_events_emptied": events,
    }
    return {name: n for name, n in counts.items() if n}  # the erase report lists what there was
