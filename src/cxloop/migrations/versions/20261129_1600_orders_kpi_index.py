"""orders: the period index also covers the columns the business KPIs read

Revision ID: 3d8f0b6c2e94
Revises: b6e2d4f81a57
Create Date: 2026-11-29 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3d8f0b6c2e94"
down_revision: str | None = "b6e2d4f81a57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["workspace_id", "placed_at", "status", "currency", "customer_id", "total"]


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_workspace_placed_kpis", COLUMNS, unique=False)
        batch_op.drop_index("ix_orders_workspace_placed")


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_workspace_placed", ["workspace_id", "placed_at"], unique=False
        )
        batch_op.drop_index("ix_orders_workspace_placed_kpis")
