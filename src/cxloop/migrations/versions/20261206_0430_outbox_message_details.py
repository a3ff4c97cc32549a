"""outbox message details

outbound_messages.details: what a channel needs beyond subject and body (email threading
headers, a KakaoTalk template and its variables, the SMS fallback); {} for existing rows.

Revision ID: 5c1a7e9d3f20
Revises: 8e2f4c6a1b37
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5c1a7e9d3f20"
down_revision: str | None = "8e2f4c6a1b37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "details",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("details")
