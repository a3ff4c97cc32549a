"""API models of keys, members and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["owner", "admin", "agent", "marketer", "analyst", "viewer"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["write", "api"]
    name: str = Field(default="", max_length=200)
    role: Role | None = Field(default=None, description="api keys only; default viewer")


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    name: str
    role: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="Shown once; store it now")


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: int | None


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    role: Role
    display_name: str = Field(default="", max_length=200)
    password: str | None = Field(
        default=None, min_length=12, max_length=200, description="Needed only when the user is new"
    )


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = Field(default=None, description="Leave out to keep the role")
    teams: list[str] | None = Field(
        default=None,
        max_length=20,
        description='The member\'s teams (e.g. ["cs", "delivery"]); follow-ups owned by a '
        "team notify its members. Leave out to keep them.",
    )


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: str
    last_login_at: datetime | None
    teams: list[str] = Field(default_factory=list)


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: int | None


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    actor_label: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]
    ip: str | None
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: int | None
