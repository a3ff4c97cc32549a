"""Schemas of the taxonomy API: categories, their pages, new ones and edits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

CategoryKey = Annotated[str, Field(min_length=1, max_length=64)]
Seed = Annotated[str, Field(min_length=1, max_length=50)]


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
