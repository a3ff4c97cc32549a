"""Conversations follow their customer: moved on a merge, included in a data-subject export,
and emptied of what the person wrote and what was written to them on erasure (status, times
and assignment stay for the team's figures)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.care.attachments import attachments_by_message, erase_conversations
from cxloop.core.db import rowcount
from cxloop.models import Conversation, ConversationMessage, Customer
from cxloop.profiles import identity


def move_conversations_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    return identity.move_customer_rows(
        session, (Conversation,), workspace_id, survivor_id, merged_id
    )


def _conversation_ids(session: Session, customer: Customer) -> list[int]:
    return list(
        session.scalars(
            select(Conversation.id)
            .where(
                Conversation.workspace_id == customer.workspace_id,
                Conversation.customer_id == customer.id,
            )
            .order_by(Conversation.id)
        )
    )


def export_conversations(session: Session, customer: Customer) -> dict[str, Any]:
    ids = _conversation_ids(session, customer)
    conversations = {
        c.id: c for c in session.scalars(select(Conversation).where(Conversation.id.in_(ids)))
    }
    messages = session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.conversation_id.in_(ids),
            ConversationMessage.direction != "note",  # the team's notes are not the customer's data
        )
        .order_by(ConversationMessage.id)
    ).all()
    by_conversation: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    files = attachments_by_message(
        session, workspace_id=customer.workspace_id, message_ids=[m.id for m in messages]
    )
    for m in messages:
        by_conversation[m.conversation_id].append(
            {
                "direction": m.direction,
                "author": m.author,
                "subject": m.subject,
                "text": m.body_text,
                "created_at": m.created_at,
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in files.get(m.id, [])
                ],
            }
        )
    return {
        "conversations": [
            {
                "channel": conversations[i].channel,
                "subject": conversations[i].subject,
                "status": conversations[i].status,
                "created_at": conversations[i].created_at,
                "messages": by_conversation[i],
            }
            for i in ids
        ]
    }


def scrub_conversations(session: Session, customer: Customer) -> dict[str, int]:
    """Blank every message's words, subject and raw form in the customer's conversations,
    notes included (they quote and describe the person), and delete their files."""
    ids = _conversation_ids(session, customer)
    if not ids:
        return {"conversations_scrubbed": 0, "conversation_messages_scrubbed": 0}
    files = erase_conversations(session, workspace_id=customer.workspace_id, conversation_ids=ids)
    scrubbed = rowcount(
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.conversation_id.in_(ids))
            .values(subject="", body_text="", body_html="", raw="", thread_ids=[], details={})
            .execution_options(synchronize_session=False)
        )
    )
    session.execute(
        update(Conversation)
        .where(Conversation.id.in_(ids))
        .values(subject="", tags=[])
        .execution_options(synchronize_session=False)
    )
    return {
        "conversations_scrubbed": len(ids),
        "conversation_messages_scrubbed": scrubbed,
        **({"conversation_attachments_deleted": files} if files else {}),
    }
