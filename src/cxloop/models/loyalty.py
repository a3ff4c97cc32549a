"""Loyalty: a workspace's program, its tiers and earning rules, its members and their points
ledger.

The ledger is append-only. Every entry that adds points is a lot (``remaining`` is what is left
of it); every entry that takes points away (a redemption, an expiry, a reversal, a negative
adjustment) is spread over lots by allocations, oldest first, so a member's balance — the sum of
the ledger's amounts — always equals the sum of the lots' remainders, and can be shown lot by
lot. A lot is pending until ``available_at`` (the return window) and expires at ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

Amount = Numeric(18, 2)
Rate = Numeric(7, 3)


class LoyaltyProgram(Timestamped, Base):
    """A workspace's loyalty program (one per workspace): its point types, the return window
    before earned points become available, how long points last, and the window tiers are
    measured over."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)
    currency: Mapped[str] = mapped_column(String(3), default="KRW")
    point_types: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    pending_days: Mapped[int] = mapped_column(default=14)
    expiry_months: Mapped[int | None] = mapped_column(default=12)
    tier_window_days: Mapped[int] = mapped_column(default=365)
    # What one point is worth in the program's currency (for the liability figure).
    point_value: Mapped[Decimal] = mapped_column(Amount, default=Decimal(1))
    # Members see the month's leaderboard (under masked names) in the widget.
    leaderboard: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LoyaltyTier(Timestamped, Base):
    """A tier, reached by ``threshold`` of ``measure`` (spend, orders or points earned) over the
    program's tier window; rank 0 is where every member starts."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("program_id", "key"),
        UniqueConstraint("program_id", "rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), default="")
    rank: Mapped[int] = mapped_column(default=0)
    measure: Mapped[str] = mapped_column(String(16), default="spend")
    threshold: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    # {"free_shipping": bool, "birthday_bonus": int}
    benefits: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EarningRule(Timestamped, Base):
    """How points are earned: per order (a percentage of the eligible amount, by tier) or per
    event matching ``where`` (a fixed number), times ``multiplier`` between ``starts_at`` and
    ``ends_at``, within a member's caps."""

    __tablename__ = "loyalty_rules"
    __table_args__ = (UniqueConstraint("program_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[str] = mapped_column(String(16), default="order")  # order | event
    event: Mapped[str] = mapped_column(String(200), default="Order Completed")
    where: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    point_type: Mapped[str] = mapped_column(String(40), default="points")
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_percent: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    rate_by_tier: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_by_category: Mapped[dict[str, Any]] = mapped_column(default=dict)
    min_order: Mapped[Decimal | None] = mapped_column(Amount)
    excluded_categories: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    excluded_products: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    multiplier: Mapped[Decimal] = mapped_column(Rate, default=Decimal(1))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    once_per_member: Mapped[bool] = mapped_column(default=False)
    cap_per_day: Mapped[int | None] = mapped_column(BigInteger)
    cap_per_month: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)


class LoyaltyMember(Timestamped, Base):
    """A customer in the program, with the tier they hold until ``tier_until``."""

    __tablename__ = "loyalty_members"
    __table_args__ = (
        UniqueConstraint("program_id", "customer_id"),
        Index("ix_loyalty_members_workspace_tier", "workspace_id", "tier_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_tiers.id", ondelete="SET NULL"))
    tier_since: Mapped[datetime | None]
    tier_until: Mapped[datetime | None]


class LedgerEntry(Base):
    """One change of a member's points. ``source_key`` makes earning exactly once: the same
    order, event or once-only reward never earns twice, however often it is handed over."""

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        UniqueConstraint("program_id", "source_key"),
        Index("ix_loyalty_ledger_member", "member_id", "point_type", "id"),
        Index("ix_loyalty_ledger_open_lots", "member_id", "point_type", "expires_at"),
        Index("ix_loyalty_ledger_order", "program_id", "order_ref"),
        Index("ix_loyalty_ledger_program_time", "program_id", "occurred_at"),
        CheckConstraint("remaining IS NULL OR remaining >= 0", name="remaining_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    point_type: Mapped[str] = mapped_column(String(40), default="points")
    kind: Mapped[str] = mapped_column(String(16))  # earn redeem expire adjust reverse
    amount: Mapped[int] = mapped_column(BigInteger)
    # Lots only (amount > 0): what is left, when it may be spent, when it expires.
    remaining: Mapped[int | None] = mapped_column(BigInteger)
    available_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(300), default="")
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_rules.id", ondelete="SET NULL"))
    source_event_id: Mapped[int | None] = mapped_column(BigId)
    source_key: Mapped[str | None] = mapped_column(String(300))
    # The order a lot was earned on (or a reversal takes back), and the amount it was earned on.
    order_ref: Mapped[str | None] = mapped_column(String(128))
    order_amount: Mapped[Decimal | None] = mapped_column(Amount)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LedgerAllocation(Base):
    """How much of lot ``lot_id`` the taking entry ``entry_id`` used."""

    __tablename__ = "loyalty_allocations"
    __table_args__ = (Index("ix_loyalty_allocations_lot", "lot_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_ledger.id", ondelete="CASCADE"), index=True
    )
    lot_id: Mapped[int] = mapped_column(ForeignKey("loyalty_ledger.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)


TIER_CHANGES = ("upgrade", "downgrade")


class TierChange(Base):
    """A member's move between tiers, and why."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("loyalty_members.id", ondelete="CASCADE"))
    from_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    to_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(32))  # one of TIER_CHANGES
    measured: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


REWARD_KINDS = ("coupon", "discount", "gift", "experience")
CODE_SOURCES = ("pool", "generated", "none")
CODE_STATUSES = ("free", "issued", "void")
REDEMPTION_STATUSES = ("issued", "cancelled")


class Reward(Timestamped, Base):
    """A reward of the catalogue: what it costs in points of ``point_type``, how many are left
    (``stock``; None for no limit), the lowest tier that may take it, and where its codes come
    from (an uploaded pool, generated at redemption, or none)."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        UniqueConstraint("program_id", "key"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("cost > 0", name="cost_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name_ko: Mapped[str] = mapped_column(String(200), default="")
    name_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(2000), default="")
    kind: Mapped[str] = mapped_column(String(16), default="coupon")  # REWARD_KINDS
    # What the reward is worth to the customer in the program's currency (a ₩5,000 coupon).
    value: Mapped[Decimal | None] = mapped_column(Amount)
    cost: Mapped[int] = mapped_column(BigInteger)
    point_type: Mapped[str] = mapped_column(String(40), default="points")
    stock: Mapped[int | None] = mapped_column(BigInteger)
    # The key of the lowest tier whose members may redeem it (matched by key, as tiers are).
    min_tier: Mapped[str | None] = mapped_column(String(40))
    code_source: Mapped[str] = mapped_column(String(16), default="none")  # CODE_SOURCES
    code_prefix: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RewardCode(Base):
    """One code of a reward: free in its pool, issued to a redemption, or void (a generated
    code whose redemption was cancelled)."""

    __tablename__ = "loyalty_reward_codes"
    __table_args__ = (
        UniqueConstraint("reward_id", "code"),
        Index("ix_loyalty_reward_codes_free", "reward_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="free")  # CODE_STATUSES
    # Made for one redemption (voided when it is cancelled) rather than uploaded to the pool.
    generated: Mapped[bool] = mapped_column(default=False)
    redemption_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_redemptions.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_at: Mapped[datetime | None]


class Redemption(Base):
    """A reward a member took for points. The member is the one whose ledger holds the spend
    (``entry_id``): a merge moves the spend to the surviving member and the redemption with it.
    ``refund_entry_id`` is the lot that gave the points back when it was cancelled."""

    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        UniqueConstraint("program_id", "idempotency_key"),
        UniqueConstraint("entry_id"),
        Index("ix_loyalty_redemptions_workspace", "workspace_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id", ondelete="CASCADE"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("loyalty_ledger.id", ondelete="CASCADE"))
    refund_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_ledger.id", ondelete="SET NULL")
    )
    points: Mapped[int] = mapped_column(BigInteger)
    point_type: Mapped[str] = mapped_column(String(40), default="points")
    code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="issued")  # REDEMPTION_STATUSES
    idempotency_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(320))
