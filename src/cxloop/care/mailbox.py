"""IMAP mailboxes of email inboxes: where each is and how to sign in (set by admins, the
password sealed with the secret key), a test of the connection, and the poll that takes new
mail in through the same path as the inbound webhook (``inbound_mail.take_mail``).

How a poll reads a folder:
- the first time (and whenever the folder's UIDVALIDITY changed, which means its UIDs were
  given anew) it takes the messages nobody has read yet, then remembers the UIDVALIDITY and the
  folder's highest UID; after that, every message with a higher UID;
- messages are fetched without being marked read, stored in batches, and the last UID is
  remembered in the same transaction as the messages it covers, so a crash between fetching
  and committing loses nothing; what is fetched again is stored once (by Message-ID, or by a
  hash of the message when it has none);
- once stored they are flagged \\Seen;
- a message larger than the inbox takes is kept with its header and the reason, never dropped;
- when the server cannot be reached or refuses, the error and its time are recorded on the
  mailbox and the next poll waits 1, 2, 4 … minutes (at most an hour); the worker goes on.
A lease on the mailbox row keeps two workers from reading one mailbox at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import intake
from cxloop.care.inbound_mail import take_mail
from cxloop.channels.imap import (
    DEFAULT_PORTS,
    Account,
    Fetched,
    ImapError,
    Mailbox,
    Security,
    account_problem,
    check,
)
from cxloop.core.db import Database
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.sealing import CannotUnseal, seal, unseal
from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, CareMailbox

log = logging.getLogger(__name__)

BATCH_MESSAGES = 25
BATCH_BYTES = 20 * 1024 * 1024
LEASE = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field_name, "message": message}])


# --- settings ----------------------------------------------------------------------------------


def inbox_of(session: Session, *, workspace_id: int, inbox_id: int) -> CareInbox:
    """The workspace's inbox with this id (NotFound otherwise)."""
    inbox = session.scalar(
        select(CareInbox).where(CareInbox.id == inbox_id, CareInbox.workspace_id == workspace_id)
    )
    if inbox is None:
        raise NotFound(f"No inbox with id {inbox_id} in this workspace.")
    return inbox


def mailbox_of(session: Session, *, inbox: CareInbox) -> CareMailbox | None:
    return session.scalar(
        select(CareMailbox).where(
            CareMailbox.inbox_id == inbox.id, CareMailbox.workspace_id == inbox.workspace_id
        )
    )


def by_inbox(session: Session, *, workspace_id: int) -> dict[int, CareMailbox]:
    """The workspace's mailboxes by the id of the inbox that reads each."""
    rows = session.scalars(select(CareMailbox).where(CareMailbox.workspace_id == workspace_id))
    return {mailbox.inbox_id: mailbox for mailbox in rows}


def set_mailbox(
    session: Session,
    *,
    principal: Principal,
    inbox: CareInbox,
    host: str,
    port: int | None,
    security: str,
    username: str,
    password: str | None,
    folder: str = "INBOX",
) -> CareMailbox:
    """Set (or change) the IMAP mailbox ``inbox`` polls; ``password`` None keeps the stored
    one. A different server, user or folder is read from the start. Audited, without the
    password."""
    if inbox.channel != "email":
        raise Conflict("Only an email inbox reads a mailbox.")
    host = host.strip().lower()
    port = port or DEFAULT_PORTS.get(security, 993)
    problem = account_problem(host, port, security)
    if problem is not None:
        raise _invalid(*problem)
    username = username.strip()
    if not 1 <= len(username) <= 320:
        raise _invalid("username", "A user name of 1 to 320 characters is required.")
    folder = folder.strip() or "INBOX"
    if len(folder) > 200 or any(ord(c) < 0x20 for c in folder):
        raise _invalid("folder", "A folder name is at most 200 characters, without line breaks.")
    if password is not None and not 1 <= len(password) <= 1000:
        raise _invalid("password", "A password of 1 to 1,000 characters is required.")
    mailbox = mailbox_of(session, inbox=inbox)
    if mailbox is None:
        if password is None:
            raise _invalid("password", "The mailbox's password is required.")
        mailbox = CareMailbox(workspace_id=inbox.workspace_id, inbox_id=inbox.id, last_uid=0)
        session.add(mailbox)
    elif (mailbox.host, mailbox.username, mailbox.folder) != (host, username, folder):
        mailbox.uidvalidity, mailbox.last_uid = None, 0  # another mailbox: from the start
    mailbox.host, mailbox.port, mailbox.security = host, port, security
    mailbox.username, mailbox.folder = username, folder
    if password is not None:
        mailbox.password_sealed = seal(password, settings=get_settings())
    mailbox.last_error, mailbox.last_error_at = "", None
    mailbox.failures, mailbox.retry_at = 0, None
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.inbox_imap_set",
        target_type="care_inbox",
        target_id=inbox.id,
        detail={"host": host, "port": port, "security": security, "folder": folder},
    )
    return mailbox


