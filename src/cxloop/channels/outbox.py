"""The outbox of outbound messages: queue a message once per purpose (its dedupe key), claim
due ones for one sender at a time, and record how each attempt went.

Sending is at most once: a message is claimed (``sending``) and committed before it is handed
to the SMTP server, so two workers never send the same row, and a row a crashed worker left in
``sending`` is marked failed rather than sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.channels.adapters import StatusReport
from cxloop.channels.message_rules import check_message
from cxloop.channels.naver_talktalk import valid_user
from cxloop.channels.providers import ADAPTERS
from cxloop.core.db import dialect_insert, rowcount
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.jobs import after_commit
from cxloop.core.pagination import newest_first
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import Customer, OutboundMessage
from cxloop.models.base import table_of
from cxloop.models.channels import MESSAGE_CHANNELS, MESSAGE_STATUSES
from cxloop.profiles.consent import may_send_each
from cxloop.profiles.contact import normalise_email, normalise_phone

PURPOSES = ("service", "marketing")
# Attempts before a message that keeps failing for a transient reason is given up.
MAX_ATTEMPTS = 6
# The wait after the n-th failed attempt: 1, 2, 4, 8, 16 minutes … capped at 6 hours.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
# How long a claimed message may stay in ``sending`` before it counts as interrupted.
SENDING_LEASE = timedelta(minutes=15)
# What ``claim_due`` records on a message a crashed sender left ``sending``: the server may have
# accepted it, so it is never retried, not even by hand.
INTERRUPTED = "The sender stopped while sending; not retried so it is never sent twice."
_INTERRUPTED_REFUSAL = (
    "This message was interrupted while it was being sent and may have been delivered; "
    "it is not retried so it is never sent twice."
)
RECIPIENT_SEARCH_LENGTH = 320
PROVIDER_ID_LENGTH = 300


def _clean_header(value: str, limit: int) -> str:
    return " ".join(value.split())[:limit]


def queue_email(
    session: Session,
    *,
    workspace_id: int,
    recipient: str,
    subject: str,
    text: str,
    html: str = "",
    dedupe_key: str,
    customer_id: int | None = None,
    user_id: int | None = None,
    purpose: str = "service",
    send_after: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> OutboundMessage:
    """Queue an email once per (workspace, dedupe key); asking again returns the first one.
    ``headers``: threading headers (In-Reply-To, References, Reply-To) the email adapter sets."""
    return queue_message(
        session,
        workspace_id=workspace_id,
        channel="email",
        recipient=recipient,
        subject=subject,
        text=text,
        html=html,
        dedupe_key=dedupe_key,
        customer_id=customer_id,
        user_id=user_id,
        purpose=purpose,
        send_after=send_after,
        details={"headers": dict(headers)} if headers else None,
    )


def _recipient(channel: str, recipient: str) -> str:
    """The recipient as the channel addresses it: an email address, a TalkTalk user, or an
    E.164 number."""
    if channel == "talktalk":
        if not valid_user(recipient):
            raise ValidationFailed(
                "The recipient is not a Naver TalkTalk user.",
                errors=[{"field": "recipient", "message": "not a TalkTalk user"}],
            )
        return recipient
    if channel == "email":
        address = normalise_email(recipient)
        if address is None:
            raise ValidationFailed(
                "The recipient is not a valid email address.",
                errors=[{"field": "recipient", "message": "not a valid email address"}],
            )
        return address
    number = normalise_phone(recipient)
    if number is None:
        raise ValidationFailed(
            "The recipient is not a valid phone number.",
            errors=[{"field": "recipient", "message": "not a valid phone number"}],
        )
    return number


def queue_message(
    session: Session,
    *,
    workspace_id: int,
    channel: str,
    recipient: str,
    subject: str = "",
    text: str,
    html: str = "",
    dedupe_key: str,
    customer_id: int | None = None,
    user_id: int | None = None,
    purpose: str = "service",
    send_after: datetime | None = None,
    details: Mapping[str, Any] | None = None,
) -> OutboundMessage:
    """Queue a message on ``channel`` once per (workspace, dedupe key); asking again returns
    the first one. ``details``: what the channel's adapter needs beyond subject and body.

    Safe against concurrent callers: the insert skips a row another transaction stored with
    the same key, and the stored row is returned. Sending starts after the caller commits.
    """
    if channel not in MESSAGE_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(MESSAGE_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )
    address = _recipient(channel, recipient)
    if purpose not in PURPOSES:
        raise ValidationFailed(
            f"purpose must be one of {', '.join(PURPOSES)}.",
            errors=[{"field": "purpose", "message": "unknown purpose"}],
        )
    key = dedupe_key.strip()
    if not key or len(key) > 200:
        raise ValidationFailed(
            "A dedupe key of 1 to 200 characters is required.",
            errors=[{"field": "dedupe_key", "message": "must be 1 to 200 characters"}],
        )
    # A text message's bytes and characters, an Alimtalk's template and variables.
    stored_details = check_message(
        channel, purpose=purpose, subject=subject, text=text, details=details
    )
    now = utcnow()
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "channel": channel,
        "purpose": purpose,
        "customer_id": customer_id,
        "user_id": user_id,
        "recipient": address,
        "subject": _clean_header(subject, 300),
        "body_text": text,
        "body_html": html,
        "details": stored_details,
        "dedupe_key": key,
        "status": "queued",
        "attempts": 0,
        "last_error": "",
        "send_after": as_utc(send_after) if send_after is not None else now,
        "created_at": now,
    }
    insert = dialect_insert(session)
    session.execute(
        insert(table_of(OutboundMessage))
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "dedupe_key"])
    )
    message = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.workspace_id == workspace_id, OutboundMessage.dedupe_key == key)
        .execution_options(populate_existing=True)
    ).one()
    if message.status == "queued":
        _send_after_commit(session, channel)
    return message


def find_message(session: Session, *, workspace_id: int, dedupe_key: str) -> OutboundMessage | None:
    """The message queued under this dedupe key, if any."""
    return session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == workspace_id, OutboundMessage.dedupe_key == dedupe_key
        )
    )


def cancel(session: Session, *, message: OutboundMessage) -> bool:
    """Withdraw a message that has not gone out yet; True when it was still queued."""
    changed = rowcount(
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message.id, OutboundMessage.status == "queued")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(message)
    return changed == 1


# --- operators: reading the outbox and putting failed messages back -----------------------------


def list_messages(
    session: Session,
    *,
    workspace_id: int,
    status: str | None = None,
    channel: str | None = None,
    recipient: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[OutboundMessage], str | None]:
    """A page of the workspace's messages, newest first, and the next page's cursor;
    ``recipient`` matches any part of the address, ignoring case."""
    if status is not None and status not in MESSAGE_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(MESSAGE_STATUSES)}.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    if channel is not None and channel not in MESSAGE_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(MESSAGE_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )
    if recipient is not None and not searchable(recipient):
        raise ValidationFailed(
            "The recipient search must be text without NUL characters.",
            errors=[{"field": "recipient", "message": "must not contain NUL characters"}],
        )
    limit = max(1, min(limit, 200))
    query = select(OutboundMessage).where(OutboundMessage.workspace_id == workspace_id)
    if status is not None:
        query = query.where(OutboundMessage.status == status)
    if channel is not None:
        query = query.where(OutboundMessage.channel == channel)
    term = (recipient or "").strip().lower()[:RECIPIENT_SEARCH_LENGTH]
    if term:
        query = query.where(func.lower(OutboundMessage.recipient).contains(term, autoescape=True))
    return newest_first(
        session,
        query,
        time=OutboundMessage.created_at,
        id=OutboundMessage.id,
        cursor=cursor,
        limit=limit,
    )


def searchable(text: str) -> bool:
    """Whether ``text`` can be searched for: no database stores NUL or a lone surrogate."""
    return not any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text)


def get_message(session: Session, *, workspace_id: int, message_id: int) -> OutboundMessage:
    """One message of the workspace; NotFound for another workspace's id as for a missing one."""
    message = session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.id == message_id, OutboundMessage.workspace_id == workspace_id
        )
    )
    if message is None:
        raise NotFound(f"No message with id {message_id} in this workspace.")
    return message


