"""Distribution jobs: send invitations whose time has come (every minute), mark passed ones
expired, and queue reminders. Each takes no arguments, reloads what it needs and is safe to
run twice or on several workers at once."""

from __future__ import annotations

from huey import crontab

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.feedback.distribution import service as distribution
from cxloop.feedback.distribution import (
    triggers,  # noqa: F401  (registers the survey-trigger consumer)
)

BATCH = 500
MAX_BATCHES = 20


@huey.periodic_task(crontab(minute="*"))
def send_due_invitations() -> int:
    """Every minute: send scheduled invitations that are due (email through the outbox;
    widget invitations become available to the widget)."""
    total = 0
    for _ in range(MAX_BATCHES):
        with get_database().session() as session:
            handled = distribution.send_due(session, limit=BATCH)
        total += handled
        if handled < BATCH:
            break
    return total


@huey.periodic_task(crontab(minute="*/5"))
def expire_invitations() -> int:
    """Every five minutes: invitations past their expiry become expired."""
    with get_database().session() as session:
        return distribution.expire_passed(session)


@huey.periodic_task(crontab(minute="7,37"))
def send_invitation_reminders() -> int:
    """Twice an hour: one reminder email for invitations still unanswered after the survey's
    reminder_after_days."""
    total = 0
    for _ in range(MAX_BATCHES):
        with get_database().session() as session:
            queued = distribution.send_reminders(session, limit=BATCH)
        total += queued
        if queued < BATCH:
            break
    return total
