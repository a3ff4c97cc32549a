"""The migrations as a chain PostgreSQL can record: one head, and every revision id fits
Alembic's ``alembic_version.version_num`` column (VARCHAR(32))."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from cxloop.core.migrate import alembic_config


def test_one_head_and_every_revision_id_fits_the_version_table() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))

    revisions = list(scripts.walk_revisions())

    assert len(scripts.get_heads()) == 1
    too_long = [r.revision for r in revisions if len(r.revision) > 32]
    assert too_long == []
    assert len({r.revision for r in revisions}) == len(revisions)