def _audit(session: Session, principal: Principal, message: OutboundMessage, action: str) -> None:
    record_audit(
        session,
        principal=principal,
        action=action,
        target_type="outbound_message",
        target_id=message.id,
        detail={"customer_id": message.customer_id},  # no address: the log outlives erasure
    )


def retry(session: Session, *, message: OutboundMessage, principal: Principal) -> OutboundMessage:
    """Queue a failed message again, due now and with its full number of attempts. Audited.

    Only ``failed`` changes (checked in the update itself, so a message that another request
    or a sender moved on in the meantime is left alone), and never one a sender was
    interrupted while sending: the server may already have accepted that one.
    """
    if message.status == "failed" and message.last_error == INTERRUPTED:
        raise Conflict(_INTERRUPTED_REFUSAL)
    if not message.recipient:
        raise Conflict("The customer this message was for was erased; it is never sent.")
    changed = rowcount(
        session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.id == message.id,
                OutboundMessage.status == "failed",
                OutboundMessage.last_error != INTERRUPTED,
            )
            .values(status="queued", attempts=0, send_after=utcnow())
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(message)
    if changed != 1:
        if message.status == "failed":  # interrupted by a sender in the meantime
            raise Conflict(_INTERRUPTED_REFUSAL)
        if message.status == "sent":
            raise Conflict("This message was already sent; retrying it would send it twice.")
        raise Conflict(f"Only a failed message can be retried; this one is {message.status}.")
    _send_after_commit(session, message.channel)
    _audit(session, principal, message, "outbox.retry")
    return message


