"""care agents and routing

care_agents: each member's presence in the inbox (available/away, last seen) and capacity;
care_routing: a workspace's automatic assignment (team methods, default capacity, offline
fallback, team notices, rules); care_conversation_routes: the routing decision taken for each
conversation.

Revision ID: 742d04cf04b1
Revises: 4aad4f7ab052
Create Date: 2026-12-06 06:44:03.434857
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "742d04cf04b1"
down_revision: str | None = "4aad4f7ab052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_routing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "methods", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("default_capacity", sa.Integer(), nullable=False),
        sa.Column("offline_fallback", sa.Boolean(), nullable=False),
        sa.Column("team_notices", sa.String(length=8), nullable=False),
        sa.Column(
            "rules", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_routing_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_routing")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_care_routing_workspace_id")),
    )
    op.create_table(
        "care_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_care_agents_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_agents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_agents")),
        sa.UniqueConstraint(
            "workspace_id", "user_id", name=op.f("uq_care_agents_workspace_id_user_id")
        ),
    )
    with op.batch_alter_table("care_agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_agents_user_id"), ["user_id"], unique=False)

    op.create_table(
        "care_conversation_routes",
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_care_conversation_routes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_conversation_routes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_care_conversation_routes")),
    )


def downgrade() -> None:
    op.drop_table("care_conversation_routes")
    with op.batch_alter_table("care_agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_agents_user_id"))

    op.drop_table("care_agents")
    op.drop_table("care_routing")
