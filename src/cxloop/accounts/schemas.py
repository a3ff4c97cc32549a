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


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320, description="Where the invitation e-mail goes")
    role: Role = Field(description="The role the person gets on accepting (owner: owners only)")
    display_name: str = Field(
        default="", max_length=200, description="Suggested name, if they create an account"
    )


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    role: str
    status: Literal["pending", "accepted", "revoked", "expired"]
    invited_by: str = Field(validation_alias="invited_by_label")
    created_at: datetime
    expires_at: datetime
    sent_count: int
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationPage(BaseModel):
    items: list[InvitationOut]
    next_cursor: int | None


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
    last_active_at: datetime | None = Field(
        description="When the member last signed in to or switched to this workspace"
    )
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


DisplayKind = Literal["team", "touchpoint", "trait", "event"]


class DisplayNameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ko: str = Field(default="", max_length=100)
    en: str = Field(default="", max_length=100)


class DisplayNamesIn(BaseModel):
    """Names by code; a code given two empty names goes back to its default."""

    model_config = ConfigDict(extra="forbid")
    names: dict[str, DisplayNameIn] = Field(max_length=500)


class DisplayNameOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    key: str
    name_ko: str
    name_en: str
    updated_at: datetime


class DisplayNamePage(BaseModel):
    items: list[DisplayNameOut]
    next_cursor: str | None = None
