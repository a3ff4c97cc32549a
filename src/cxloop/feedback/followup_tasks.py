"""Closed-loop jobs: tell the people responsible when a follow-up falls overdue (once each)."""

from __future__ import annotations

from huey import crontab

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.feedback import service


@huey.periodic_task(crontab(minute="*/5"))
def notify_overdue_follow_ups() -> int:
    """Every five minutes: notify about follow-ups that became overdue; safe to run twice."""
    database = get_database()
    with database.session() as session:
        return service.notify_overdue_follow_ups(session)
