"""API models of surveys and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxloop.feedback.surveys.definition import StorableText, SurveyDefinition

SurveyKind = Literal["nps", "csat", "ces", "custom"]
SurveyStatus = Literal["draft", "live", "closed"]
SurveyKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", max_length=64)]


class SurveyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    name: str
    kind: str
    status: str
    current_version: int
    owner_team: str
    distribution: dict[str, Any] = Field(
        default_factory=dict,
        description="How the survey goes out: channels, trigger, delay, sample, expiry, reminders",
    )
    created_at: datetime
    updated_at: datetime


class SurveyDetail(SurveyOut):
    definition: SurveyDefinition = Field(description="The current version's definition")


class SurveyPage(BaseModel):
    items: list[SurveyOut]
    next_cursor: str | None


class SurveyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: SurveyKey
    name: StorableText = Field(min_length=1, max_length=200)
    kind: SurveyKind
    definition: SurveyDefinition
    owner_team: StorableText = Field(default="", max_length=64)
    distribution: dict[str, Any] | None = Field(
        default=None,
        description="channels (email, widget, link), trigger {event, where}, delay_minutes, "
        "sample_rate, expires_days, reminder_after_days, public_link",
    )


class SurveyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StorableText | None = Field(default=None, min_length=1, max_length=200)
    owner_team: StorableText | None = Field(default=None, max_length=64)
    definition: SurveyDefinition | None = Field(
        default=None, description="A changed definition becomes the survey's next version"
    )
    distribution: dict[str, Any] | None = Field(
        default=None, description="New distribution settings (replace the old ones whole)"
    )


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: SurveyStatus


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    survey_id: int
    number: int
    created_at: datetime
    definition: SurveyDefinition
