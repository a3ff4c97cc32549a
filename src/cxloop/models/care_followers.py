"""Members who follow a conversation: besides its one assignee, anyone of the workspace's team
may follow it and hear (in the app) when the customer writes or it is resolved."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.models.base import Base, BigId, Timestamped


class ConversationFollower(Timestamped, Base):
    """Member ``user_id`` follows conversation ``conversation_id``."""

    __tablename__ = "care_conversation_followers"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        Index("ix_care_conversation_followers_user", "user_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
