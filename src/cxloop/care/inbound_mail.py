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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.channels.adapters import Inbound, NotUnderstood, Received, StatusReport
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
# Messages of a batch read (and their ids looked up) together, ahead of taking them in: few
# enough that little is read in vain when the batch runs out of time.
READ_AHEAD = 10

Outcome = Literal["stored", "duplicate", "delivery_report", "automatic", "unreadable"]


@dataclass(frozen=True)
class Taken:
    status: Outcome
    conversation_id: int | None = None
    message_id: int | None = None


Read = list[Received] | NotUnderstood


def read_raw(raw: bytes) -> Read:
    """What a raw message says (see ``read_mail``), or why it cannot be read."""
    try:
        return read_mail(raw)
    except NotUnderstood as exc:
        return exc


def _person_mail(read: Read, fallback_message_id: str) -> Inbound | None:
    """The person's message in what was read (None for a report or what cannot be read),
    with ``fallback_message_id`` standing in for a missing Message-ID."""
    if isinstance(read, NotUnderstood) or all(isinstance(i, StatusReport) for i in read):
        return None
    mail = next(item for item in read if isinstance(item, Inbound))
    if not mail.provider_message_id and fallback_message_id:
        mail = replace(mail, provider_message_id=fallback_message_id)
    return mail


def take_mail(
    session: Session,
    *,
    inbox: CareInbox,
    raw: bytes,
    fallback_message_id: str = "",
    read: Read | None = None,
) -> Taken:
    """Take one raw RFC 822 message into ``inbox``. ``fallback_message_id`` stands in for a
    missing Message-ID, so a message fetched twice is still stored once; ``read`` is what
    ``read_raw`` made of it, when it was read before."""
    if read is None:
        read = read_raw(raw)
    if isinstance(read, NotUnderstood):
        kept = intake.keep_unreadable(session, inbox=inbox, raw=raw, problem=str(read))
        return Taken("unreadable", kept.conversation_id, kept.id)
    mail = _person_mail(read, fallback_message_id)
    if mail is None:
        take_status_reports(
            session,
            workspace_id=inbox.workspace_id,
            channel="email",
            payload=raw,
            content_type="message/rfc822",
        )
        return Taken("delivery_report")
    result = intake.receive_email(session, inbox=inbox, mail=mail)
    if result is None:
        return Taken("automatic")
    return Taken(
        "stored" if result.created else "duplicate", result.conversation.id, result.message.id
    )


def accept_mail(settings: Settings, *, inbox_id: int, raw: bytes) -> str:
    """Keep a raw message for inbox ``inbox_id`` on the disk, to be taken in after the webhook
    answered; the name it is kept under."""
    return spool_of(settings, MAIL_SPOOL).put(raw, label=str(inbox_id))


def take_spooled_mail(database: Database, item: Spooled) -> None:
    """Take in one accepted message and keep its receipt. A message with no Message-ID gets
    one made of its spool name; with the receipt, taking it again after a crash does nothing."""
    with database.session() as session:
        if session.get(InboundMailReceipt, item.name) is None:
            inbox = session.get(CareInbox, int(item.label))
            _take_in(session, item, inbox, item.read(), None)


def take_spooled_mails(
    database: Database, items: Sequence[Spooled], *, seconds: float = MAIL_BATCH_SECONDS
) -> Unfinished:
    """Take in accepted messages in one transaction, each with its receipt. Messages with a
    receipt are skipped, so a batch taken again after a crash does nothing twice; a reply
    threads under an original taken earlier in the same batch, as it would a moment later.
    After ``seconds`` the rest are left for the next batch.

    The batch is first tried whole, with nothing between its messages. When one of them fails
    the transaction is rolled back and the batch taken again with each message in a savepoint
    of its own: the one that fails is rolled back alone and named (it stays on the disk for
    the next sweep), the others commit. (Two statements a message saved on every batch that
    does not fail, which is nearly all of them.)

    The batch's inboxes are read in one query, its messages read before any is taken in, and
    the ids they name (their own Message-IDs, those they answer) looked up at once, so a new
    message costs no look-up of ids nobody holds (see ``intake.mail_batch``)."""
    try:
        return _take_batch(database, items, seconds=seconds, alone=False)
    except Exception:
        log.warning(
            "A batch of %d mails failed; taking them again, each on its own",
            len(items),
            exc_info=True,
        )
    return _take_batch(database, items, seconds=seconds, alone=True)


