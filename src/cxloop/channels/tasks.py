"""Outbox jobs: hand the due queued messages to their channel's adapter, right after a message
is queued and every minute as a safety net. Safe to run anywhere, any number of times at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from huey import crontab

from cxloop.channels import outbox
from cxloop.channels.adapters import Adapter, Outgoing, SendFailure
from cxloop.channels.providers import ready_adapters
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
    """Send due queued messages of every configured channel, a batch per provider session,
    until none is due (or the provider cannot be reached). A channel whose provider is not
    configured claims nothing: its messages stay queued."""
    report = DeliveryReport()
    for adapter in ready_adapters(settings):
        for _ in range(max_batches):
            moment = now or utcnow()
            with database.session() as session:
                claimed = [
                    Outgoing(
                        message_id=m.id,
                        channel=m.channel,
                        recipient=m.recipient,
                        subject=m.subject,
                        text=m.body_text,
                        html=m.body_html,
                        details=dict(m.details or {}),
                    )
                    for m in outbox.claim_due(
                        session, channel=adapter.channel, now=moment, limit=batch_size
                    )
                ]
            if not claimed:
                break
            reached = _send_batch(database, settings, adapter, claimed, report, now=now)
            if not reached or len(claimed) < batch_size:
                break
    return report


def _send_batch(
    database: Database,
    settings: Settings,
    adapter: Adapter,
    claimed: list[Outgoing],
    report: DeliveryReport,
    *,
    now: datetime | None,
) -> bool:
    """Send one claimed batch; False when the provider could not be reached (the rest waits)."""
    pending = [outgoing.message_id for outgoing in claimed]
    try:
        with adapter.connect(settings) as connection:
            for outgoing in claimed:
                try:
                    delivery = connection.send(outgoing)
                except SendFailure as failure:
                    _record_failure(database, outgoing.message_id, failure, report, now=now)
                else:
                    with database.session() as session:
                        outbox.mark_sent(
                            session,
                            message_id=outgoing.message_id,
                            provider_message_id=delivery.provider_message_id,
                            now=now,
                        )
                    report.sent += 1
                pending.remove(outgoing.message_id)
                if not connection.connected:
                    break
    except SendFailure as failure:
        # The session did not open: every claimed message counts one failed attempt.
        log.warning("outbox (%s): %s", adapter.channel, failure.reason)
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
