"""API models of customers, identities, consent and merges."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IdentityKind = Literal[
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
]
Purpose = Literal["service", "marketing", "third_party", "night_marketing"]
Channel = Literal["email", "sms", "kakao", "push", "in_app", "talktalk"]


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    value: str
    source: str
    created_at: datetime


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    purpose: str
    channel: str
    granted: bool
    source: str
    evidence: str
    recorded_at: datetime


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    display_name: str | None
    email: str | None
    phone: str | None = Field(description="E.164, e.g. +821012345678")
    locale: str | None
    timezone: str | None
    traits: dict[str, Any]
    lifecycle_stage: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    event_count: int
    order_count: int
    total_revenue: Decimal
    touchpoints: dict[str, Any]
    erased_at: datetime | None


class CustomerDetail(CustomerOut):
    identities: list[IdentityOut]
    consent: list[ConsentOut] = Field(description="The state in force per purpose and channel")


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class IdentityIn(BaseModel):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    traits: dict[str, Any] = Field(default_factory=dict)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    traits: dict[str, Any] | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_id: int = Field(
        ge=1,
        le=2**53,
        description="The profile to merge with this one; the older of the two survives",
    )


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: Purpose
    channel: Channel
    granted: bool
    source: str = Field(min_length=1, max_length=64)
    evidence: str = Field(default="", max_length=2000)


class EraseOut(BaseModel):
    customer_id: int
    removed: dict[str, int]
