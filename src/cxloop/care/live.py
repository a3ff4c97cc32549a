"""What care tells open screens, after commit (core.live): agents' inboxes of a workspace hear
that a conversation changed (a message, a note, a new status) and who is typing where; a chat
visitor's widget hears the replies and typing of its own conversation. Events carry ids and
small facts only; screens reload the rest with their own access checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cxloop.core import live
from cxloop.models import Conversation, ConversationMessage


def agents_topic(workspace_id: int) -> str:
    return f"care:{workspace_id}"


def chat_topic(inbox_id: int, customer_id: int | None) -> str:
    """A chat visitor's topic: their conversations in one chat inbox, the next one included."""
    return f"chat:{inbox_id}:{customer_id}"


def conversation_changed(session: Session, conversation: Conversation, what: str) -> None:
    """Tell the workspace's agents that ``conversation`` changed (``what``: message, note,
    update)."""
    live.after_commit(
        session,
        agents_topic(conversation.workspace_id),
        {"kind": "conversation", "id": conversation.id, "what": what},
    )


def visitor_message(message: ConversationMessage) -> dict[str, Any]:
    """A message as the chat widget shows it (never a note: the widget never gets one)."""
    assert message.direction != "note"
    return {
        "id": message.id,
        "from": "visitor" if message.direction == "in" else message.author,
        "text": message.body_text,
        "at": message.created_at.isoformat() if message.created_at else None,
    }


def message_added(
    session: Session, conversation: Conversation, message: ConversationMessage
) -> None:
    """Tell agents, and for a chat the visitor's widget, of a new message in ``conversation``."""
    conversation_changed(
        session, conversation, "note" if message.direction == "note" else "message"
    )
    if conversation.channel == "chat" and message.direction != "note":
        live.after_commit(
            session,
            chat_topic(conversation.inbox_id, conversation.customer_id),
            {
                "kind": "message",
                "conversation": conversation.id,
                "message": visitor_message(message),
            },
        )


def typing(
    *, workspace_id: int, conversation: Conversation, who: str, name: str, user_id: int | None
) -> None:
    """Someone is writing in ``conversation`` right now (``who``: agent or visitor). Not
    stored: published at once."""
    hub = live.hub()
    data = {"kind": "typing", "id": conversation.id, "who": who, "name": name, "user": user_id}
    hub.publish(agents_topic(workspace_id), data)
    if who == "agent" and conversation.channel == "chat":
        hub.publish(
            chat_topic(conversation.inbox_id, conversation.customer_id),
            {"kind": "typing", "who": "agent"},
        )
