"""events.tx and bus_checkpoints.tx: the bus reads the log in commit-safe order

On PostgreSQL every event records the transaction that wrote it (pg_current_xact_id()), and a
consumer reads in (tx, id) order only below the oldest transaction still running, so a
transaction that commits late is never skipped. On SQLite (one writer, ids in commit order)
tx stays 0. Events already stored keep tx 0, so they come before every new one.

Revision ID: 7c4e2a9d1f03
Revises: 5a1c7e3f9b26
Create Date: 2026-12-06 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4e2a9d1f03"
down_revision: str | None = "5a1c7e3f9b26"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("events", sa.Column("tx", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column(
        "bus_checkpoints", sa.Column("tx", sa.BigInteger(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint)"
        )
        op.create_index("ix_events_tx_id", "events", ["tx", "id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_events_tx_id", table_name="events")
    with op.batch_alter_table("bus_checkpoints", schema=None) as batch_op:
        batch_op.drop_column("tx")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("tx")
