"""Care jobs: snoozed conversations wake when their time comes (every minute)."""

from __future__ import annotations

from huey import crontab

from cxloop.care import service
from cxloop.core.db import get_database
from cxloop.core.jobs import huey


@huey.periodic_task(crontab(minute="*"))
def wake_snoozed_conversations() -> int:
    """Every minute: reopen the snoozed conversations whose time has come."""
    with get_database().session() as session:
        return service.wake_snoozed(session)
