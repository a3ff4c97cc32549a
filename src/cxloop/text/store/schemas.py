"""Schemas of the stored analyses API: analyses, their pages and corrections."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxloop.text.taxonomy.schemas import CategoryKey

Sentiment = Literal["positive", "neutral", "negative"]


class StoredAspectOut(BaseModel):
    category: str
    sentiment: str
    score: float | None = None
    clause: str | None = Field(default=None, description="Absent once the customer was erased")


class StoredAnalysisOut(BaseModel):
    """What cxloop understood of one stored text (the text itself stays with its source)."""

    id: int
    source_type: str
    source_id: int
    customer_id: int | None
    lang: str
    sentiment: Sentiment
    score: float
    sarcasm: bool
    categories: list[str]
    aspects: list[StoredAspectOut]
    keywords: list[str]
    corrected: list[str] = Field(description="Fields a person corrected: sentiment, categories")
    model_run_id: int | None
    occurred_at: datetime
    analysed_at: datetime


class StoredAnalysisPage(BaseModel):
    items: list[StoredAnalysisOut]
    next_cursor: str | None


class CorrectionIn(BaseModel):
    """The right sentiment and/or categories of an analysis."""

    model_config = ConfigDict(extra="forbid")
    sentiment: Sentiment | None = None
    categories: list[CategoryKey] | None = Field(default=None, max_length=64)


class CorrectionOut(BaseModel):
    id: int
    field: str
    value: Any
    previous: Any
    user_id: int | None
    actor: str
    created_at: datetime


class CorrectedAnalysisOut(BaseModel):
    analysis: StoredAnalysisOut
    corrections: list[CorrectionOut]