def withdraw(
    session: Session, *, message: OutboundMessage, principal: Principal
) -> OutboundMessage:
    """Cancel a message that is still queued; Conflict once it is sending, sent or settled.
    Audited."""
    if not cancel(session, message=message):
        raise Conflict(f"Only a queued message can be cancelled; this one is {message.status}.")
    _audit(session, principal, message, "outbox.cancel")
    return message


# --- sending -----------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts before the next one."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def claim_due(
    session: Session, *, channel: str | None = None, now: datetime | None = None, limit: int = 50
) -> list[OutboundMessage]:
    """Mark up to ``limit`` due queued messages (of ``channel``, or of any) as ``sending`` and
    return them (oldest first).

    Rows another worker holds are skipped (PostgreSQL ``SKIP LOCKED``; SQLite writers are
    serialised by its write lock), and the status check in the update makes a claim exclusive.
    Commit right after, before sending. Messages left ``sending`` past their lease by a
    crashed worker are marked failed here, never sent a second time.
    """
    now = now or utcnow()
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == "sending", OutboundMessage.send_after <= now)
        .values(
            status="failed",
            last_error=INTERRUPTED,
        )
        .execution_options(synchronize_session=False)
    )
    due = select(OutboundMessage.id).where(
        OutboundMessage.status == "queued", OutboundMessage.send_after <= now
    )
    if channel is not None:
        due = due.where(OutboundMessage.channel == channel)
    ids = list(
        session.scalars(
            due.order_by(OutboundMessage.send_after, OutboundMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    ids = _still_consented(session, ids, now=now)
    if not ids:
        return []
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status == "queued")
        .values(status="sending", send_after=now + SENDING_LEASE)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), OutboundMessage.status == "sending")
            .order_by(OutboundMessage.id)
            .execution_options(populate_existing=True)
        )
    )


def _still_consented(session: Session, ids: list[int], *, now: datetime) -> list[int]:
    """The messages of ``ids`` a customer may still receive now, asked of the consent policy
    again at sending time (an opt-out made after a message was queued is honoured at once):
    one no longer allowed is cancelled with the reason, one held waits until the hold ends."""
    messages = list(
        session.scalars(
            select(OutboundMessage).where(
                OutboundMessage.id.in_(ids), OutboundMessage.customer_id.is_not(None)
            )
        )
    )
    if not messages:
        return ids
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({m.customer_id for m in messages}))
        )
    }
    held_back: set[int] = set()
    for purpose, channel in {(m.purpose, m.channel) for m in messages}:
        mine = [
            m
            for m in messages
            if (m.purpose, m.channel) == (purpose, channel) and m.customer_id in customers
        ]
        decisions = may_send_each(
            session,
            customers=[customers[m.customer_id] for m in mine if m.customer_id is not None],
            purpose=purpose,
            channel=channel,
            at=now,
        )
        for message in mine:
            decision = decisions[message.customer_id]  # type: ignore[index]
            if decision.outcome == "denied":
                message.status = "cancelled"
                message.last_error = f"consent: {decision.reason}"
                held_back.add(message.id)
            elif decision.outcome == "held" and decision.hold_until is not None:
                message.send_after = decision.hold_until
                held_back.add(message.id)
    session.flush()
    return [i for i in ids if i not in held_back]


