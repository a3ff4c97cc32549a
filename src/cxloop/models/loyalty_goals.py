"""Loyalty goals: badges (an achievement kept for good: a first review, ten orders, a streak of
weeks) and challenges (a goal within dates: three orders in November), each reached by
counting a member's events that match it, and rewarded with points and a badge.

Every counted event is a row of its own (unique per goal), so an event handed over twice counts
once, and a member completes a goal once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped


class LoyaltyGoal(Timestamped, Base):
    """A badge or a challenge: ``count`` events named ``event`` passing ``where`` (within
    ``starts_at``–``ends_at`` when set; in ``streak_weeks`` weeks in a row when set)."""

    __tablename__ = "loyalty_goals"
    __table_args__ = (UniqueConstraint("program_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16), default="badge")  # badge | challenge
    name: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    event: Mapped[str] = mapped_column(String(200))
    where: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    count: Mapped[int] = mapped_column(default=1)
    streak_weeks: Mapped[int | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    reward_points: Mapped[int] = mapped_column(BigInteger, default=0)
    point_type: Mapped[str] = mapped_column(String(40), default="points")
    active: Mapped[bool] = mapped_column(default=True)


class GoalEvent(Base):
    """One event that counted towards a goal for a member."""

    __tablename__ = "loyalty_goal_events"
    __table_args__ = (
        UniqueConstraint("goal_id", "event_id"),
        Index("ix_loyalty_goal_events_member", "goal_id", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("loyalty_goals.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigId)
    occurred_at: Mapped[datetime]


class GoalCompletion(Base):
    """A member reached a goal (a badge earned, a challenge done), once."""

    __tablename__ = "loyalty_goal_completions"
    __table_args__ = (
        UniqueConstraint("goal_id", "member_id"),
        Index("ix_loyalty_goal_completions_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    goal_id: Mapped[int] = mapped_column(ForeignKey("loyalty_goals.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
