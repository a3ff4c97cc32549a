"""Read receipts of the web chat: the widget says up to which message the visitor has seen the
team's replies, and each reply of the visitor's latest conversation up to it keeps the time it
was read (``details["read_at"]``, ISO 8601 UTC), which the inbox shows beside it. Only the
team's messages (direction "out") of the visitor's own conversation are marked, each once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import chat, live
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, ConversationMessage

BATCH = 100  # replies marked at most per call (the widget shows the latest 100 messages)


def read_at(message: ConversationMessage) -> datetime | None:
    """When the visitor read this reply of the team, if they did (a chat reply only)."""
    value = (message.details or {}).get("read_at") if message.direction == "out" else None
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def mark_read(
    session: Session,
    *,
    visitor: chat.Visitor,
    inbox: CareInbox,
    up_to: int,
    now: datetime | None = None,
) -> int:
    """Mark the team's replies in the visitor's latest conversation up to message ``up_to`` as
    read now; how many were newly marked. Agents' screens hear of it."""
    customer = chat.customer_of(session, visitor)
    conversation = chat.latest_conversation(session, inbox, customer)
    if conversation is None:
        return 0
    replies = session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.workspace_id == conversation.workspace_id,
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.direction == "out",
            ConversationMessage.id <= up_to,
        )
        .order_by(ConversationMessage.id.desc())
        .limit(BATCH)
    )
    at = (now or utcnow()).isoformat()
    marked = 0
    for reply in replies:
        if (reply.details or {}).get("read_at"):
            break  # read before, and so was every earlier reply
        reply.details = {**(reply.details or {}), "read_at": at}
        marked += 1
    if marked:
        session.flush()
        live.conversation_changed(session, conversation, "read")
    return marked
