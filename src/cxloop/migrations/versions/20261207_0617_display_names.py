"""Display names: the Korean and English words for a workspace's teams, touchpoints, traits
and event names.

Revision ID: f1a6c3e8d257
Revises: e5b9d3f1a246
Create Date: 2026-12-07 06:17:07.755937
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1a6c3e8d257"
down_revision: str | None = "e5b9d3f1a246"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "display_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name_ko", sa.String(length=100), server_default="", nullable=False),
        sa.Column("name_en", sa.String(length=100), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_display_names_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_names")),
        sa.UniqueConstraint(
            "workspace_id", "kind", "key", name=op.f("uq_display_names_workspace_id_kind_key")
        ),
    )


def downgrade() -> None:

    op.drop_table("display_names")