def _take_batch(
    database: Database, items: Sequence[Spooled], *, seconds: float, alone: bool
) -> Unfinished:
    """One go at a batch (see ``take_spooled_mails``); ``alone``: each message in a savepoint,
    else a message that fails fails the batch."""
    failed: set[str] = set()
    not_reached: set[str] = set()
    deadline = time.monotonic() + seconds
    with database.session() as session, settled_reads(session), intake.mail_batch(session):
        receipted = set(
            session.scalars(
                select(InboundMailReceipt.name).where(
                    InboundMailReceipt.name.in_([item.name for item in items])
                )
            )
        )
        todo = [item for item in items if item.name not in receipted]
        # Held for the whole batch (the session forgets what nothing references).
        inboxes = {
            inbox.id: inbox
            for inbox in session.scalars(
                select(CareInbox).where(CareInbox.id.in_({int(i.label) for i in todo}))
            )
        }
        _workspaces = session.scalars(
            select(Workspace).where(Workspace.id.in_({i.workspace_id for i in inboxes.values()}))
        ).all()
        attempted = False
        for first in range(0, len(todo), READ_AHEAD):
            chunk = todo[first : first + READ_AHEAD]
            if attempted and time.monotonic() > deadline:
                not_reached |= {item.name for item in chunk}
                continue
            raws = _read_ahead(session, chunk, inboxes, failed)
            for item in chunk:
                if item.name not in raws:
                    continue
                if attempted and time.monotonic() > deadline:
                    not_reached.add(item.name)
                    continue
                attempted = True
                raw, read = raws[item.name]
                if not alone:
                    _take_in(session, item, inboxes.get(int(item.label)), raw, read)
                    continue
                mark = intake.mark(session)
                try:
                    with session.begin_nested():
                        _take_in(session, item, inboxes.get(int(item.label)), raw, read)
                except Exception:
                    log.exception(
                        "Mail %s was not taken in; it stays for the next sweep", item.name
                    )
                    intake.forget_since(session, mark)
                    failed.add(item.name)
    return Unfinished(frozenset(failed), frozenset(not_reached))


def _read_ahead(
    session: Session,
    items: Sequence[Spooled],
    inboxes: Mapping[int, CareInbox],
    failed: set[str],
) -> dict[str, tuple[bytes, Read]]:
    """Read ``items`` (each raw and as read) and look up at once the ids they name; one that
    cannot be read from the disk is added to ``failed``."""
    raws: dict[str, tuple[bytes, Read]] = {}
    mails: list[tuple[CareInbox, Inbound]] = []
    for item in items:
        try:
            raw = item.read()
            raws[item.name] = (raw, read_raw(raw))
        except Exception:
            log.exception("Mail %s was not read; it stays for the next sweep", item.name)
            failed.add(item.name)
            continue
        inbox = inboxes.get(int(item.label))
        mail = _person_mail(raws[item.name][1], _fallback_id(item))
        if inbox is not None and mail is not None:
            mails.append((inbox, mail))
    intake.expect_mail(session, mails)
    return raws


def _fallback_id(item: Spooled) -> str:
    return f"<{item.name}@spool>"


def _take_in(
    session: Session, item: Spooled, inbox: CareInbox | None, raw: bytes, read: Read | None
) -> None:
    """Take in one accepted message, ``raw``, with its receipt (``read``: what ``read_raw``
    made of it, when it was read before)."""
    if inbox is None:  # the inbox was deleted, its conversations with it
        log.warning("Mail %s came for an inbox that no longer exists", item.name)
        return
    taken = take_mail(
        session, inbox=inbox, raw=raw, fallback_message_id=_fallback_id(item), read=read
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


mail_spool = SpoolHandler(
    MAIL_SPOOL, take_spooled_mail, batch=take_spooled_mails, batch_size=MAIL_BATCH
)
