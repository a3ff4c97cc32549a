"""One raw email taken into an inbox, whichever way it came (the inbound webhook, an IMAP
mailbox): a delivery status report updates the outbox, mail that cannot be read is kept raw
with the reason, and a person's message joins its conversation (see ``intake``).

The webhook only keeps the mail on the disk (``accept_mail``) and answers; right after the
answer, one request at a time per process takes in whatever mail waits, up to ``MAIL_BATCH``
messages per transaction (``take_spooled_mails``), and the spool's sweep takes what a crash
left."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.channels.adapters import Inbound, NotUnderstood, StatusReport
from cxloop.channels.email import read_mail
from cxloop.channels.receiving import take_status_reports
from cxloop.core.db import Database, rowcount, settled_reads
from cxloop.core.settings import Settings
from cxloop.core.spool import Spooled, SpoolHandler, Unfinished, spool_of
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, InboundMailReceipt, Workspace

log = logging.getLogger(__name__)
MAIL_SPOOL = "email"
RECEIPT_DAYS = timedelta(days=30)
# Messages taken in per transaction: one commit (and on SQLite one turn of the write lock) for
# many, while a transaction stays short enough not to hold the lock for long: a batch takes no
# new message after MAIL_BATCH_SECONDS (the rest wait for the next one).
MAIL_BATCH = 50
MAIL_BATCH_SECONDS = 0.5

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
        if session.get(InboundMailReceipt, item.name) is None:
            _take_in(session, item)


def take_spooled_mails(
    database: Database, items: Sequence[Spooled], *, seconds: float = MAIL_BATCH_SECONDS
) -> Unfinished:
    """Take in accepted messages in one transaction, each with its receipt in a savepoint of
    its own: a message that fails is rolled back alone and named (it stays on the disk for
    the next sweep), the others commit. Messages with a receipt are skipped, so a batch taken
    again after a crash does nothing twice; a reply threads under an original taken earlier
    in the same batch, as it would a moment later. After ``seconds`` the rest are left for
    the next batch."""
    failed: set[str] = set()
    not_reached: set[str] = set()
    deadline = time.monotonic() + seconds
    # Each inbox and its workspace held for the whole batch, so each is read once (the
    # session forgets what nothing references).
    held: dict[int, tuple[CareInbox, Workspace | None]] = {}
    with database.session() as session, settled_reads(session):
        receipted = set(
            session.scalars(
                select(InboundMailReceipt.name).where(
                    InboundMailReceipt.name.in_([item.name for item in items])
                )
            )
        )
        for item in items:
            if item.name in receipted:
                continue
            if (failed or held) and time.monotonic() > deadline:
                not_reached.add(item.name)
                continue
            try:
                with session.begin_nested():
                    inbox = _take_in(session, item)
            except Exception:
                log.exception("Mail %s was not taken in; it stays for the next sweep", item.name)
                failed.add(item.name)
                continue
            if inbox is not None and inbox.id not in held:
                held[inbox.id] = (inbox, session.get(Workspace, inbox.workspace_id))
    return Unfinished(frozenset(failed), frozenset(not_reached))


def _take_in(session: Session, item: Spooled) -> CareInbox | None:
    """Take in one accepted message with its receipt; its inbox (None when it is gone)."""
    inbox = session.get(CareInbox, int(item.label))
    if inbox is None:  # the inbox was deleted, its conversations with it
        log.warning("Mail %s came for an inbox that no longer exists", item.name)
        return None
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
    return inbox


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


mail_spool = SpoolHandler(
    MAIL_SPOOL, take_spooled_mail, batch=take_spooled_mails, batch_size=MAIL_BATCH
)
