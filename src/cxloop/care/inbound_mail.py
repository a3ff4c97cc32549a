"""One raw email taken into an inbox, whichever way it came (the inbound webhook, an IMAP
mailbox): a delivery status report updates the outbox, mail that cannot be read is kept raw
with the reason, and a person's message joins its conversation (see ``intake``).

The webhook only keeps the mail on the disk (``accept_mail``) and answers; the mail is taken
right after the answer, or by the spool's sweep after a crash (``take_spooled_mail``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.channels.adapters import Inbound, NotUnderstood, StatusReport
from cxloop.channels.email import read_mail
from cxloop.channels.receiving import take_status_reports
from cxloop.core.db import Database, rowcount
from cxloop.core.settings import Settings
from cxloop.core.spool import Spooled, SpoolHandler, spool_of
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, InboundMailReceipt

log = logging.getLogger(__name__)
MAIL_SPOOL = "email"
RECEIPT_DAYS = timedelta(days=30)

Outcome = Literal["stored", "duplicate", "delivery_report", "automatic", "unreadable"]


@dataclass(frozen=True)
class Taken:
    status: Outcome
    conversation_id: int | None = None
    message_id: int | None = None


def take_mail(
    session: Session, *, inbox: CareInbox, raw: bytes, fallback_message_id: str = ""
) -> Taken:
    """Take one raw RFC 822 message into ``inbox``. ``fallback_message_id`` stands in for a
    missing Message-ID, so a message fetched twice is still stored once."""
    try:
        received = read_mail(raw)
    except NotUnderstood as exc:
        kept = intake.keep_unreadable(session, inbox=inbox, raw=raw, problem=str(exc))
        return Taken("unreadable", kept.conversation_id, kept.id)
    if all(isinstance(item, StatusReport) for item in received):
        take_status_reports(
            session,
            workspace_id=inbox.workspace_id,
            channel="email",
            payload=raw,
            content_type="message/rfc822",
        )
        return Taken("delivery_report")
    mail = next(item for item in received if isinstance(item, Inbound))
    if not mail.provider_message_id and fallback_message_id:
        mail = replace(mail, provider_message_id=fallback_message_id)
    result = intake.receive_email(session, inbox=inbox, mail=mail)
    if result is None:
        return Taken("automatic")
    return Taken(
        "stored" if result.created else "duplicate", result.conversation.id, result.message.id
    )


def accept_mail(settings: Settings, *, inbox: CareInbox, raw: bytes) -> str:
    """Keep a raw message for ``inbox`` on the disk, to be taken in after the webhook answered;
    the name it is kept under."""
    return spool_of(settings, MAIL_SPOOL).put(raw, label=str(inbox.id))


def take_spooled_mail(database: Database, item: Spooled) -> None:
    """Take in one accepted message and keep its receipt. A message with no Message-ID gets
    one made of its spool name; with the receipt, taking it again after a crash does nothing."""
    with database.session() as session:
        if session.get(InboundMailReceipt, item.name) is not None:
            return
        inbox = session.get(CareInbox, int(item.label))
        if inbox is None:  # the inbox was deleted, its conversations with it
            log.warning("Mail %s came for an inbox that no longer exists", item.name)
            return
        taken = take_mail(
            session, inbox=inbox, raw=item.read(), fallback_message_id=f"<{item.name}@spool>"
        )
        session.add(
            InboundMailReceipt(
                name=item.name,
                workspace_id=inbox.workspace_id,
                inbox_id=inbox.id,
                status=taken.status,
                conversation_id=taken.conversation_id,
                message_id=taken.message_id,
                accepted_at=datetime.fromtimestamp(item.accepted_ns / 1e9, UTC),
            )
        )


def mail_receipt(
    database: Database, settings: Settings, *, inbox_id: int, name: str
) -> Taken | Literal["waiting"] | None:
    """What became of the mail inbox ``inbox_id``'s webhook accepted as ``name``: its outcome
    once taken in, "waiting" while it is still on the disk, None when there is no such mail.

    The disk is looked at first and the receipt read after, in a transaction of its own: a mail
    leaves the disk only once its receipt is committed, so a mail gone from the disk always has
    a receipt to read (an older snapshot could miss it)."""
    waiting = spool_of(settings, MAIL_SPOOL).holds(name, label=str(inbox_id))
    with database.read_session() as session:
        receipt = session.get(InboundMailReceipt, name)
        if receipt is not None:
            if receipt.inbox_id != inbox_id:
                return None
            return Taken(cast(Outcome, receipt.status), receipt.conversation_id, receipt.message_id)
    return "waiting" if waiting else None


def forget_old_receipts(session: Session, *, now: datetime | None = None) -> int:
    """Receipts are kept for a month; how many older ones were removed."""
    cutoff = (now or utcnow()) - RECEIPT_DAYS
    return rowcount(
        session.execute(delete(InboundMailReceipt).where(InboundMailReceipt.taken_at < cutoff))
    )


mail_spool = SpoolHandler(MAIL_SPOOL, take_spooled_mail)
