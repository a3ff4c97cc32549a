"""Outbox jobs: send the due queued emails over SMTP, right after a message is queued and
every minute as a safety net. Safe to run anywhere, any number of times at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from huey import crontab

from cxloop.channels import outbox
from cxloop.channels.email import Mailer, SendFailure, build_message
from cxloop.core.db import Database, get_database
from cxloop.core.jobs import huey
from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import utcnow

log = logging.getLogger(__name__)
BATCH_SIZE = 50
MAX_BATCHES = 20


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_outbox(
    database: Database,
    *,
    settings: Settings,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
) -> DeliveryReport:
    """Send due queued emails, a batch per SMTP session, until none is due (or the SMTP server
    cannot be reached). Without an SMTP host nothing is claimed: mail stays queued."""
    report = DeliveryReport()
    if not settings.smtp_host:
        return report
    for _ in range(max_batches):
        moment = now or utcnow()
        with database.session() as session:
            claimed = [
                (m.id, m.recipient, m.subject, m.body_text, m.body_html)
                for m in outbox.claim_due(session, now=moment, limit=batch_size)
            ]
        if not claimed:
            break
        reached = _send_batch(database, settings, claimed, report, now=now)
        if not reached or len(claimed) < batch_size:
            break
    return report


def _send_batch(
    database: Database,
    settings: Settings,
    claimed: list[tuple[int, str, str, str, str]],
    report: DeliveryReport,
    *,
    now: datetime | None,
) -> bool:
    """Send one claimed batch; False when the server could not be reached (the rest waits)."""
    pending = [row[0] for row in claimed]
    try:
        with Mailer(settings) as mailer:
            for message_id, recipient, subject, text, html in claimed:
                message = build_message(
                    sender=settings.mail_from,
                    recipient=recipient,
                    subject=subject,
                    text=text,
                    html=html,
                    message_key=f"cxloop-{message_id}",
                )
                try:
                    mailer.send(message)
                except SendFailure as failure:
                    _record_failure(database, message_id, failure, report, now=now)
                else:
                    with database.session() as session:
                        outbox.mark_sent(session, message_id=message_id, now=now)
                    report.sent += 1
                pending.remove(message_id)
                if not mailer.connected:
                    break
    except SendFailure as failure:
        # The session did not open: every claimed message counts one failed attempt.
        log.warning("outbox: %s", failure.reason)
        for message_id in pending:
            _record_failure(database, message_id, failure, report, now=now)
        return False
    with database.session() as session:
        outbox.release(session, message_ids=pending, now=now)
    return not pending


def _record_failure(
    database: Database,
    message_id: int,
    failure: SendFailure,
    report: DeliveryReport,
    *,
    now: datetime | None,
) -> None:
    with database.session() as session:
        status = outbox.mark_failed(
            session,
            message_id=message_id,
            error=failure.reason,
            transient=failure.transient,
            now=now,
        )
    if status == "failed":
        report.failed += 1
    else:
        report.retrying += 1
    report.errors.append(failure.reason)


@huey.task()
def send_outbox() -> int:
    """Send what is due now; returns how many messages went out (started once a transaction
    that queued mail commits: see ``outbox._send_after_commit``)."""
    return deliver_outbox(get_database(), settings=get_settings()).sent


@huey.periodic_task(crontab(minute="*"))
def send_outbox_every_minute() -> int:
    """Every minute: send what is due (retries after their backoff, delayed messages)."""
    return deliver_outbox(get_database(), settings=get_settings()).sent
