"""Loyalty: an order rule may give categories their own earning rate (rate_by_category).

Revision ID: e4a8c2d6b135
Revises: e3c1d5f7a924
Create Date: 2026-12-07 02:22:29.342861
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e4a8c2d6b135"
down_revision: str | None = "e3c1d5f7a924"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rate_by_category",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_rules", schema=None) as batch_op:
        batch_op.drop_column("rate_by_category")
