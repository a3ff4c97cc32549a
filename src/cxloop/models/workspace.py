"""Workspaces (tenants), users, memberships, keys, audit log and login attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

DEFAULT_IDENTITY_KEYS = ("user_id", "email", "phone")
ROLES = ("owner", "admin", "agent", "marketer", "analyst", "viewer")


class Workspace(Timestamped, Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    default_currency: Mapped[str] = mapped_column(String(3), default="KRW")
    # Identity kinds that identify one person (user_id always); see profiles.identity.
    identity_keys: Mapped[list[str]] = mapped_column(
        PortableJSON, default=lambda: list(DEFAULT_IDENTITY_KEYS)
    )
    churn_after_days: Mapped[int] = mapped_column(default=180)
    # At most one survey invitation per customer in this many days, across surveys and channels.
    survey_fatigue_days: Mapped[int] = mapped_column(default=30, server_default="30")
    # The survey widget's identity-verification secret is derived from the server's secret key
    # and this number (accounts.widget_identity), so no secret is stored; rotating adds one.
    identity_secret_version: Mapped[int] = mapped_column(default=0, server_default="0")


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="ko")
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # Web sessions carry the version they began under; raising it (sign out, a new password,
    # "sign out everywhere") ends every session begun before, on the server.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where the next sign-in lands: the workspace the user last worked in.
    last_workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL")
    )

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="raise")


class Membership(Timestamped, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # The teams (e.g. "cs", "delivery") this member works in; follow-ups owned by a team notify
    # its members.
    teams: Mapped[list[str]] = mapped_column(PortableJSON, default=list, server_default="[]")
    # When the member last signed in to or switched to this workspace: what its members list
    # shows (never the user's activity in other workspaces).
    last_active_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")
    workspace: Mapped[Workspace] = relationship(lazy="raise")


class DisplayName(Base):
    """What people read for one of the workspace's own codes: a team (``cs``), a survey's
    touchpoint (``checkout_web``), a trait (``age_band``) or an event name (``Order
    Completed``), in Korean and English. Codes stay as they are in the API and the data."""

    __tablename__ = "display_names"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    name_ko: Mapped[str] = mapped_column(String(100), default="", server_default="")
    name_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Timestamped, Base):
    """A bearer key for /api/v1 (kind ``api``) or an ingestion write key (kind ``write``)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str | None] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class MemberInvitation(Timestamped, Base):
    """An invitation to join a workspace, sent to an e-mail address and accepted by whoever
    holds that address (signed in as its account, or creating it). Only the token's SHA-256 is
    kept; resending makes a new token."""

    __tablename__ = "member_invitations"
    __table_args__ = (Index("ix_member_invitations_workspace_email", "workspace_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invited_by_label: Mapped[str] = mapped_column(String(320), default="")
    expires_at: Mapped[datetime]
    sent_count: Mapped[int] = mapped_column(default=1)
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if as_utc(self.expires_at) <= utcnow():
            return "expired"
        return "pending"


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_created", "email", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app notice to one member (a follow-up assigned to their team, …). The text is
    rendered from ``kind`` and ``params`` in the reader's language when it is shown."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_workspace_created", "user_id", "workspace_id", "created_at"),
        UniqueConstraint("user_id", "dedupe_key"),
        # "Was anyone told about this already?" (the overdue sweep) asks by key, not by member.
        Index("ix_notifications_workspace_dedupe", "workspace_id", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    link: Mapped[str] = mapped_column(String(500), default="")
    # What makes a notice unique for its reader, so retried work never notifies twice.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
