"""Schemas of the text API: on-demand analysis, stored analyses and their corrections, the
workspace taxonomy and model runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXTS = 100
MAX_TEXT_LENGTH = 5000


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_LENGTH)
    lang: Literal["ko", "en", "other"] | None = Field(
        default=None, description="Detected from the text when not given"
    )


class AnalyzeIn(BaseModel):
    """One text, or up to 100 at once (each as a string or with its language)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    lang: Literal["ko", "en", "other"] | None = None
    texts: list[TextIn | str] | None = Field(default=None, min_length=1, max_length=MAX_TEXTS)
    model: Literal["shipped", "workspace"] = Field(
        default="shipped",
        description="'shipped': the model cxloop ships and the default taxonomy; 'workspace': "
        "the workspace's active model and its own taxonomy (as stored analyses use).",
    )


class AspectOut(BaseModel):
    category: str
    sentiment: Literal["positive", "neutral", "negative"]
    clause: str
    score: float


class AnalysisOut(BaseModel):
    lang: Literal["ko", "en", "other"]
    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(description="From -1 (most negative) to 1 (most positive)")
    categories: list[str]
    aspects: list[AspectOut]
    keywords: list[str]
    sentences: list[str]
    normalized: str
    sarcasm: bool
    source: str = Field(description="What decided the sentiment: model, lexicon or transformers")


class AnalyzeOut(BaseModel):
    items: list[AnalysisOut]


# --- stored analyses, corrections, taxonomy and models ------------------------------------------

Sentiment = Literal["positive", "neutral", "negative"]
CategoryKey = Annotated[str, Field(min_length=1, max_length=64)]
Seed = Annotated[str, Field(min_length=1, max_length=50)]


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


class CategoryOut(BaseModel):
    key: str
    name_ko: str
    name_en: str
    seeds_ko: list[str]
    seeds_en: list[str]
    active: bool
    position: int
    updated_at: datetime


class CategoryPage(BaseModel):
    items: list[CategoryOut]
    next_cursor: str | None


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: CategoryKey = Field(description="a-z, 0-9 and _, a letter first (e.g. gift_wrapping)")
    name_ko: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    seeds_ko: list[Seed] = Field(default_factory=list, max_length=200)
    seeds_en: list[Seed] = Field(default_factory=list, max_length=200)


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_ko: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str | None = Field(default=None, min_length=1, max_length=100)
    seeds_ko: list[Seed] | None = Field(default=None, max_length=200)
    seeds_en: list[Seed] | None = Field(default=None, max_length=200)
    active: bool | None = None


class ModelRunOut(BaseModel):
    """A trained model and how well it did on texts it never saw."""

    id: int
    workspace_id: int | None = Field(description="None: the model shipped with cxloop")
    status: Literal["queued", "training", "ready", "failed"]
    in_use: bool = Field(description="Whether this model analyses the workspace's texts now")
    trigger: str
    base_labels: int
    weak_labels: int
    strong_labels: int
    holdout_size: int
    accuracy: float | None
    macro_f1: float | None
    category_micro_f1: float | None
    per_language: dict[str, Any]
    comparison: dict[str, Any]
    note: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ModelRunPage(BaseModel):
    items: list[ModelRunOut]
    next_cursor: str | None
