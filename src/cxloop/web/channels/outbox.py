"""The outbox settings page: what cxloop sends (counts by status, filters, a page at a time),
with retry for failed messages and cancel for queued ones, both audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts.access import require
from cxloop.channels import outbox
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.models import OutboundMessage
from cxloop.models.channels import MESSAGE_CHANNELS, MESSAGE_STATUSES
from cxloop.profiles.service import customers_by_ids
from cxloop.web import errors
from cxloop.web.accounts.admin import settings_page
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, safe_next, settings_of, verify_csrf

router = APIRouter(
    prefix="/settings/outbox", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

PAGE_SIZE = 50
HOME = "/settings/outbox"
MAX_ID = 2**53
# The look of each status (badge classes shared with the rest of the UI).
STATUS_BADGES = {
    "queued": "info",
    "sending": "warn",
    "sent": "ok",
    "failed": "bad",
    "cancelled": "muted",
}
NextField = Annotated[str, Form(alias="next")]


def _settings_page(page: WebContext, *, status: int = 200, **values: Any) -> HTMLResponse:
    return settings_page(
        page,
        "channels/settings_outbox.html",
        section="outbox",
        mail_server=settings_of(page.request).smtp_host is not None,
        status=status,
        **values,
    )


def _message(page: WebContext, message_id: int) -> OutboundMessage:
    """The workspace's message, or 404 (another workspace's id looks like a missing one)."""
    return outbox.get_message(
        page.db, workspace_id=page.workspace.id, message_id=min(message_id, MAX_ID)
    )


@router.get("")
def outbox_page(
    page: Page,
    status: str = "",
    channel: str = "",
    recipient: str = "",
    cursor: str = "",
) -> Response:
    """Outgoing messages newest first, filtered by status, channel and recipient."""
    require(page.principal, "outbox:manage")
    problems: list[str] = []
    if status and status not in MESSAGE_STATUSES:
        problems.append(page.t("outbox.bad_status", value=status[:40]))
        status = ""
    if channel and channel not in MESSAGE_CHANNELS:
        problems.append(page.t("outbox.bad_channel", value=channel[:40]))
        channel = ""
    recipient = recipient.strip()[: outbox.RECIPIENT_SEARCH_LENGTH]
    if not outbox.searchable(recipient):
        problems.append(page.t("outbox.bad_recipient"))
        recipient = ""
    filters: dict[str, Any] = {
        "workspace_id": page.workspace.id,
        "status": status or None,
        "channel": channel or None,
        "recipient": recipient or None,
        "limit": PAGE_SIZE,
    }
    try:
        rows, next_cursor = outbox.list_messages(page.db, cursor=cursor[:500] or None, **filters)
    except ValidationFailed as exc:  # a cursor this server did not hand out
        problems.append(errors.describe(page.locale, exc))
        cursor = ""
        rows, next_cursor = outbox.list_messages(page.db, **filters)
    return _settings_page(
        page,
        status=422 if problems else 200,
        problems=problems,
        rows=rows,
        customers=customers_by_ids(
            page.db, workspace_id=page.workspace.id, ids=[m.customer_id for m in rows]
        ),
        next_cursor=next_cursor,
        cursor=cursor,
        counts=outbox.counts(page.db, workspace_id=page.workspace.id),
        statuses=MESSAGE_STATUSES,
        channels=MESSAGE_CHANNELS,
        badges=STATUS_BADGES,
        current_status=status,
        current_channel=channel,
        recipient=recipient,
        filtered=bool(status or channel or recipient),
    )


@router.post("/{message_id:int}/retry")
def retry_message(page: Page, message_id: int, next_url: NextField = "") -> Response:
    """Queue a failed message again (due now, full attempts); refused for any other status."""
    require(page.principal, "outbox:manage")
    message = _message(page, message_id)
    try:
        with page.db.begin_nested():
            outbox.retry(page.db, message=message, principal=page.principal)
    except Conflict:
        page.db.refresh(message)
        if message.status == "failed":
            page.flash("error", "outbox.retry_interrupted", recipient=message.recipient)
        elif message.status == "sent":
            page.flash("error", "outbox.retry_sent", recipient=message.recipient)
        else:
            page.flash(
                "error",
                "outbox.retry_refused",
                recipient=message.recipient,
                status=page.t(f"outbox.status.{message.status}"),
            )
    else:
        page.flash("success", "outbox.retried", recipient=message.recipient)
    return redirect(safe_next(next_url, HOME))


@router.post("/{message_id:int}/cancel")
def cancel_message(page: Page, message_id: int, next_url: NextField = "") -> Response:
    """Cancel a queued message so it is never sent; refused once it is sending or settled."""
    require(page.principal, "outbox:manage")
    message = _message(page, message_id)
    try:
        with page.db.begin_nested():
            outbox.withdraw(page.db, message=message, principal=page.principal)
    except Conflict:
        page.db.refresh(message)
        page.flash(
            "error",
            "outbox.cancel_refused",
            recipient=message.recipient,
            status=page.t(f"outbox.status.{message.status}"),
        )
    else:
        page.flash("success", "outbox.cancelled", recipient=message.recipient)
    return redirect(safe_next(next_url, HOME))
