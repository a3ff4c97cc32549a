"""help bot settings

Each workspace's bot settings: the confidence under which it hands over, and the article
categories it always leaves to people.

Revision ID: 5ebb603c48e6
Revises: 741ce5e03e72
Create Date: 2026-12-06 10:18:01.397434
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5ebb603c48e6"
down_revision: str | None = "741ce5e03e72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "help_bot_settings",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column(
            "people_categories",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_bot_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_help_bot_settings")),
    )


def downgrade() -> None:
    op.drop_table("help_bot_settings")
