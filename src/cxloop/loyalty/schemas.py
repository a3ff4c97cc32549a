"""Pydantic models of the loyalty API: the program's settings and what a member sees."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "in"]


class Condition(BaseModel):
    """One property filter of an event rule: ``properties[property] <op> value``."""

    model_config = ConfigDict(extra="forbid")

    property: str = Field(min_length=1, max_length=100)
    op: Op = "eq"
    value: Any = None

    @field_validator("value")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if len(items) > 50 or any(isinstance(v, dict | list) for v in items):
            raise ValueError("a value is a string, number or boolean, or a list of up to 50.")
        return value


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(default="", max_length=120)
    measure: Literal["spend", "orders", "points"] = "spend"
    threshold: Decimal = Field(default=Decimal(0), ge=0, le=Decimal("1e14"))
    free_shipping: bool = False
    birthday_bonus: int = Field(default=0, ge=0, le=10_000_000)


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """A campaign's, challenge's or reward's dates: with their offsets, the end after the start."""
    for moment in (starts_at, ends_at):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone offset.")
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValueError("ends_at must come after starts_at.")


class RuleIn(BaseModel):
    """An earning rule. ``order`` rules earn ``rate_percent`` (or the member's tier's rate in
    ``rate_by_tier``) of the eligible amount, and a category's rate in ``rate_by_category`` on
    that category's products whatever the tier; ``event`` rules earn ``points``."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(default="", max_length=120)
    kind: Literal["order", "event"] = "order"
    event: str = Field(default="Order Completed", min_length=1, max_length=200)
    where: list[Condition] = Field(default_factory=list, max_length=20)
    point_type: str = Field(default="points", pattern=KEY_PATTERN)
    points: int = Field(default=0, ge=0, le=100_000_000)
    rate_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    rate_by_tier: dict[str, Decimal] = Field(default_factory=dict, max_length=20)
    rate_by_category: dict[str, Decimal] = Field(default_factory=dict, max_length=200)
    min_order: Decimal | None = Field(default=None, ge=0)
    excluded_categories: list[str] = Field(default_factory=list, max_length=200)
    excluded_products: list[str] = Field(default_factory=list, max_length=1000)
    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=100)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    once_per_member: bool = False
    cap_per_day: int | None = Field(default=None, ge=0)
    cap_per_month: int | None = Field(default=None, ge=0)
    active: bool = True

    @field_validator("rate_by_tier", "rate_by_category")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, rate in value.items():
            if not name.strip() or len(name) > 200:
                raise ValueError("a rate is named by a tier or a category (1 to 200 characters).")
            if not 0 <= rate <= 100:
                raise ValueError("a rate is a percentage between 0 and 100.")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RuleIn:
        if self.kind == "order" and self.event != "Order Completed":
            raise ValueError('an order rule earns on "Order Completed".')
        if self.kind == "event" and self.points == 0:
            raise ValueError("an event rule needs points (at least 1).")
        if self.kind == "order" and not (
            self.rate_percent or self.rate_by_tier or self.rate_by_category
        ):
            raise ValueError(
                "an order rule needs a rate (rate_percent, rate_by_tier or rate_by_category)."
            )
        categories = [name.strip().casefold() for name in self.rate_by_category]
        if len(set(categories)) < len(categories):
            raise ValueError("rate_by_category names a category twice.")
        both = set(categories) & {c.strip().casefold() for c in self.excluded_categories}
        if both:
            raise ValueError(f"categories both excluded and given a rate: {sorted(both)}.")
        check_window(self.starts_at, self.ends_at)
        return self


class LeaderOut(BaseModel):
    rank: int
    customer_id: int
    name: str
    masked: str  # the name as members see it in the widget
    points: int


class LeaderboardOut(BaseModel):
    """The month's top earners (points earned less taken back for returns, first point type);
    ``shown_to_members`` says whether the widget shows it."""

    month_start: datetime
    shown_to_members: bool
    leaders: list[LeaderOut]


class ProgramIn(BaseModel):
    """The whole program at once: its settings, tiers (lowest first) and earning rules."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=120)
    active: bool = True
    currency: str = Field(default="KRW", pattern=r"^[A-Z]{3}$")
    point_types: list[str] = Field(default_factory=lambda: ["points"], min_length=1, max_length=5)
    pending_days: int = Field(default=14, ge=0, le=365)
    expiry_months: int | None = Field(default=12, ge=1, le=120)
    tier_window_days: int = Field(default=365, ge=1, le=3650)
    point_value: Decimal = Field(default=Decimal(1), gt=0, le=Decimal("1e6"))
    # Off by default (privacy): members see the month's top earners under masked names.
    leaderboard: bool = False
    tiers: list[TierIn] = Field(default_factory=list, max_length=20)
    rules: list[RuleIn] = Field(default_factory=list, max_length=100)

    @field_validator("point_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(KEY_PATTERN, name):
                raise ValueError(f"{name!r} is not a point type name (a-z, 0-9, _ and -).")
        if len(set(value)) != len(value):
            raise ValueError("point types must differ.")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProgramIn:
        keys = [t.key for t in self.tiers]
        if len(set(keys)) != len(keys):
            raise ValueError("tier keys must differ.")
        for lower, higher in zip(self.tiers, self.tiers[1:], strict=False):
            if lower.measure == higher.measure and higher.threshold <= lower.threshold:
                raise ValueError(
                    f"tier {higher.key!r} must need more than {lower.key!r} (tiers go lowest "
                    "first)."
                )
        rule_keys = [r.key for r in self.rules]
        if len(set(rule_keys)) != len(rule_keys):
            raise ValueError("rule keys must differ.")
        for rule in self.rules:
            if rule.point_type not in self.point_types:
                raise ValueError(f"rule {rule.key!r} earns {rule.point_type!r}, not a point type.")
            unknown = set(rule.rate_by_tier) - set(keys)
            if unknown:
                raise ValueError(f"rule {rule.key!r} names unknown tiers: {sorted(unknown)}.")
        return self


class TierOut(TierIn):
    rank: int


class ProgramOut(BaseModel):
    name: str
    active: bool
    currency: str
    point_types: list[str]
    pending_days: int
    expiry_months: int | None
    tier_window_days: int
    point_value: Decimal
    leaderboard: bool
    tiers: list[TierOut]
    rules: list[RuleIn]
    updated_at: datetime


class BalanceOut(BaseModel):
    point_type: str
    total: int
    available: int
    pending: int
    expiring_in_30_days: int


class TierProgressOut(BaseModel):
    tier: str | None
    tier_name: str | None
    tier_until: datetime | None
    next_tier: str | None
    next_tier_name: str | None
    measure: str | None
    measured: float | None
    needed: float | None


class LedgerEntryOut(BaseModel):
    id: int
    point_type: str
    kind: str
    amount: int
    remaining: int | None
    available_at: datetime | None
    expires_at: datetime | None
    reason: str
    rule: str | None
    order_ref: str | None
    occurred_at: datetime


class GoalProgressOut(BaseModel):
    """A badge or challenge as the member stands on it: ``done`` of ``needed`` (events, or
    weeks in a row for a streak), ``completed_at`` once reached."""

    key: str
    kind: str
    name: str
    description: str
    done: int
    needed: int
    ends_at: datetime | None
    completed_at: datetime | None


class TierChangeOut(BaseModel):
    """A move between tiers (``from_tier`` None: the member's first tier)."""

    from_tier: str | None
    to_tier: str | None
    reason: str
    measured: float
    changed_at: datetime


class MemberOut(BaseModel):
    customer_id: int
    joined_at: datetime
    balances: list[BalanceOut]
    progress: TierProgressOut
    tier_history: list[TierChangeOut]
    goals: list[GoalProgressOut]
    ledger: list[LedgerEntryOut]
    next_cursor: str | None


class PointsIn(BaseModel):
    """Points added or taken by hand (``adjust``) or spent (``redeem``)."""

    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=1, le=100_000_000)
    point_type: str = Field(default="points", pattern=KEY_PATTERN)
    reason: str = Field(min_length=1, max_length=300)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)


class AdjustIn(PointsIn):
    direction: Literal["add", "deduct"] = "add"
