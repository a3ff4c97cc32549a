"""Care jobs, every minute: snoozed conversations wake when their time comes, and SLA clocks
record their misses and warn the team before one."""

from __future__ import annotations

from huey import crontab

from cxloop.care import mailbox, service, sla
from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.core.settings import get_settings


@huey.periodic_task(crontab(minute="*"))
def wake_snoozed_conversations() -> int:
    """Every minute: reopen the snoozed conversations whose time has come."""
    with get_database().session() as session:
        return service.wake_snoozed(session)


@huey.periodic_task(crontab(minute="*"))
def sweep_sla_clocks() -> int:
    """Every minute: record missed SLA targets and warn teams of those about to be missed."""
    with get_database().session() as session:
        misses, _warnings = sla.sweep(session)
        return misses


@huey.periodic_task(crontab(minute="*"))
def poll_mailboxes() -> int:
    """Every minute: take new mail in from the inboxes' IMAP mailboxes (a mailbox that failed
    waits its backoff; its error is recorded on it, never raised here)."""
    reports = mailbox.poll_due(get_database(), settings=get_settings())
    return sum(report.stored for report in reports)
