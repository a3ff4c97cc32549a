"""Closed-loop jobs: tell the people responsible when a follow-up falls overdue (once each),
and each team about the bursts of new follow-ups batched into a digest."""

from __future__ import annotations

from huey import crontab

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.feedback.followups import digests as followup_digests
from cxloop.feedback.followups import service


@huey.periodic_task(crontab(minute="*/5"))
def notify_overdue_follow_ups() -> int:
    """Every five minutes: notify about follow-ups that became overdue; safe to run twice."""
    database = get_database()
    with database.session() as session:
        return service.notify_overdue_follow_ups(session)


@huey.periodic_task(crontab(minute="*"))
def send_follow_up_digests() -> int:
    """Every minute: tell each team about the bursts of follow-ups whose window has passed, in
    one notice each; safe to run twice."""
    with get_database().session() as session:
        return followup_digests.send_due_digests(session)
