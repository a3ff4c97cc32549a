"""Schemas of the text analytics API: trends, spikes, priority, the emotion curve, themes,
verbatims and category teams."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class WeekOut(BaseModel):
    week: date = Field(description="Monday of the week, in the workspace's time zone")
    volume: int
    negative: int
    negative_share: float | None
    mean_score: float | None


class SeriesOut(BaseModel):
    key: str
    volume: int
    negative: int
    negative_share: float | None
    mean_score: float | None
    weeks: list[WeekOut]


class TrendsOut(BaseModel):
    tz: str
    weeks: list[date]
    overall: SeriesOut
    categories: list[SeriesOut]
    themes: list[SeriesOut] = Field(description="Keyed by theme id")


class SpikeOut(BaseModel):
    category: str
    week: date
    count: int
    expected: float
    ratio: float
    p_value: float
    z: float


class SpikesOut(BaseModel):
    items: list[SpikeOut]


class PriorityOut(BaseModel):
    category: str
    score: float = Field(description="0-100; the first of the list is 100")
    volume: int
    negative: int
    negativity: float
    customers: int = Field(description="Distinct customers with a negative text in it")
    mean_value: float | None = Field(description="Their mean historical revenue")
    value_index: float = Field(description="Their mean revenue / every writer's (1 = average)")


class PriorityListOut(BaseModel):
    items: list[PriorityOut]


class EmotionPointOut(BaseModel):
    key: str
    n: int
    mean: float = Field(description="Mean sentiment score, -1 to 1")
    ci_low: float
    ci_high: float
    negative_share: float


class EmotionCurveOut(BaseModel):
    stages: list[EmotionPointOut]
    touchpoints: list[EmotionPointOut]


class ThemeOut(BaseModel):
    id: int
    lang: str
    label: str
    keywords: list[str]
    size: int
    negative_share: float | None
    mean_score: float | None
    examples: list[int]
    matched_category: str | None
    matched_share: float | None
    promoted_category_key: str | None
    window_start: datetime
    window_end: datetime


class ThemePage(BaseModel):
    items: list[ThemeOut]
    next_cursor: str | None


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(default=None, min_length=2, max_length=64)
    name_ko: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str | None = Field(default=None, min_length=1, max_length=100)


class PromotedOut(BaseModel):
    theme: ThemeOut
    category_key: str


class VerbatimOut(BaseModel):
    analysis_id: int
    source_type: str
    source_id: int
    customer_id: int | None
    text: str | None
    lang: str
    sentiment: str
    score: float
    categories: list[str]
    keywords: list[str]
    occurred_at: datetime


class VerbatimPage(BaseModel):
    items: list[VerbatimOut]
    next_cursor: str | None


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(max_length=64, description='The owning team; "" for the admins')


class TeamOut(BaseModel):
    key: str
    team: str
