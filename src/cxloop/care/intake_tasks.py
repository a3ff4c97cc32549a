"""Care intake jobs: every minute, the webhook events a failure left unread are read again
(a TalkTalk event that was stored and acknowledged is never lost); every night, inbound mail
receipts older than a month are removed."""

from __future__ import annotations

from huey import crontab

from cxloop.care import talktalk
from cxloop.care.inbound_mail import forget_old_receipts
from cxloop.core.db import get_database
from cxloop.core.jobs import huey


@huey.periodic_task(crontab(minute="*"))
def retry_webhook_events() -> int:
    """Every minute: read again the stored webhook events that could not be read yet."""
    with get_database().session() as session:
        return talktalk.retry_pending(session)


@huey.periodic_task(crontab(minute="17", hour="3"))
def forget_inbound_receipts() -> int:
    """Every night: remove the inbound mail receipts older than a month."""
    with get_database().session() as session:
        return forget_old_receipts(session)
