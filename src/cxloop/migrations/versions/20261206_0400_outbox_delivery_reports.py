"""outbox delivery reports

outbound_messages.provider_message_id: the provider's id for a message it accepted (email: the
Message-ID header), which its status callbacks (delivered, bounced) name; reported_at: when the
last such callback came; an index to find a message by it.

Revision ID: 8e2f4c6a1b37
Revises: 3d8b6f2a9c41
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e2f4c6a1b37"
down_revision: str | None = "3d8b6f2a9c41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbound_messages_provider_message_id",
            ["channel", "provider_message_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_provider_message_id")
        batch_op.drop_column("reported_at")
        batch_op.drop_column("provider_message_id")
