"""help knowledge base

The knowledge base: articles with a Korean and an English version each, and every saved
version of their text.

Revision ID: 741ce5e03e72
Revises: 9506e6ca9a3d
Create Date: 2026-12-06 09:51:07.794227
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "741ce5e03e72"
down_revision: str | None = "9506e6ca9a3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "help_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_help_articles_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_articles_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_articles")),
        sa.UniqueConstraint(
            "workspace_id", "external_id", name=op.f("uq_help_articles_workspace_id_external_id")
        ),
    )
    with op.batch_alter_table("help_articles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_articles_listing", ["workspace_id", "status", "category"], unique=False
        )

    op.create_table(
        "help_article_revisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["help_articles.id"],
            name=op.f("fk_help_article_revisions_article_id_help_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_help_article_revisions_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_article_revisions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_article_revisions")),
    )
    with op.batch_alter_table("help_article_revisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_article_revisions_article", ["article_id", "locale", "id"], unique=False
        )

    op.create_table(
        "help_article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["help_articles.id"],
            name=op.f("fk_help_article_versions_article_id_help_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_help_article_versions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_article_versions")),
        sa.UniqueConstraint(
            "article_id", "locale", name=op.f("uq_help_article_versions_article_id_locale")
        ),
    )


def downgrade() -> None:
    op.drop_table("help_article_versions")
    with op.batch_alter_table("help_article_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_help_article_revisions_article")

    op.drop_table("help_article_revisions")
    with op.batch_alter_table("help_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_help_articles_listing")

    op.drop_table("help_articles")
