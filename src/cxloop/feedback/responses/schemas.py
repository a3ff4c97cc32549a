"""API models of responses, their import and the score summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cxloop.core.timeutil import occurred_instant
from cxloop.feedback.surveys.definition import Outcome, StorableText

ResponseChannel = Literal["email", "link", "widget", "sms", "kakao", "import", "api"]
Locale = Annotated[
    str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,3})?$", max_length=8, examples=["ko-KR"])
]
Answers = Annotated[
    dict[str, Any],
    Field(
        max_length=200,
        description="Question id → answer: a whole number for nps/csat/ces/rating, an option "
        "id for single, a list of option ids for multiple, text for text",
    ),
]
Hidden = Annotated[dict[str, Any], Field(default_factory=dict, max_length=30)]


class ResponseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    survey_id: int
    version: int
    invitation_id: int | None
    customer_id: int | None
    channel: str
    touchpoint: str | None
    locale: str
    answers: dict[str, Any]
    hidden: dict[str, Any]
    nps: int | None
    csat: int | None
    ces: int | None
    comment: str | None
    completed: bool
    source: str
    external_id: str | None
    started_at: datetime
    submitted_at: datetime


class ResponsePage(BaseModel):
    items: list[ResponseOut]
    next_cursor: str | None


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: Answers
    locale: Locale = "ko"
    customer_id: int | None = Field(default=None, ge=1, le=2**53)
    invitation_token: StorableText | None = Field(default=None, min_length=8, max_length=200)
    channel: ResponseChannel | None = None
    hidden: Hidden
    partial: bool = Field(default=False, description="Keep going: required answers may be missing")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The version the respondent saw"
    )


class ThankYouOut(BaseModel):
    outcome: Outcome
    message: str


class SubmittedOut(BaseModel):
    response: ResponseOut
    thank_you: ThankYouOut


class ImportRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: StorableText = Field(min_length=1, max_length=128)
    answers: Answers
    submitted_at: Annotated[datetime, AfterValidator(occurred_instant)] | None = None
    completed: bool = True
    locale: Locale = "ko"
    channel: ResponseChannel = "import"
    hidden: Hidden
    user_id: StorableText | None = Field(default=None, max_length=320)
    email: StorableText | None = Field(default=None, max_length=320)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[ImportRowIn] = Field(min_length=1, max_length=1000)
    source: str = Field(default="import", min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")


class ImportOut(BaseModel):
    created: int
    duplicates: list[str]
    unlinked: int
    ids: list[int]


class EstimateOut(BaseModel):
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    too_few: bool


class NpsOut(EstimateOut):
    promoters: int
    passives: int
    detractors: int


class CsatOut(EstimateOut):
    satisfied: int


class CesOut(EstimateOut):
    std: float


class SummaryOut(BaseModel):
    survey_id: int
    responses: int = Field(description="Completed responses in the period")
    since: datetime | None
    until: datetime | None
    nps: NpsOut | None
    csat: CsatOut | None = Field(description="Percent satisfied (4–5), Wilson interval")
    ces: CesOut | None = Field(description="Mean effort score (1–7) with its t interval")
    too_few: bool = Field(description="True when any score rests on fewer answers than the minimum")
