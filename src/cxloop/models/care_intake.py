"""Care's intake of channel webhooks: each raw event kept before it is read (so nothing a
provider was told was received can be lost), and each Naver TalkTalk user's chat thread (who
holds it, the bot or an agent, and whether the user is the partner's friend), and what became of
each mail the inbound webhook accepted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId

THREAD_OWNERS = ("bot", "agent")


class CareWebhookEvent(Base):
    """One event as a channel's webhook delivered it, stored before it is read. ``body_hash``
    (SHA-256 of the raw body) finds a replayed delivery; ``processed_at`` is set once the
    event was taken into its conversation (or found unreadable, with ``problem``)."""

    __tablename__ = "care_webhook_events"
    __table_args__ = (
        Index("ix_care_webhook_events_replay", "inbox_id", "body_hash", "received_at"),
        Index("ix_care_webhook_events_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("care_inboxes.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    body_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    problem: Mapped[str] = mapped_column(Text, default="")


class InboundMailReceipt(Base):
    """What became of one mail the inbound webhook accepted (kept on the disk first, see
    ``core.spool``): ``name`` is the spool name the webhook answered with; ``status`` is
    ``taken_mail``'s outcome. Written in the transaction that took the mail in, so a mail with
    a receipt is never taken twice."""

    __tablename__ = "care_inbound_receipts"
    __table_args__ = (Index("ix_care_inbound_receipts_taken", "taken_at"),)

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("care_inboxes.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    message_id: Mapped[int | None] = mapped_column(BigId)
    accepted_at: Mapped[datetime]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class TalkTalkThread(Base):
    """A TalkTalk user's chat with the partner account behind an inbox: whether the bot or an
    agent holds it (TalkTalk's handover), and the user's friend flag (the partner may send
    its broadcast messages to friends)."""

    __tablename__ = "care_talktalk_threads"
    __table_args__ = (UniqueConstraint("inbox_id", "user_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("care_inboxes.id", ondelete="CASCADE"))
    user_key: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(8), default="bot")
    friend: Mapped[bool | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
