"""Text analytics: what cxloop understood of each customer text (one analysis per source text),
the corrections people made to it, the workspace's taxonomy, its trained models and the themes
found in recent texts.

The texts themselves stay with the domain that owns them (a survey response, a message); an
analysis names its source by type and id and keeps a hash of the text it read, so an unchanged
text is not analysed again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON

SENTIMENTS = ("positive", "neutral", "negative")
CORRECTION_FIELDS = ("sentiment", "categories")
MODEL_RUN_STATUSES = ("queued", "training", "ready", "failed")


class TextModelRun(Base):
    """One trained text model: the shipped one (no workspace) or a workspace's retraining, with
    its held-out quality figures and, for a workspace's, the model itself (any worker loads it
    from here)."""

    __tablename__ = "text_model_runs"
    __table_args__ = (
        # The shipped model's row is found by its fingerprint (a hash of the model file).
        UniqueConstraint("fingerprint"),
        Index("ix_text_model_runs_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # The workspace's model in use (at most one per workspace; none: the shipped model).
    active: Mapped[bool] = mapped_column(default=False)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual / schedule
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    base_labels: Mapped[int] = mapped_column(default=0)
    weak_labels: Mapped[int] = mapped_column(default=0)
    strong_labels: Mapped[int] = mapped_column(default=0)
    holdout_size: Mapped[int] = mapped_column(default=0)
    accuracy: Mapped[float | None] = mapped_column(Float)
    macro_f1: Mapped[float | None] = mapped_column(Float)
    category_micro_f1: Mapped[float | None] = mapped_column(Float)
    # {"ko": {"accuracy", "macro_f1", "n", "category_micro_f1"}, "en": {...}}
    per_language: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How it compared with the model in use on the same held-out texts, and what was decided.
    comparison: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    model_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TextAnalysis(Base):
    """What one source text says: language, sentiment, categories, aspects and keywords.

    ``sentiment`` and ``categories`` show a person's correction once there is one (listed in
    ``corrected``); the model's own answer is kept in the correction's ``previous``.
    """

    __tablename__ = "text_analyses"
    __table_args__ = (
        UniqueConstraint("workspace_id", "source_type", "source_id"),
        # Texts by period, with what the emotion curve and the weekly trends read after it, so
        # a year of texts is read from the index alone (the rows also hold aspects and keywords).
        Index(
            "ix_text_analyses_workspace_occurred_cover",
            "workspace_id",
            "occurred_at",
            "source_type",
            "source_id",
            "customer_id",
            "score",
            "sentiment",
        ),
        Index("ix_text_analyses_customer", "customer_id", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int] = mapped_column(BigId)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    lang: Mapped[str] = mapped_column(String(8))
    sentiment: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    sarcasm: Mapped[bool] = mapped_column(default=False)
    categories: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    # [{"category", "sentiment", "score", "clause"}]
    aspects: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    corrected: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    model_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("text_model_runs.id", ondelete="SET NULL")
    )
    text_hash: Mapped[str] = mapped_column(String(64))
    # When the customer wrote it (weekly trends), and when cxloop read it.
    occurred_at: Mapped[datetime]
    analysed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TextAnalysisCategory(Base):
    """One category of one analysis, with its sentiment and time copied, so listing and weekly
    trends by category are an index range on every database (no JSON search)."""

    __tablename__ = "text_analysis_categories"
    __table_args__ = (
        PrimaryKeyConstraint("analysis_id", "category"),
        Index(
            "ix_text_analysis_categories_workspace_category_occurred",
            "workspace_id",
            "category",
            "occurred_at",
        ),
    )

    analysis_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("text_analyses.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(64))
    sentiment: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]


class TextCorrection(Base):
    """A person's correction of an analysis: a strong label for the next retraining."""

    __tablename__ = "text_corrections"
    __table_args__ = (
        Index("ix_text_corrections_workspace_created", "workspace_id", "created_at"),
        Index("ix_text_corrections_analysis", "analysis_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    analysis_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("text_analyses.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100), default="")
    field: Mapped[str] = mapped_column(String(16))  # sentiment / categories
    value: Mapped[Any] = mapped_column(PortableJSON)
    previous: Mapped[Any] = mapped_column(PortableJSON)
    # The text the correction was about: once the text changes, the label no longer holds.
    text_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TextCategory(Base):
    """One category of a workspace's taxonomy (seeded from ``text/taxonomy/taxonomy.toml``;
    editable)."""

    __tablename__ = "text_categories"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name_ko: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    seeds_ko: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    seeds_en: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    # The team that owns this kind of complaint (spikes notify it; "" = the workspace admins).
    team: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TextTheme(Base):
    """A theme found by clustering a window of recent texts, labelled by its top keywords."""

    __tablename__ = "text_themes"
    __table_args__ = (Index("ix_text_themes_workspace_window", "workspace_id", "window_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    size: Mapped[int] = mapped_column(default=0)
    negative_share: Mapped[float | None] = mapped_column(Float)
    # Ids of analyses that show the theme (the verbatims come from their sources).
    examples: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    promoted_category_key: Mapped[str | None] = mapped_column(String(64))
    # The category most of its texts carry, when most do (the theme is then no news).
    matched_category: Mapped[str | None] = mapped_column(String(64))
    matched_share: Mapped[float | None] = mapped_column(Float)
    mean_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TextThemeMember(Base):
    """One analysis of a theme: weekly trends and the verbatims of a theme are a join away (the
    rows go with the theme when the next window replaces it)."""

    __tablename__ = "text_theme_members"
    __table_args__ = (
        PrimaryKeyConstraint("theme_id", "analysis_id"),
        Index("ix_text_theme_members_workspace_theme", "workspace_id", "theme_id"),
        Index("ix_text_theme_members_analysis", "analysis_id"),
    )

    theme_id: Mapped[int] = mapped_column(ForeignKey("text_themes.id", ondelete="CASCADE"))
    analysis_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("text_analyses.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
