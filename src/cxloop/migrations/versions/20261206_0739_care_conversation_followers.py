"""care conversation followers

care_conversation_followers: the members who follow a conversation (one row per member and
conversation), besides its assignee.

Revision ID: a0e2e2c62d8e
Revises: 742d04cf04b1
Create Date: 2026-12-06 07:39:23.340978
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0e2e2c62d8e"
down_revision: str | None = "742d04cf04b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_conversation_followers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_care_conversation_followers_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_care_conversation_followers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_conversation_followers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_conversation_followers")),
        sa.UniqueConstraint(
            "conversation_id",
            "user_id",
            name=op.f("uq_care_conversation_followers_conversation_id_user_id"),
        ),
    )
    with op.batch_alter_table("care_conversation_followers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_conversation_followers_user", ["user_id", "conversation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("care_conversation_followers", schema=None) as batch_op:
        batch_op.drop_index("ix_care_conversation_followers_user")

    op.drop_table("care_conversation_followers")
