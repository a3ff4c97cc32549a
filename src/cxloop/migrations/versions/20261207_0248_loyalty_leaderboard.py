"""Loyalty: the month's leaderboard, off by default (loyalty_programs.leaderboard), and the
ledger indexed by program and time to rank a month's earnings.

Revision ID: e5b9d3f1a246
Revises: a7d3f1c9e254
Create Date: 2026-12-07 02:48:07.087122
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5b9d3f1a246"
down_revision: str | None = "a7d3f1c9e254"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_ledger_program_time", ["program_id", "occurred_at"], unique=False
        )

    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("leaderboard", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_column("leaderboard")

    with op.batch_alter_table("loyalty_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_ledger_program_time")
