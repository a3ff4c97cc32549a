"""The IMAP settings page of an email inbox: the mailbox it polls (server, security, user, a
password that is never shown again, folder), how polling goes (the last poll, the last error and
when it is tried again), a button that tests the connection, and one that stops polling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.care import mailbox as mailboxes
from cxloop.channels.imap import DEFAULT_PORTS
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.models import CareInbox
from cxloop.web import errors
from cxloop.web.care.inboxes import _settings_page
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, flash_text, settings_of, verify_csrf

router = APIRouter(
    prefix="/settings/inboxes", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Text = Annotated[str, Form()]


def _inbox(page: WebContext, inbox_id: int) -> CareInbox:
    require(page.principal, "care:manage")
    return mailboxes.inbox_of(page.db, workspace_id=page.workspace.id, inbox_id=inbox_id)


def _page(
    page: WebContext,
    inbox: CareInbox,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    mailbox = mailboxes.mailbox_of(page.db, inbox=inbox)
    if form is None:
        form = {
            "host": mailbox.host if mailbox else "",
            "port": str(mailbox.port) if mailbox else "",
            "security": mailbox.security if mailbox else "ssl",
            "username": mailbox.username if mailbox else "",
            "folder": mailbox.folder if mailbox else "INBOX",
        }
    values: dict[str, Any] = {"inbox": inbox, "mailbox": mailbox, "form": form, "error": error}
    return _settings_page(
        page, "care/settings_inbox_imap.html", status=status, ports=DEFAULT_PORTS, **values
    )


@router.get("/{inbox_id}/imap")
def mailbox_page(inbox_id: int, page: Page) -> Response:
    """The inbox's IMAP mailbox settings and how polling goes."""
    return _page(page, _inbox(page, inbox_id))


@router.post("/{inbox_id}/imap")
def save_mailbox(
    inbox_id: int,
    page: Page,
    host: Text = "",
    port: Text = "",
    security: Text = "ssl",
    username: Text = "",
    password: Text = "",
    folder: Text = "INBOX",
) -> Response:
    """Save the mailbox (an empty password keeps the stored one)."""
    inbox = _inbox(page, inbox_id)
    form = {
        "host": host[:255],
        "port": port[:5],
        "security": security[:16],
        "username": username[:320],
        "folder": folder[:200],
    }
    if port.strip() and not (port.strip().isdigit() and 1 <= int(port.strip()[:5]) <= 65535):
        error = page.t("inboxes.imap.err_port")
        return _page(page, inbox, form=form, error=error, status=422)
    try:
        with page.db.begin_nested():
            mailboxes.set_mailbox(
                page.db,
                principal=page.principal,
                inbox=inbox,
                host=host[:255],
                port=int(port.strip()[:5]) if port.strip() else None,
                security=security[:16],
                username=username[:320],
                password=password[:1000] or None,
                folder=folder[:200],
            )
    except (ValidationFailed, Conflict) as exc:
        error = errors.describe(page.locale, exc)
        return _page(page, inbox, form=form, error=error, status=422)
    page.flash("success", "inboxes.imap.saved")
    return redirect(f"/settings/inboxes/{inbox.id}/imap")


@router.post("/{inbox_id}/imap/test")
def test_mailbox(inbox_id: int, page: Page) -> Response:
    """Sign in with the saved settings: the folder's message count, or the server's error."""
    inbox = _inbox(page, inbox_id)
    mailbox = mailboxes.mailbox_of(page.db, inbox=inbox)
    if mailbox is None:
        page.flash("error", "inboxes.imap.none")
    else:
        result = mailboxes.check_connection(mailbox, settings=settings_of(page.request))
        if result.ok:
            page.flash("success", "inboxes.imap.test_ok", n=result.messages, folder=mailbox.folder)
        else:
            flash_text(page.request, "error", page.t("inboxes.imap.test_failed", why=result.error))
    return redirect(f"/settings/inboxes/{inbox.id}/imap")


@router.post("/{inbox_id}/imap/remove")
def remove_mailbox(inbox_id: int, page: Page, confirm: Text = "") -> Response:
    """Stop polling the mailbox and forget its settings (asks for a tick first)."""
    inbox = _inbox(page, inbox_id)
    if confirm != "yes":
        page.flash("error", "inboxes.imap.confirm_needed")
        return redirect(f"/settings/inboxes/{inbox.id}/imap")
    mailboxes.remove_mailbox(page.db, principal=page.principal, inbox=inbox)
    page.flash("success", "inboxes.imap.removed")
    return redirect("/settings/inboxes")
