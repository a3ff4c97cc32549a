"""Event jobs: a periodic safety net that drains the bus even if no pump is running."""

from __future__ import annotations

from huey import crontab

from cxloop.core.db import get_database, refresh_statistics
from cxloop.core.jobs import huey
from cxloop.events import bus, consumers  # noqa: F401  (registers the consumers)


@huey.periodic_task(crontab(minute="41", hour="4"))
def refresh_planner_statistics() -> None:
    """Daily: keep SQLite's planner statistics current as the event log grows."""
    refresh_statistics(get_database().engine)


@huey.periodic_task(crontab(minute="*"))
def drain_bus() -> int:
    """Run every bus consumer until caught up; safe to run anywhere, any number of times."""
    return bus.drain(get_database())
