"""The bot's confidence recalibrated (it now reads questions for their meaning): the old
default threshold, 0.55, becomes the new one, 0.60. A workspace that chose another keeps it.

Revision ID: a7c2e9d4b613
Revises: f1a6c3e8d257
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c2e9d4b613"
down_revision: str | None = "f1a6c3e8d257"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_settings = sa.table("help_bot_settings", sa.column("threshold", sa.Float))


def _move(old: float, new: float) -> None:
    # Stored floats compared within a hair's breadth, not for equality.
    op.execute(
        _settings.update()
        .where(sa.func.abs(_settings.c.threshold - old) < 1e-9)
        .values(threshold=new)
    )


def upgrade() -> None:
    _move(0.55, 0.6)


def downgrade() -> None:
    _move(0.6, 0.55)
