"""Run Alembic migrations from code (``cxloop migrate``, tests, the demo)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "cxloop:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)
    from cxloop.core.db import make_engine, refresh_statistics

    engine = make_engine(url)
    try:
        refresh_statistics(engine)
    finally:
        engine.dispose()


def current_is_head(url: str) -> bool:
    """True when the database at ``url`` is at the newest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from cxloop.core.db import make_engine

    script = ScriptDirectory.from_config(alembic_config(url))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    return set(current) == set(script.get_heads())
