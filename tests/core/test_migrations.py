"""The migrations as a chain PostgreSQL can record: one head, and every revision id fits
Alembic's ``alembic_version.version_num`` column (VARCHAR(32)); a migration of data moves only
what it means to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from cxloop.core.migrate import alembic_config

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_one_head_and_every_revision_id_fits_the_version_table() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))

    revisions = list(scripts.walk_revisions())

    assert len(scripts.get_heads()) == 1
    too_long = [r.revision for r in revisions if len(r.revision) > 32]
    assert too_long == []
    assert len({r.revision for r in revisions}) == len(revisions)


def test_the_bots_old_default_threshold_moves_to_the_recalibrated_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cxloop.db'}"
    config = alembic_config(url)
    command.upgrade(config, "f1a6c3e8d257")
    engine = sa.create_engine(url)
    settings = sa.table(
        "help_bot_settings",
        sa.column("workspace_id", sa.Integer),
        sa.column("threshold", sa.Float),
        sa.column("people_categories", sa.JSON),
        sa.column("updated_at", sa.DateTime),
    )
    with engine.begin() as connection:
        connection.execute(
            settings.insert(),
            [
                {"workspace_id": n, "threshold": t, "people_categories": [], "updated_at": NOW}
                for n, t in ((1, 0.55), (2, 0.7), (3, 0.5))
            ],
        )

    def thresholds() -> list[float]:
        with engine.connect() as connection:
            query = sa.select(settings.c.threshold).order_by(settings.c.workspace_id)
            return list(connection.scalars(query))

    command.upgrade(config, "a7c2e9d4b613")
    upgraded = thresholds()
    command.downgrade(config, "f1a6c3e8d257")
    downgraded = thresholds()
    engine.dispose()

    assert upgraded == [0.6, 0.7, 0.5]  # a workspace's own choice stays
    assert downgraded == [0.55, 0.7, 0.5]
