"""help bot in conversations: its turns, article votes, its tone and teams; inboxes it answers first

Revision ID: a7c3e91b2d40
Revises: 5ebb603c48e6
Create Date: 2026-12-06 12:30:23.406820
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7c3e91b2d40"
down_revision: str | None = "5ebb603c48e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "help_article_votes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("voter", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["help_articles.id"],
            name=op.f("fk_help_article_votes_article_id_help_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_article_votes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_article_votes")),
        sa.UniqueConstraint(
            "article_id", "voter", name=op.f("uq_help_article_votes_article_id_voter")
        ),
    )
    with op.batch_alter_table("help_article_votes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_article_votes_workspace_created", ["workspace_id", "created_at"], unique=False
        )

    op.create_table(
        "help_bot_turns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("article", sa.String(length=128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column(
            "tried", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column(
            "reply_message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_help_bot_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["conversation_messages.id"],
            name=op.f("fk_help_bot_turns_message_id_conversation_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_message_id"],
            ["conversation_messages.id"],
            name=op.f("fk_help_bot_turns_reply_message_id_conversation_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_bot_turns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_bot_turns")),
        sa.UniqueConstraint("message_id", name=op.f("uq_help_bot_turns_message_id")),
    )
    with op.batch_alter_table("help_bot_turns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_bot_turns_conversation", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_help_bot_turns_workspace_created", ["workspace_id", "created_at"], unique=False
        )

    with op.batch_alter_table("care_inboxes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bot_answers_first", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("help_bot_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tone", sa.String(length=8), server_default="haeyo", nullable=False)
        )
        batch_op.add_column(sa.Column("greeting", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column(
                "category_teams",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("help_bot_settings", schema=None) as batch_op:
        batch_op.drop_column("category_teams")
        batch_op.drop_column("greeting")
        batch_op.drop_column("tone")

    with op.batch_alter_table("care_inboxes", schema=None) as batch_op:
        batch_op.drop_column("bot_answers_first")

    with op.batch_alter_table("help_bot_turns", schema=None) as batch_op:
        batch_op.drop_index("ix_help_bot_turns_workspace_created")
        batch_op.drop_index("ix_help_bot_turns_conversation")

    op.drop_table("help_bot_turns")
    with op.batch_alter_table("help_article_votes", schema=None) as batch_op:
        batch_op.drop_index("ix_help_article_votes_workspace_created")

    op.drop_table("help_article_votes")
