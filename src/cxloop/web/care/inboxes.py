"""The inbox settings page: the workspace's inboxes, and a new one whose inbound webhook address
(with its secret token) is shown once, with how to post mail to it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts.access import require
from cxloop.care import csat
from cxloop.care import mailbox as mailboxes
from cxloop.care import service as care
from cxloop.core.errors import ValidationFailed
from cxloop.web import errors
from cxloop.web.accounts.admin import settings_page
from cxloop.web.care.channel_inboxes import INBOX_CHOICES, created_inbox
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(
    prefix="/settings/inboxes", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

Text = Annotated[str, Form()]


def _settings_page(
    page: WebContext, template: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    return settings_page(
        page,
        template,
        section="inboxes",
        status=status,
        **values,
    )


def _inboxes(
    page: WebContext,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
    csat_error: str = "",
) -> HTMLResponse:
    return _settings_page(
        page,
        "care/settings_inboxes.html",
        status=status,
        inboxes=care.list_inboxes(page.db, workspace_id=page.workspace.id),
        mailboxes=mailboxes.by_inbox(page.db, workspace_id=page.workspace.id),
        form=form
        or {"name": "", "address": "", "team": "", "reopen_days": "7", "channel": "email"},
        inbox_channels=INBOX_CHOICES,
        error=error,
        csat_surveys=csat.csat_surveys(page.db, workspace_id=page.workspace.id),
        csat_error=csat_error,
    )


@router.get("")
def inboxes(page: Page) -> Response:
    """The workspace's inboxes (never their tokens)."""
    require(page.principal, "care:manage")
    return _inboxes(page)


@router.post("")
def create_inbox(
    page: Page,
    name: Text = "",
    address: Text = "",
    team: Text = "",
    reopen_days: Text = "7",
    channel: Text = "email",
) -> Response:
    """Create an inbox and show its webhook address with the secret token, this once (and a
    social or review inbox's signing secret)."""
    require(page.principal, "care:manage")
    form = {
        "name": name[:200],
        "address": address[:320],
        "team": team[:64],
        "reopen_days": reopen_days[:8],
        "channel": channel[:16],
    }
    days = reopen_days.strip()
    if not days.isdigit() or not 0 <= int(days[:4]) <= 365:
        return _inboxes(page, form=form, status=422, error=page.t("inboxes.err.reopen_days"))
    if not " ".join(name.split()):
        return _inboxes(page, form=form, status=422, error=page.t("inboxes.err.name"))
    try:
        with page.db.begin_nested():
            made = care.create_inbox(
                page.db,
                principal=page.principal,
                name=name[:200],
                channel=channel[:16],
                address=address[:320],
                team=team[:64],
                reopen_days=int(days[:4]),
            )
    except ValidationFailed as exc:
        return _inboxes(page, form=form, status=422, error=errors.describe(page.locale, exc))
    return _settings_page(
        page, "care/inbox_created.html", **created_inbox(page, made.inbox, made.token)
    )


@router.post("/{inbox_id}/csat")
def set_csat(
    page: Page,
    inbox_id: Annotated[int, FastPath(ge=1, le=2**31)],
    survey_id: Text = "",
    enabled: Text = "",
) -> Response:
    """Send the chosen CSAT survey after agents resolve the inbox's conversations, or stop."""
    require(page.principal, "care:manage")
    inbox = csat.get_inbox(page.db, workspace_id=page.workspace.id, inbox_id=inbox_id)
    chosen = survey_id.strip()
    try:
        with page.db.begin_nested():
            csat.set_inbox_csat(
                page.db,
                principal=page.principal,
                inbox=inbox,
                enabled=enabled == "on",
                survey_id=int(chosen) if chosen.isdigit() and len(chosen) < 10 else None,
            )
    except ValidationFailed:
        return _inboxes(page, status=422, csat_error=page.t("inboxes.csat.error"))
    page.flash("success", "inboxes.csat.saved")
    return redirect("/settings/inboxes#inbox-csat")
