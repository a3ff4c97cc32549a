"""Care's CSAT requests: one per resolution of a conversation by an agent, tying the feedback
invitation sent to the conversation, its agent and team, so the answer counts for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.models.base import Base, BigId, Timestamped

CSAT_REQUEST_STATUSES = ("pending", "sent", "skipped")


class CsatRequest(Timestamped, Base):
    """The CSAT survey asked for when an agent resolved a conversation: ``cycle`` is the
    conversation's reopen count then (one request per resolution), ``agent_id`` and ``team``
    who the answer counts for, and what became of it (sent with its invitation, or skipped with
    the reason: fatigue, consent, no address, …)."""

    __tablename__ = "care_csat_requests"
    __table_args__ = (
        UniqueConstraint("conversation_id", "cycle"),
        Index("ix_care_csat_requests_workspace_resolved", "workspace_id", "resolved_at"),
        Index("ix_care_csat_requests_status", "status", "created_at"),
        Index("ix_care_csat_requests_invitation", "invitation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(default=0)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="SET NULL"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_invitations.id", ondelete="SET NULL")
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    team: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    skip_reason: Mapped[str] = mapped_column(String(32), default="")
    resolved_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
