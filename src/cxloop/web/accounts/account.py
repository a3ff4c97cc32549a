"""The signed-in user's own account (a new password, signing out everywhere) and the page where
an invited person accepts an invitation to a workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cxloop.accounts import invitations
from cxloop.accounts import service as accounts
from cxloop.accounts.dependencies import DbSession
from cxloop.accounts.passwords import MIN_PASSWORD_LENGTH
from cxloop.core.errors import AuthenticationFailed, Conflict, TooManyRequests, ValidationFailed
from cxloop.core.http import client_address
from cxloop.core.ratelimit import RateLimited
from cxloop.models import MemberInvitation
from cxloop.web import errors
from cxloop.web.rendering import redirect, render
from cxloop.web.session import (
    LoginRequired,
    Page,
    WebContext,
    begin_session,
    end_session,
    flash,
    keep_session,
    request_locale,
    set_session_workspace,
    settings_of,
    signed_in_user_id,
    verify_csrf,
    web_context,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


# --- the user's account ------------------------------------------------------------------------


def _account(page: WebContext, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    return render(
        page.request,
        "accounts/account.html",
        page=page,
        section="account",
        status=status,
        error=error,
        min_password=MIN_PASSWORD_LENGTH,
    )


@router.get("/account")
def account(page: Page) -> Response:
    """The user's account: a new password, and signing out of every session."""
    return _account(page)


@router.post("/account/password")
def change_password(
    page: Page,
    current_password: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Set a new password; every other session of the user ends, this one goes on."""
    try:
        accounts.change_own_password(
            page.db,
            user=page.user,
            current_password=current_password[:1000],
            password=password[:1001],
        )
    except ValidationFailed as exc:
        return _account(page, error=errors.describe(page.locale, exc), status=422)
    keep_session(page.request, user=page.user)
    page.flash("success", "account.password_changed")
    return redirect("/account")


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(page: Page) -> Response:
    """End every session of the user, this one included (API keys are not affected)."""
    accounts.end_sessions(page.db, user=page.user)
    end_session(page.request)
    flash(page.request, "info", "account.signed_out_everywhere")
    return redirect("/login")


# --- accepting an invitation -------------------------------------------------------------------


def _signed_in(request: Request, db: Session) -> WebContext | None:
    if signed_in_user_id(request) is None:
        return None
    try:
        return web_context(request, db)
    except LoginRequired:
        return None


def _invitation_page(
    request: Request,
    db: Session,
    token: str,
    invitation: MemberInvitation,
    *,
    error: str | None = None,
    status: int = 200,
    display_name: str = "",
) -> HTMLResponse:
    page = _signed_in(request, db)
    workspace = accounts.get_workspace(db, workspace_id=invitation.workspace_id)
    return render(
        request,
        "accounts/invitation.html",
        page=page,
        section="",
        status=status,
        token=token,
        invitation=invitation,
        workspace=workspace,
        has_account=invitations.has_account(db, invitation=invitation),
        error=error,
        display_name=display_name or invitation.display_name,
        min_password=MIN_PASSWORD_LENGTH,
    )


@router.get("/invitations/{token}")
def invitation(request: Request, db: DbSession, token: str) -> Response:
    """What the invitation is for, and how to accept it: as the signed-in user, with the
    account's password, or by creating the account."""
    found = invitations.find_by_token(db, token=token)
    return _invitation_page(request, db, token, found)


@router.post("/invitations/{token}/accept")
def accept_invitation(
    request: Request,
    db: DbSession,
    token: str,
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Join the workspace the invitation is for, then work in it."""
    found = invitations.find_by_token(db, token=token)
    page = _signed_in(request, db)
    locale = page.locale if page is not None else request_locale(request)
    try:
        if page is not None:
            membership = invitations.accept(db, token=token, user=page.user)
            set_session_workspace(request, membership.workspace_id)
        elif invitations.has_account(db, invitation=found):
            if not password:
                return redirect(f"/login?next=/invitations/{token}")
            user = accounts.authenticate(
                db,
                email=found.email,
                password=password[:1000],
                ip=client_address(request),
                limiter=request.app.state.rate_limiter,
                throttle=accounts.LoginThrottle.from_settings(settings_of(request)),
            )
            membership = invitations.accept(db, token=token, user=user)
            begin_session(request, user=user, workspace_id=membership.workspace_id)
        else:
            user = invitations.accept_with_new_account(
                db,
                token=token,
                display_name=display_name.strip()[:200],
                password=password[:1001],
                locale=locale,
            )
            begin_session(request, user=user, workspace_id=found.workspace_id)
    except RateLimited as exc:
        response = _invitation_page(
            request, db, token, found, error=errors.describe(locale, exc), status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (ValidationFailed, Conflict, AuthenticationFailed, TooManyRequests) as exc:
        return _invitation_page(
            request,
            db,
            token,
            found,
            error=errors.describe(locale, exc),
            status=exc.status,
            display_name=display_name[:200],
        )
    workspace = accounts.get_workspace(db, workspace_id=found.workspace_id)
    flash(request, "success", "invite.joined", workspace=workspace.name)
    return redirect("/customers")
