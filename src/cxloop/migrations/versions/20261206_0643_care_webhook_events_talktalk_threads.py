"""care webhook events and TalkTalk threads

care_webhook_events: each channel webhook event kept raw before it is read (replays found by the
body's hash, unread ones retried); care_talktalk_threads: who holds a TalkTalk user's chat (bot
or agent) and their friend flag.

Revision ID: 4aad4f7ab052
Revises: ca067bdfa46b
Create Date: 2026-12-06 06:43:49.374355
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4aad4f7ab052"
down_revision: str | None = "ca067bdfa46b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_talktalk_threads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=8), nullable=False),
        sa.Column("friend", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["care_inboxes.id"],
            name=op.f("fk_care_talktalk_threads_inbox_id_care_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_talktalk_threads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_talktalk_threads")),
        sa.UniqueConstraint(
            "inbox_id", "user_key", name=op.f("uq_care_talktalk_threads_inbox_id_user_key")
        ),
    )
    op.create_table(
        "care_webhook_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["care_inboxes.id"],
            name=op.f("fk_care_webhook_events_inbox_id_care_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_webhook_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_webhook_events")),
    )
    with op.batch_alter_table("care_webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_webhook_events_pending", ["processed_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_care_webhook_events_replay", ["inbox_id", "body_hash", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("care_webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_care_webhook_events_replay")
        batch_op.drop_index("ix_care_webhook_events_pending")

    op.drop_table("care_webhook_events")
    op.drop_table("care_talktalk_threads")
