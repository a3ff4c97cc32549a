"""One raw email taken into an inbox, whichever way it came (the inbound webhook, an IMAP
mailbox): a delivery status report updates the outbox, mail that cannot be read is kept raw
with the reason, and a person's message joins its conversation (see ``intake``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.channels.adapters import Inbound, NotUnderstood, StatusReport
from cxloop.channels.email import read_mail
from cxloop.channels.receiving import take_status_reports
from cxloop.models import CareInbox

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
