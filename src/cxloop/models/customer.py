"""Customers, their identities, consent ledger and merge history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, Timestamped

IDENTITY_KINDS = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "kakao",
    "naver",
    "line",
    "instagram",
    "facebook",
    "apple",
    "google",
    "talktalk",
    "social",
)
LIFECYCLE_STAGES = ("anonymous", "lead", "customer", "repeat", "churned")
CONSENT_PURPOSES = ("service", "marketing", "third_party", "night_marketing")
CONSENT_CHANNELS = ("email", "sms", "kakao", "push", "in_app", "talktalk")


class Customer(Timestamped, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_workspace_last_seen", "workspace_id", "last_seen_at"),
        Index("ix_customers_workspace_email", "workspace_id", "email"),
        Index("ix_customers_workspace_phone", "workspace_id", "phone"),
        Index("ix_customers_workspace_stage", "workspace_id", "lifecycle_stage"),
        Index("ix_customers_merged_into", "merged_into_id", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="anonymous")
    first_seen_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Counters kept by the profile-activity bus consumer: events per type and channel.
    touchpoints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_count: Mapped[int] = mapped_column(default=0)
    order_count: Mapped[int] = mapped_column(default=0)
    total_revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    erased_at: Mapped[datetime | None]


class Identity(Timestamped, Base):
    __tablename__ = "identities"
    __table_args__ = (
        # Led by the value: resolution looks identities up by value, and an index led by
        # (workspace, kind) would tempt SQLite, without statistics, to walk every user id of
        # the workspace for a lookup by customer.
        UniqueConstraint("value", "kind", "workspace_id", "customer_id"),
        Index("ix_identities_customer", "customer_id", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(64), default="")


class ConsentRecord(Base):
    """One change of consent; the current state is the latest record per purpose and channel."""

    __tablename__ = "consent_records"
    __table_args__ = (
        Index("ix_consent_records_customer", "customer_id", "purpose", "channel", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerMerge(Base):
    __tablename__ = "customer_merges"
    __table_args__ = (
        Index("ix_customer_merges_workspace", "workspace_id", "created_at"),
        Index("ix_customer_merges_survivor", "survivor_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    merged_id: Mapped[int] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
