"""care inbound receipts

What became of each mail the inbound webhook accepted onto the disk: its outcome and
conversation, kept a month, so a mail is taken in once and its sender can ask.

Revision ID: 9506e6ca9a3d
Revises: 22ebfc9112cd
Create Date: 2026-12-06 09:29:49.459579
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9506e6ca9a3d"
down_revision: str | None = "22ebfc9112cd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_inbound_receipts",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["care_inboxes.id"],
            name=op.f("fk_care_inbound_receipts_inbox_id_care_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_care_inbound_receipts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_care_inbound_receipts")),
    )
    with op.batch_alter_table("care_inbound_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_care_inbound_receipts_taken", ["taken_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("care_inbound_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_care_inbound_receipts_taken")

    op.drop_table("care_inbound_receipts")
