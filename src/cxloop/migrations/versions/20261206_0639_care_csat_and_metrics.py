"""care csat and metrics

care_csat_requests: the CSAT survey asked for when an agent resolves a conversation (the
invitation, the agent and team it counts for); per inbox, whether CSAT is on and its survey;
conversations.reopened_count; and the indexes the care metrics read by period
(conversations and their messages by workspace and time).

Revision ID: ca067bdfa46b
Revises: 7700d23e9329
Create Date: 2026-12-06 06:39:15.756501
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ca067bdfa46b"
down_revision: str | None = "7700d23e9329"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_csat_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column(
            "invitation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=32), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_care_csat_requests_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_care_csat_requests_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["survey_invitations.id"],
            name=op.f("fk_care_csat_requests_invitation_id_survey_invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_care_csat_requests_survey_id_surveys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_csat_requests_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_csat_requests")),
        sa.UniqueConstraint(
            "conversation_id", "cycle", name=op.f("uq_care_csat_requests_conversation_id_cycle")
        ),
    )
    with op.batch_alter_table("care_csat_requests", schema=None) as batch_op:
        batch_op.create_index("ix_care_csat_requests_invitation", ["invitation_id"], unique=False)
        batch_op.create_index(
            "ix_care_csat_requests_status", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_care_csat_requests_workspace_resolved",
            ["workspace_id", "resolved_at"],
            unique=False,
        )

    with op.batch_alter_table("care_inboxes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("csat_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("csat_survey_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_care_inboxes_csat_survey_id_surveys"),
            "surveys",
            ["csat_survey_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_workspace_created",
            ["workspace_id", "created_at"],
            unique=False,
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reopened_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_conversations_workspace_created", ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_workspace_created")
        batch_op.drop_column("reopened_count")

    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_workspace_created")

    with op.batch_alter_table("care_inboxes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_care_inboxes_csat_survey_id_surveys"), type_="foreignkey"
        )
        batch_op.drop_column("csat_survey_id")
        batch_op.drop_column("csat_enabled")

    with op.batch_alter_table("care_csat_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_care_csat_requests_workspace_resolved")
        batch_op.drop_index("ix_care_csat_requests_status")
        batch_op.drop_index("ix_care_csat_requests_invitation")

    op.drop_table("care_csat_requests")
