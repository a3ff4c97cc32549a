"""events index by name for segments

Revision ID: c4f2a86d9e11
Revises: b3e8d51c7a20
Create Date: 2026-12-06 16:48:35.028465
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4f2a86d9e11"
down_revision: str | None = "b3e8d51c7a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ["workspace_id", "name", "timestamp", "customer_id"]


def upgrade() -> None:
    # The event log is the largest table: on PostgreSQL the index is built without blocking
    # ingestion (CONCURRENTLY, which must run outside the migration's transaction).
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_events_workspace_name_time",
                "events",
                COLUMNS,
                unique=False,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        return
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_workspace_name_time", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_workspace_name_time")
