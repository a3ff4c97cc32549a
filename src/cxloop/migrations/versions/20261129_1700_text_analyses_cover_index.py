"""text_analyses: the period index also covers what the emotion curve reads

Revision ID: 5a1c7e3f9b26
Revises: 3d8f0b6c2e94
Create Date: 2026-11-29 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5a1c7e3f9b26"
down_revision: str | None = "3d8f0b6c2e94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "workspace_id",
    "occurred_at",
    "source_type",
    "source_id",
    "customer_id",
    "score",
    "sentiment",
]


def upgrade() -> None:
    with op.batch_alter_table("text_analyses", schema=None) as batch_op:
        batch_op.create_index("ix_text_analyses_workspace_occurred_cover", COLUMNS, unique=False)
        batch_op.drop_index("ix_text_analyses_workspace_occurred")


def downgrade() -> None:
    with op.batch_alter_table("text_analyses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_text_analyses_workspace_occurred", ["workspace_id", "occurred_at"], unique=False
        )
        batch_op.drop_index("ix_text_analyses_workspace_occurred_cover")
