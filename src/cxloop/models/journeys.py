"""Journeys: the workspace's stages of the customer's life (each entered by the first — or n-th
— event that matches one of its rules), its touchpoints (the events that are one place of the
journey), and saved funnels.

A person's stage at a moment is the furthest stage they had entered by then; the journey map
counts each touchpoint's events by that stage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, PortableJSON, Timestamped


class JourneyStage(Timestamped, Base):
    """One stage, in journey order (``position``); ``rules`` is a list of
    ``{"event", "where", "nth", "page"}`` (see ``journeys.stages``)."""

    __tablename__ = "journey_stages"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), default="")  # empty: the default's own words
    position: Mapped[int] = mapped_column(default=0)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JourneyTouchpoint(Timestamped, Base):
    """One touchpoint (a row of the journey map): the events that match any of its ``rules``
    (``{"event", "where", "page"}``)."""

    __tablename__ = "journey_touchpoints"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), default="")
    position: Mapped[int] = mapped_column(default=0)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedFunnel(Timestamped, Base):
    """A funnel kept by name (its spec, over the last ``days`` days), on the dashboard when
    ``on_dashboard``."""

    __tablename__ = "journey_funnels"
    __table_args__ = (Index("ix_journey_funnels_workspace_name", "workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    days: Mapped[int] = mapped_column(default=30)
    on_dashboard: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
