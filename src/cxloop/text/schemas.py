"""Schemas of the text library's API: on-demand analysis."""

from __future__ import annotations

from typing import Literal

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
