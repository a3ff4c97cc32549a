"""REST API of an email inbox's IMAP mailbox (admins): set it, read its state (never the
password), test the connection, stop polling it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from fastapi import Path as FastPath
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import mailbox as mailboxes
from cxloop.core.errors import NotFound
from cxloop.core.settings import get_settings
from cxloop.models import CareMailbox

router = APIRouter(prefix="/api/v1/care/inboxes", tags=["care"])

InboxId = Annotated[int, FastPath(ge=1, le=2**31, description="Inbox id")]


class MailboxIn(BaseModel):
    host: str = Field(max_length=255, description="The IMAP server, e.g. imap.gmail.com")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="993 for ssl, 143 for starttls when left out"
    )
    security: Literal["ssl", "starttls", "none"] = Field(
        default="ssl", description="none only for a server on this machine (127.0.0.1)"
    )
    username: str = Field(max_length=320)
    password: str | None = Field(
        default=None, max_length=1000, description="Left out: the stored one is kept"
    )
    folder: str = Field(default="INBOX", max_length=200)


class MailboxOut(BaseModel):
    inbox_id: int
    host: str
    port: int
    security: str
    username: str
    folder: str
    uidvalidity: int | None
    last_uid: int = Field(description="The last message (UID) taken in")
    polled_at: datetime | None = Field(description="The last poll that went through")
    last_error: str = Field(description="Why the last poll failed; empty when it did not")
    last_error_at: datetime | None
    retry_at: datetime | None = Field(description="When a failing mailbox is tried again")


class ConnectionOut(BaseModel):
    ok: bool
    messages: int | None = Field(description="How many messages the folder holds")
    error: str
    summary: str = Field(description="The result in one line")


def _out(mailbox: CareMailbox) -> MailboxOut:
    return MailboxOut(**{name: getattr(mailbox, name) for name in MailboxOut.model_fields})


def _mailbox(session: Session, principal: Principal, inbox_id: int) -> CareMailbox:
    inbox = mailboxes.inbox_of(session, workspace_id=principal.workspace_id, inbox_id=inbox_id)
    found = mailboxes.mailbox_of(session, inbox=inbox)
    if found is None:
        raise NotFound("This inbox reads no IMAP mailbox.")
    return found


@router.get("/{inbox_id}/imap", response_model=MailboxOut)
def get_mailbox(inbox_id: InboxId, principal: ApiPrincipal, session: DbSession) -> MailboxOut:
    """The IMAP mailbox the inbox polls and how polling goes (never the password)."""
    require(principal, "care:manage")
    return _out(_mailbox(session, principal, inbox_id))


@router.put("/{inbox_id}/imap", response_model=MailboxOut)
def set_mailbox(
    inbox_id: InboxId, body: MailboxIn, principal: ApiPrincipal, session: DbSession
) -> MailboxOut:
    """Poll this IMAP mailbox for the inbox's mail (every minute). Another server, user or
    folder is read from the start: the messages nobody has read yet, then every new one."""
    require(principal, "care:manage")
    inbox = mailboxes.inbox_of(session, workspace_id=principal.workspace_id, inbox_id=inbox_id)
    mailbox = mailboxes.set_mailbox(session, principal=principal, inbox=inbox, **body.model_dump())
    return _out(mailbox)


@router.delete("/{inbox_id}/imap", status_code=204)
def remove_mailbox(inbox_id: InboxId, principal: ApiPrincipal, session: DbSession) -> Response:
    """Stop polling the mailbox and forget its settings (the mail taken in stays)."""
    require(principal, "care:manage")
    inbox = mailboxes.inbox_of(session, workspace_id=principal.workspace_id, inbox_id=inbox_id)
    if not mailboxes.remove_mailbox(session, principal=principal, inbox=inbox):
        raise NotFound("This inbox reads no IMAP mailbox.")
    return Response(status_code=204)


@router.post("/{inbox_id}/imap/test", response_model=ConnectionOut)
def test_mailbox(inbox_id: InboxId, principal: ApiPrincipal, session: DbSession) -> ConnectionOut:
    """Sign in with the stored settings and open the folder: how many messages it holds, or
    the server's error."""
    require(principal, "care:manage")
    result = mailboxes.check_connection(
        _mailbox(session, principal, inbox_id), settings=get_settings()
    )
    return ConnectionOut(
        ok=result.ok, messages=result.messages, error=result.error, summary=result.summary
    )
