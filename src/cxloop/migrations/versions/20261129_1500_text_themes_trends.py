"""text themes and trends: the analyses of each theme, a theme's matching category and mean
sentiment, and the team that owns each category (spike notices go to it)

Revision ID: b6e2d4f81a57
Revises: 6074cd822013
Create Date: 2026-11-29 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b6e2d4f81a57"
down_revision: str | None = "6074cd822013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "text_theme_members",
        sa.Column("theme_id", sa.Integer(), nullable=False),
        sa.Column(
            "analysis_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["text_analyses.id"],
            name=op.f("fk_text_theme_members_analysis_id_text_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["text_themes.id"],
            name=op.f("fk_text_theme_members_theme_id_text_themes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_text_theme_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("theme_id", "analysis_id", name=op.f("pk_text_theme_members")),
    )
    with op.batch_alter_table("text_theme_members", schema=None) as batch_op:
        batch_op.create_index("ix_text_theme_members_analysis", ["analysis_id"], unique=False)
        batch_op.create_index(
            "ix_text_theme_members_workspace_theme", ["workspace_id", "theme_id"], unique=False
        )

    with op.batch_alter_table("text_categories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("team", sa.String(length=64), server_default="", nullable=False)
        )

    with op.batch_alter_table("text_themes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matched_category", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("matched_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("mean_score", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("text_themes", schema=None) as batch_op:
        batch_op.drop_column("mean_score")
        batch_op.drop_column("matched_share")
        batch_op.drop_column("matched_category")

    with op.batch_alter_table("text_categories", schema=None) as batch_op:
        batch_op.drop_column("team")

    with op.batch_alter_table("text_theme_members", schema=None) as batch_op:
        batch_op.drop_index("ix_text_theme_members_workspace_theme")
        batch_op.drop_index("ix_text_theme_members_analysis")

    op.drop_table("text_theme_members")
