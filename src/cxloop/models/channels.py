"""Messages cxloop sends to people (customers and members), kept as an outbox so a retried
job never sends one twice and every send is on record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId

MESSAGE_CHANNELS = ("email", "sms", "kakao", "talktalk")
# "delivered" and "bounced" come from the provider's status callbacks after "sent".
MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "bounced", "failed", "cancelled")


class OutboundMessage(Base):
    """One message to one recipient; ``dedupe_key`` names what it is for (an invitation, a
    reminder, a notice), so asking to send the same thing again finds the existing row."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        Index("ix_outbound_messages_status_send_after", "status", "send_after"),
        Index("ix_outbound_messages_customer", "customer_id", "workspace_id"),
        Index("ix_outbound_messages_provider_message_id", "channel", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    # "service" messages (survey invitations, notices) or "marketing" ones (ads rules apply).
    purpose: Mapped[str] = mapped_column(String(16), default="service")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # What the channel needs beyond subject and body: email threading headers (In-Reply-To,
    # References), a KakaoTalk template code and its variables, the SMS fallback.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # The provider's id for the message once it accepted it (email: the Message-ID header),
    # which its status callbacks name; and when the last such callback came.
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    reported_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
