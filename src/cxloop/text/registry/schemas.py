"""Schemas of the model registry API: model runs and their pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


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
