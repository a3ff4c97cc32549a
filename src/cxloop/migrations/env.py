"""Alembic environment: runs against CXLOOP_DATABASE_URL (or the URL the caller set)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON, DateTime

from cxloop.core.db import make_engine
from cxloop.core.settings import get_settings
from cxloop.models import Base
from cxloop.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render cxloop's portable types with plain SQLAlchemy so revisions import no app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON) and getattr(obj, "_variant_mapping", None):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def compare_type(
    context: Any, inspected: Any, metadata_col: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    if isinstance(metadata_type, UTCDateTime) and isinstance(inspected_type, DateTime):
        return False
    return None


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave out of the comparison what the models create on other databases only."""
    dialects = getattr(obj, "info", {}).get("dialects") if not reflected else None
    return dialects is None or context.get_bind().dialect.name in dialects


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().db_url
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=compare_type,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
