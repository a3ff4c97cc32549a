"""API models of follow-ups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cxloop.core.timeutil import planned_instant
from cxloop.feedback.surveys.definition import StorableText

FollowUpStatus = Literal["open", "in_progress", "done", "dismissed"]


class FollowUpOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    response_id: int
    customer_id: int | None
    team: str
    assignee_id: int | None
    reason: str
    status: str
    due_at: datetime
    closed_at: datetime | None
    note: str
    created_at: datetime
    overdue: bool = Field(description="Not done or dismissed, and past its due time")


class FollowUpPage(BaseModel):
    items: list[FollowUpOut]
    next_cursor: str | None


class FollowUpUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: FollowUpStatus | None = Field(
        default=None, description="done or dismissed closes it; open or in_progress reopens it"
    )
    assignee_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A member of the workspace; null unassigns (leave it out to keep it)",
    )
    note: StorableText | None = Field(default=None, max_length=5000)
    due_at: Annotated[datetime, AfterValidator(planned_instant)] | None = None
