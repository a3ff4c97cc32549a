"""What agents work with beside the messages themselves: canned replies (Korean or English text
with variables), macros (a named bundle of actions applied in one click), the members mentioned
in their notes, and the files attached to messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

CANNED_LANGUAGES = ("ko", "en")
# What a macro may do with the assignee: leave it, take it, clear it, or give it to a member.
MACRO_ASSIGN_MODES = ("", "me", "nobody", "user")


class CannedReply(Timestamped, Base):
    """A reply an agent inserts by name or shortcut (``/배송``); its body holds variables such
    as ``{{customer.name}}`` that are filled for the conversation it is used in."""

    __tablename__ = "care_canned_replies"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="ko")
    body: Mapped[str] = mapped_column(Text)
    # "" for every team; otherwise offered in that team's conversations and to its members.
    team: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Macro(Timestamped, Base):
    """A named bundle of actions on a conversation: an optional canned reply, tags added and
    removed, a status (snoozing for a number of minutes), a priority, a team and an assignee.
    A column left empty (None, an empty list) leaves that part of the conversation alone."""

    __tablename__ = "care_macros"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    canned_reply_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_canned_replies.id", ondelete="SET NULL")
    )
    add_tags: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    remove_tags: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    status: Mapped[str | None] = mapped_column(String(16))
    snooze_minutes: Mapped[int | None]
    priority: Mapped[str | None] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(64))
    assign_mode: Mapped[str] = mapped_column(String(8), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationMention(Timestamped, Base):
    """A member named with ``@`` in a private note: what the "mentions" view lists."""

    __tablename__ = "care_mentions"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id"),
        Index("ix_care_mentions_user", "workspace_id", "user_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class ConversationAttachment(Timestamped, Base):
    """A file of a message: what the customer attached to their mail, or an agent to a reply or
    a note. The bytes live in the attachment store under ``storage_key`` (one copy per content
    hash in a workspace); a file that could not be kept has no key and says why in
    ``problem``. An agent's upload has no message until the reply that carries it is sent."""

    __tablename__ = "care_attachments"
    __table_args__ = (
        Index("ix_care_attachments_message", "message_id"),
        Index("ix_care_attachments_conversation", "conversation_id", "id"),
        Index("ix_care_attachments_key", "workspace_id", "storage_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    storage_key: Mapped[str] = mapped_column(String(200), default="")
    problem: Mapped[str] = mapped_column(Text, default="")
