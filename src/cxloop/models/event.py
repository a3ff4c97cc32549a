"""The event log (also the internal bus) and the bus consumers' checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # message_id first: lookups by a batch of message ids stay index-driven even for a
        # workspace the planner's statistics have not seen yet.
        UniqueConstraint("message_id", "workspace_id"),
        # Every customer-scoped query also names the workspace; with both columns here the
        # planner picks this index over the workspace one even without statistics (SQLite).
        Index("ix_events_customer_timestamp", "customer_id", "workspace_id", "timestamp"),
        Index("ix_events_workspace_timestamp", "workspace_id", "timestamp"),
        # Segment conditions ("did E at least N times within D days") and the recommender's
        # product views read one event name's customers over a period.
        Index("ix_events_workspace_name_time", "workspace_id", "name", "timestamp", "customer_id"),
        # The bus reads PostgreSQL's log in (tx, id) order; SQLite's by id alone (tx is 0).
        Index("ix_events_tx_id", "tx", "id", info={"dialects": ("postgresql",)}).ddl_if(
            dialect="postgresql"
        ),
        # The bus reads the log by id; SQLite must never hand out an id again after a delete.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32), default="server")
    user_id: Mapped[str | None] = mapped_column(String(320))
    anonymous_id: Mapped[str | None] = mapped_column(String(320))
    timestamp: Mapped[datetime]
    received_at: Mapped[datetime]
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The transaction that wrote the event: on PostgreSQL the column defaults to
    # pg_current_xact_id() (set by the migration; this model's default is SQLite's), so the
    # bus can tell which transactions have all finished. Never written by cxloop itself.
    tx: Mapped[int] = mapped_column(BigInteger, server_default="0")


class BusCheckpoint(Base):
    """How far one bus consumer has read the event log."""

    __tablename__ = "bus_checkpoints"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The last event handled, as (tx, position = event id): see Event.tx.
    tx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
