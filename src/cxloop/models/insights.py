"""Insights: the runs that fit and score a workspace's customer models (the model registry),
each customer's current predictions, and saved segments with their members.

A run records, per model, the data window it saw, its fitted parameters, its quality figures and
whether it was put in use; the predictions a run wrote replace the previous run's, so a
customer has one current row. A rule segment's members are kept current from the bus; a
member's joining and leaving are also appended to the event log as ``Segment Entered`` /
``Segment Exited`` events. A list segment's members are a fixed snapshot taken when it was
saved (the persons at a funnel step, say), with where they came from in ``origin``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

RUN_STATUSES = ("queued", "running", "ready", "failed")
# A rule segment is drawn by its rule and kept current; a list segment keeps the customers it
# was saved with.
SEGMENT_KINDS = ("rule", "list")
RUN_TRIGGERS = ("manual", "schedule", "cli")
# The models one run fits, in the order it fits them.
MODEL_KINDS = ("rfm", "bgnbd", "gamma_gamma", "clusters", "churn", "recommendations")


class InsightsRun(Base):
    """One fitting and scoring of a workspace's customer models, as of a moment: only data from
    before ``as_of`` is read."""

    __tablename__ = "insights_runs"
    __table_args__ = (Index("ix_insights_runs_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    as_of: Mapped[datetime]
    horizon_days: Mapped[int] = mapped_column(default=90)
    currency: Mapped[str] = mapped_column(String(3), default="KRW")
    customers: Mapped[int] = mapped_column(default=0)  # customers scored
    # The one-line summary the CLI prints: each model's parameters and figures.
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class InsightsModelFit(Base):
    """One model of a run: the window of data it was fitted on, its parameters, how well it
    predicted (on data it did not see), and whether its scores were put in use."""

    __tablename__ = "insights_model_fits"
    __table_args__ = (Index("ix_insights_model_fits_workspace_kind", "workspace_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("insights_runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    activated: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerPrediction(Base):
    """A customer's current scores: the last run's that scored them."""

    __tablename__ = "customer_predictions"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "customer_id"),
        Index("ix_customer_predictions_customer", "customer_id"),
        Index("ix_customer_predictions_workspace_cell", "workspace_id", "rfm_cell"),
    )

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("insights_runs.id", ondelete="CASCADE"))
    rfm_cell: Mapped[str | None] = mapped_column(String(32))
    recency_score: Mapped[int | None]
    frequency_score: Mapped[int | None]
    monetary_score: Mapped[int | None]
    cluster: Mapped[int | None]
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases_3m: Mapped[float | None] = mapped_column(Float)
    expected_purchases_6m: Mapped[float | None] = mapped_column(Float)
    expected_purchases_12m: Mapped[float | None] = mapped_column(Float)
    clv_3m: Mapped[float | None] = mapped_column(Float)  # in the run's currency
    clv_6m: Mapped[float | None] = mapped_column(Float)
    clv_12m: Mapped[float | None] = mapped_column(Float)
    # Rank of clv_12m among the workspace's scored customers, 0 (lowest) to 1 (highest).
    clv_percentile: Mapped[float | None] = mapped_column(Float)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    # [{"feature", "value", "effect"}], the three features that raise the risk most.
    churn_reasons: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    # [{"product_id", "sku", "score", "reason": {"kind", "product_id"?}}]
    recommendations: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Timestamped, Base):
    """A saved group of customers: defined by a rule (see ``insights.segments.language``), or
    a fixed list of customers (``kind`` "list", its rule empty)."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_workspace_name", "workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(8), default="rule", server_default="rule")
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where a list segment's members came from: {"source", "description": {language: words},
    # "detail": {...}} as the domain that saved it gave them; empty for a rule segment.
    origin: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    members: Mapped[int] = mapped_column(default=0)
    refreshed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class SegmentMember(Base):
    """A customer in a saved segment, since when."""

    __tablename__ = "segment_members"
    __table_args__ = (
        PrimaryKeyConstraint("segment_id", "customer_id"),
        Index("ix_segment_members_customer", "workspace_id", "customer_id"),
    )

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


class SegmentCount(Base):
    """A segment's size at the end of each local day it was refreshed: its trend."""

    __tablename__ = "segment_counts"
    __table_args__ = (PrimaryKeyConstraint("segment_id", "day"),)

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    day: Mapped[date]  # the workspace's local date
    members: Mapped[int] = mapped_column(default=0)
    entered: Mapped[int] = mapped_column(default=0)
    exited: Mapped[int] = mapped_column(default=0)
