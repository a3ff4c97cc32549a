"""Insights: list segments, whose members are a fixed snapshot of customers, with their origin.

Revision ID: a7d3f1c9e254
Revises: e4a8c2d6b135
Create Date: 2026-12-07 02:41:30.855144
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7d3f1c9e254"
down_revision: str | None = "e4a8c2d6b135"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), server_default="rule", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "origin",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("origin")
        batch_op.drop_column("kind")