def remove_mailbox(session: Session, *, principal: Principal, inbox: CareInbox) -> bool:
    """Stop polling ``inbox``'s mailbox and forget its settings; False when it had none."""
    mailbox = mailbox_of(session, inbox=inbox)
    if mailbox is None:
        return False
    session.delete(mailbox)
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.inbox_imap_remove",
        target_type="care_inbox",
        target_id=inbox.id,
    )
    return True


def _account(mailbox: CareMailbox, settings: Settings) -> Account:
    security: Security = mailbox.security  # type: ignore[assignment]
    return Account(
        host=mailbox.host,
        port=mailbox.port,
        security=security,
        username=mailbox.username,
        password=unseal(mailbox.password_sealed, settings=settings),
        folder=mailbox.folder,
    )


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    messages: int | None  # how many messages the folder holds, when signed in
    error: str  # the server's or the network's word, in one line, when not

    @property
    def summary(self) -> str:
        if self.ok:
            return f"Signed in; the folder holds {self.messages} messages."
        return self.error


def check_connection(mailbox: CareMailbox, *, settings: Settings) -> ConnectionCheck:
    """Sign in to the mailbox and open its folder: how many messages it holds, or why not."""
    try:
        count = check(_account(mailbox, settings), ca_file=settings.imap_ca_file)
    except (ImapError, CannotUnseal) as exc:
        return ConnectionCheck(ok=False, messages=None, error=str(exc))
    return ConnectionCheck(ok=True, messages=count, error="")


# --- polling -----------------------------------------------------------------------------------


@dataclass
class PollReport:
    mailbox_id: int
    stored: int = 0  # new customer messages
    duplicates: int = 0  # fetched again, stored before
    other: int = 0  # delivery reports, stray auto-replies, unreadable mail
    error: str = ""
    skipped: bool = False  # another worker holds it
    outcomes: list[str] = field(default_factory=list)

    def count(self, outcomes: Sequence[str]) -> None:
        self.outcomes.extend(outcomes)
        self.stored += outcomes.count("stored")
        self.duplicates += outcomes.count("duplicate")
        self.other += len(outcomes) - outcomes.count("stored") - outcomes.count("duplicate")


def due_mailboxes(session: Session, *, now: datetime) -> list[int]:
    """The mailboxes of active inboxes whose next poll is due and that nobody holds."""
    return list(
        session.scalars(
            select(CareMailbox.id)
            .join(CareInbox, CareInbox.id == CareMailbox.inbox_id)
            .where(
                CareInbox.active.is_(True),
                or_(CareMailbox.retry_at.is_(None), CareMailbox.retry_at <= now),
                or_(CareMailbox.lease_until.is_(None), CareMailbox.lease_until < now),
            )
            .order_by(CareMailbox.id)
        )
    )


def poll_due(
    database: Database, *, settings: Settings, now: datetime | None = None
) -> list[PollReport]:
    """Poll every mailbox that is due; an error is recorded on its mailbox, never raised."""
    moment = now or utcnow()
    with database.session() as session:
        ids = due_mailboxes(session, now=moment)
    return [poll(database, mailbox_id=i, settings=settings, now=moment) for i in ids]


def poll(
    database: Database, *, mailbox_id: int, settings: Settings, now: datetime | None = None
) -> PollReport:
    """Take the mailbox's new mail in (see the module's rules). Errors of the server, the
    network or the stored password are recorded on the mailbox and returned in the report."""
    moment = now or utcnow()
    report = PollReport(mailbox_id)
    if not _claim(database, mailbox_id, moment):
        report.skipped = True
        return report
    try:
        _read(database, mailbox_id, settings, report, moment)
    except (ImapError, CannotUnseal) as exc:
        report.error = str(exc)
    except Exception as exc:  # a bug or a database error: recorded, and tried again later
        log.exception("polling mailbox %s failed", mailbox_id)
        report.error = f"cxloop could not take the mail in: {type(exc).__name__}: {exc}"[:1000]
    except BaseException:  # stopped (a signal, an exit): let go of the mailbox, record nothing
        _release(database, mailbox_id)
        raise
    _finish(database, mailbox_id, report, moment)
    return report