def mark_sent(
    session: Session,
    *,
    message_id: int,
    provider_message_id: str = "",
    now: datetime | None = None,
) -> None:
    """Record that the provider accepted the message, under its id for it (which its status
    callbacks name)."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.status == "sending")
        .values(
            status="sent",
            sent_at=now or utcnow(),
            attempts=OutboundMessage.attempts + 1,
            last_error="",
            provider_message_id=provider_message_id[:PROVIDER_ID_LENGTH] or None,
        )
        .execution_options(synchronize_session=False)
    )


def record_status(
    session: Session, *, workspace_id: int, report: StatusReport, now: datetime | None = None
) -> OutboundMessage | None:
    """Apply a provider's status callback to the message it names: a sent message becomes
    ``delivered`` or ``bounced``; a bounce outranks an earlier delivery report, and a report
    about a message cxloop does not know (or a repeat of one applied) changes nothing.
    Returns the message the report was about, if cxloop sent it."""
    message = session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.channel == report.channel,
            OutboundMessage.provider_message_id == report.provider_message_id[:PROVIDER_ID_LENGTH],
        )
    )
    if message is None:
        return None
    # Conditional, so a report racing another one for the same message is applied once.
    before = ("sent",) if report.status == "delivered" else ("sent", "delivered")
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.status.in_(before))
        .values(
            status=report.status,
            last_error=report.detail[:2000] if report.status == "bounced" else "",
            reported_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    return message


def mark_failed(
    session: Session,
    *,
    message_id: int,
    error: str,
    transient: bool,
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: queued again after a backoff while attempts remain for a
    transient failure, else ``failed``. Returns the new status."""
    now = now or utcnow()
    attempts = session.scalar(
        select(OutboundMessage.attempts).where(OutboundMessage.id == message_id)
    )
    if attempts is None:
        return "missing"
    attempts += 1
    retry = transient and attempts < MAX_ATTEMPTS
    status = "queued" if retry else "failed"
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.status == "sending")
        .values(
            status=status,
            attempts=attempts,
            last_error=error[:2000],
            send_after=now + retry_delay(attempts) if retry else now,
        )
        .execution_options(synchronize_session=False)
    )
    return status


def release(session: Session, *, message_ids: list[int], now: datetime | None = None) -> None:
    """Put claimed messages back in the queue without counting an attempt (the batch stopped
    before reaching them)."""
    if not message_ids:
        return
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == "sending")
        .values(status="queued", send_after=now or utcnow())
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class OutboxCounts:
    queued: int
    sending: int
    sent: int
    delivered: int
    bounced: int
    failed: int
    cancelled: int
    due: int


def counts(session: Session, *, workspace_id: int | None = None) -> OutboxCounts:
    """How many messages are in each state (in one workspace, or everywhere)."""
    query = select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
    due = select(func.count()).where(
        OutboundMessage.status == "queued", OutboundMessage.send_after <= utcnow()
    )
    if workspace_id is not None:
        query = query.where(OutboundMessage.workspace_id == workspace_id)
        due = due.where(OutboundMessage.workspace_id == workspace_id)
    by_status: dict[str, int] = {status: int(n) for status, n in session.execute(query).all()}
    return OutboxCounts(
        queued=by_status.get("queued", 0),
        sending=by_status.get("sending", 0),
        sent=by_status.get("sent", 0),
        delivered=by_status.get("delivered", 0),
        bounced=by_status.get("bounced", 0),
        failed=by_status.get("failed", 0),
        cancelled=by_status.get("cancelled", 0),
        due=int(session.scalar(due) or 0),
    )


# --- sending starts once the queueing transaction commits ---------------------------------------


def _send_after_commit(session: Session, channel: str = "email") -> None:
    """Start a sender once the transaction that queued a message commits (only when the
    channel's provider is configured; otherwise the message waits in the outbox and a sender
    would do nothing)."""
    adapter = ADAPTERS.get(channel)
    if adapter is None or not adapter.ready(get_settings()):
        return
    # channels.tasks imports this module, so the task is imported when needed.
    from cxloop.channels.tasks import send_outbox

    after_commit(session, send_outbox)
