"""Care agents and automatic assignment: each member's presence and capacity in the inbox, the
workspace's routing settings (team methods, rules), and the routing decision taken for each
conversation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

# An agent is online while they say they are available and were seen (an inbox page, its live
# stream) this recently.
ONLINE_WINDOW = timedelta(minutes=5)
# How conversations of a team are handed out: not at all (agents take them), to the agent
# assigned longest ago, or to the agent with the fewest open and pending conversations.
ASSIGNMENT_METHODS = ("manual", "round_robin", "least_busy")
# Who hears of a new conversation in their team: nobody, in the app, or in the app and by email.
TEAM_NOTICES = ("off", "app", "email")


class CareAgent(Base):
    """A member's presence in the inbox: their own available/away toggle, when an inbox page
    last saw them, and how many open conversations they take at most (None: the workspace's
    default)."""

    __tablename__ = "care_agents"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    available: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[datetime | None]
    # Whether the agent was last counted online: set when they are seen or become available,
    # cleared by the sweep that notices five quiet minutes (and hands their waiting work on),
    # so going away is acted on once.
    present: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[int | None]
    # Round robin hands the next conversation to the agent assigned longest ago.
    last_assigned_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def is_online(self, now: datetime) -> bool:
        return (
            self.available
            and self.last_seen_at is not None
            and as_utc(self.last_seen_at) > as_utc(now) - ONLINE_WINDOW
        )

    @classmethod
    def online(cls, now: datetime) -> ColumnElement[bool]:
        """The SQL condition of :meth:`is_online`."""
        return and_(cls.available.is_(True), cls.last_seen_at > as_utc(now) - ONLINE_WINDOW)


class CareRouting(Timestamped, Base):
    """A workspace's automatic assignment: each team's method (``""`` is the default of teams
    without their own), the agents' default capacity, whether offline agents get work when no
    online one has room, who hears of new conversations, and the ordered rules that route a
    new conversation to a team or set its priority.

    A rule is ``{"name", "channels", "languages", "tiers", "categories", "churn_risk_min",
    "team", "priority"}``: each list empty means any, ``team`` and ``priority`` None mean
    unchanged; the first rule whose conditions all hold applies."""

    __tablename__ = "care_routing"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    methods: Mapped[dict[str, Any]] = mapped_column(default=dict)  # team → method
    default_capacity: Mapped[int] = mapped_column(default=10)
    offline_fallback: Mapped[bool] = mapped_column(default=False)
    team_notices: Mapped[str] = mapped_column(String(8), default="app")
    rules: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationRoute(Base):
    """The routing decision taken for a conversation (once): the rule that applied, if any.
    A conversation without one is still waiting for its first message's analysis when a rule
    needs the language or category."""

    __tablename__ = "care_conversation_routes"

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(100), default="")
    routed_at: Mapped[datetime] = mapped_column(default=utcnow)