def _claim(database: Database, mailbox_id: int, now: datetime) -> bool:
    with database.session() as session:
        claimed = session.execute(
            update(CareMailbox)
            .where(
                CareMailbox.id == mailbox_id,
                or_(CareMailbox.lease_until.is_(None), CareMailbox.lease_until < now),
            )
            .values(lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(claimed, "rowcount", 0))


def _release(database: Database, mailbox_id: int) -> None:
    try:
        with database.session() as session:
            session.execute(
                update(CareMailbox)
                .where(CareMailbox.id == mailbox_id)
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError:  # the lease runs out by itself
        log.exception("could not release mailbox %s", mailbox_id)


def _finish(database: Database, mailbox_id: int, report: PollReport, now: datetime) -> None:
    """Release the mailbox and record how the poll went (the error and the next try's time)."""
    try:
        with database.session() as session:
            mailbox = session.get(CareMailbox, mailbox_id)
            if mailbox is None:
                return
            mailbox.lease_until = None
            if report.error:
                mailbox.failures += 1
                wait = min(FIRST_RETRY * 2 ** min(mailbox.failures - 1, 12), LONGEST_RETRY)
                mailbox.last_error, mailbox.last_error_at = report.error[:1000], now
                mailbox.retry_at = now + wait
            elif not report.skipped:
                mailbox.polled_at, mailbox.failures, mailbox.retry_at = now, 0, None
                mailbox.last_error, mailbox.last_error_at = "", None
    except SQLAlchemyError:  # the lease runs out by itself
        log.exception("could not record the poll of mailbox %s", mailbox_id)


def _read(
    database: Database, mailbox_id: int, settings: Settings, report: PollReport, now: datetime
) -> None:
    with database.session() as session:
        mailbox = session.get(CareMailbox, mailbox_id)
        if mailbox is None:
            return
        account = _account(mailbox, settings)
        known, last_uid = mailbox.uidvalidity, mailbox.last_uid
    with Mailbox(account, ca_file=settings.imap_ca_file) as box:
        fresh = known != box.uidvalidity
        # A folder read for the first time, or whose UIDs were given anew: what nobody has
        # read yet; otherwise everything after the last message stored.
        uids = box.unseen_uids() if fresh else box.uids_after(last_uid)
        highest = max([box.uidnext - 1, *uids]) if fresh else last_uid
        sizes = box.sizes(uids)
        for batch in _batches([u for u in uids if u in sizes], sizes):
            fetched = [
                f
                for uid in batch
                if (f := box.fetch(uid, size=sizes[uid], max_bytes=_limit(settings))) is not None
            ]
            with database.session() as session:
                outcomes = _store(session, mailbox_id, fetched, settings)
                if fresh:
                    _hold(session, mailbox_id, now)
                else:  # remembered with the messages it covers
                    _remember(session, mailbox_id, box.uidvalidity, max(batch), now)
            report.count(outcomes)  # committed
            box.mark_seen([f.uid for f in fetched])
        with database.session() as session:
            _remember(session, mailbox_id, box.uidvalidity, highest, now)


def _limit(settings: Settings) -> int:
    return settings.max_inbound_mail_bytes


def _batches(uids: Sequence[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        if batch and (len(batch) >= BATCH_MESSAGES or total + sizes[uid] > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        yield batch


def _hold(session: Session, mailbox_id: int, now: datetime) -> CareMailbox | None:
    """Keep the lease while reading: a long first read is not taken up by another worker."""
    mailbox = session.get(CareMailbox, mailbox_id)
    if mailbox is not None:
        mailbox.lease_until = max(now, utcnow()) + LEASE
    return mailbox


def _remember(
    session: Session, mailbox_id: int, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    mailbox = _hold(session, mailbox_id, now)
    if mailbox is None:
        return
    if mailbox.uidvalidity != uidvalidity:
        mailbox.uidvalidity, mailbox.last_uid = uidvalidity, 0
    mailbox.last_uid = max(mailbox.last_uid, last_uid)


def _store(
    session: Session, mailbox_id: int, fetched: Sequence[Fetched], settings: Settings
) -> list[str]:
    """Take a batch of fetched messages in; what happened to each."""
    mailbox = session.get(CareMailbox, mailbox_id)
    inbox = session.get(CareInbox, mailbox.inbox_id) if mailbox is not None else None
    if inbox is None:
        return []
    return [_take(session, inbox, item, settings) for item in fetched]


def _take(session: Session, inbox: CareInbox, item: Fetched, settings: Settings) -> str:
    """Take one fetched message in; what happened to it."""
    if not item.whole:
        intake.keep_unreadable(
            session,
            inbox=inbox,
            raw=item.raw,
            problem=(
                f"The message is {item.size:,} bytes, more than the {_limit(settings):,} an "
                "inbox takes; only its header is kept."
            ),
        )
        return "unreadable"
    fallback = f"<imap-{hashlib.sha256(item.raw).hexdigest()[:40]}@cxloop.invalid>"
    try:
        with session.begin_nested():
            return take_mail(
                session, inbox=inbox, raw=item.raw, fallback_message_id=fallback
            ).status
    except SQLAlchemyError:
        raise  # the database's trouble: the batch is tried again later
    except Exception as exc:  # the message's: keep it raw so the mailbox is not stuck on it
        log.exception("mail UID %s of inbox %s could not be taken in", item.uid, inbox.id)
        intake.keep_unreadable(
            session,
            inbox=inbox,
            raw=item.raw,
            problem=f"cxloop could not read this message ({type(exc).__name__}); it is kept raw.",
        )
        return "unreadable"
