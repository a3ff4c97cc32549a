"""REST API of the outbox: list what cxloop sends (filters and cursor pages, never the bodies),
put a failed message back in the queue, and cancel a queued one (both audited); and take the
delivery status reports a provider sends back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from fastapi import Path as FastPath
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.channels import outbox
from cxloop.channels.receiving import take_status_reports
from cxloop.models import OutboundMessage

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])

MessageId = Annotated[int, FastPath(ge=1, le=2**53, description="Message id")]
MessageStatus = Literal["queued", "sending", "sent", "delivered", "bounced", "failed", "cancelled"]
MessageChannel = Literal["email", "sms", "kakao", "talktalk"]


class MessageOut(BaseModel):
    """One outgoing message without its body (bodies hold personal links and text)."""

    id: int
    channel: str
    purpose: str = Field(description="service (invitations, notices) or marketing")
    recipient: str
    subject: str
    status: str
    attempts: int = Field(description="Attempts made since the message was last queued")
    last_error: str = Field(description="Why the last attempt failed; empty when none did")
    customer_id: int | None
    user_id: int | None
    send_after: datetime = Field(description="When the next attempt is due (queued messages)")
    created_at: datetime
    sent_at: datetime | None
    reported_at: datetime | None = Field(
        description="When the provider last reported on it (delivered, bounced)"
    )


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


def _out(message: OutboundMessage) -> MessageOut:
    return MessageOut(**{name: getattr(message, name) for name in MessageOut.model_fields})


def _message(session: Session, principal: Principal, message_id: int) -> OutboundMessage:
    return outbox.get_message(session, workspace_id=principal.workspace_id, message_id=message_id)


@router.get("", response_model=MessagePage)
def list_messages(
    principal: ApiPrincipal,
    session: DbSession,
    status: MessageStatus | None = None,
    channel: MessageChannel | None = None,
    recipient: Annotated[
        str | None,
        Query(max_length=outbox.RECIPIENT_SEARCH_LENGTH, description="Part of the address"),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:
    """The workspace's outgoing messages, newest first, with cursor pagination."""
    require(principal, "outbox:manage")
    rows, next_cursor = outbox.list_messages(
        session,
        workspace_id=principal.workspace_id,
        status=status,
        channel=channel,
        recipient=recipient,
        cursor=cursor,
        limit=limit,
    )
    return MessagePage(items=[_out(row) for row in rows], next_cursor=next_cursor)


@router.post("/{message_id}/retry", response_model=MessageOut)
def retry_message(message_id: MessageId, principal: ApiPrincipal, session: DbSession) -> MessageOut:
    """Queue a failed message again, due now with its full attempts; 409 for any other
    status (a sent message is never sent twice). Audited."""
    require(principal, "outbox:manage")
    message = _message(session, principal, message_id)
    outbox.retry(session, message=message, principal=principal)
    return _out(message)


@router.post("/{message_id}/cancel", response_model=MessageOut)
def cancel_message(
    message_id: MessageId, principal: ApiPrincipal, session: DbSession
) -> MessageOut:
    """Cancel a queued message so it is never sent; 409 once it is sending or settled.
    Audited."""
    require(principal, "outbox:manage")
    message = _message(session, principal, message_id)
    outbox.withdraw(session, message=message, principal=principal)
    return _out(message)


class ReportsOut(BaseModel):
    reports: int = Field(description="Status reports the payload held")
    messages: dict[int, str] = Field(
        description="The workspace's messages they were about, by id, with their status now"
    )


@router.post(
    "/delivery-reports/email",
    response_model=ReportsOut,
    openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}}}},
)
def email_delivery_reports(
    principal: ApiPrincipal,
    session: DbSession,
    payload: Annotated[bytes, Body(media_type="message/rfc822")] = b"",
) -> ReportsOut:
    """Take a delivery status notification (RFC 3464, as a mail server returns it to the
    sender's address) as raw mail: the message it names becomes ``bounced`` or
    ``delivered``. Pipe the bounce mailbox here; 422 for what is not such a report."""
    require(principal, "outbox:manage")
    taken = take_status_reports(
        session,
        workspace_id=principal.workspace_id,
        channel="email",
        payload=payload,
        content_type="message/rfc822",
    )
    return ReportsOut(reports=taken.reports, messages=taken.messages)
