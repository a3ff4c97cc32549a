"""The web UI's entry point: sessions, static files, sign-in and out, the language and
workspace switches, error pages; each domain's pages come from ``cxloop.web.<domain>``, as the
registry (``cxloop.domains``) lists them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cxloop.accounts import service as accounts
from cxloop.accounts.dependencies import DbSession
from cxloop.core.db import Database
from cxloop.core.errors import (
    AuthenticationFailed,
    CxloopError,
    TooManyRequests,
    ValidationFailed,
)
from cxloop.core.http import client_address
from cxloop.core.i18n import LOCALES, gettext
from cxloop.core.ratelimit import RateLimited
from cxloop.core.settings import Settings
from cxloop.web import errors
from cxloop.web.rendering import STATIC, redirect, render
from cxloop.web.session import (
    SESSION_COOKIE,
    LoginRequired,
    Page,
    WebContext,
    WebSessionMiddleware,
    begin_session,
    flash,
    request_locale,
    safe_next,
    set_session_locale,
    set_session_workspace,
    settings_of,
    sign_out,
    signed_in_user_id,
    verify_csrf,
    web_context,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

NextField = Annotated[str, Form(alias="next")]


def install_web(app: FastAPI, settings: Settings, pages: Iterable[APIRouter]) -> None:
    """Mount the web UI on ``app``: session cookies, /static, sign-in, every domain's ``pages``
    (routers, in order), HTML error pages."""
    app.add_middleware(
        WebSessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie=SESSION_COOKIE,
        # The idle timeout is enforced on the server from the session's last-activity time;
        # the cookie outlives it by a day so an expired session can still say so.
        max_age=settings.session_idle_minutes * 60 + 86400,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    for page_router in pages:  # every domain's pages, in the registry's order (cxloop.domains)
        app.include_router(page_router)
    app.state.render_error = render_error
    app.add_exception_handler(LoginRequired, _login_required)


def _login_url(request: Request, keep_target: bool) -> str:
    if keep_target and request.method == "GET" and request.url.path not in ("/", "/login"):
        query = request.url.query
        target = request.url.path + (f"?{query}" if query else "")
        from urllib.parse import quote

        return f"/login?next={quote(target, safe='')}"
    return "/login"


async def _login_required(request: Request, exc: Exception) -> Response:
    keep = exc.keep_target if isinstance(exc, LoginRequired) else True
    return RedirectResponse(_login_url(request, keep), status_code=303)


def render_error(request: Request, status: int, title: str, detail: str) -> Response:
    """The HTML page for an error (app.py calls this for browsers); 401 goes to the login."""
    if status == 401:
        return RedirectResponse(_login_url(request, True), status_code=303)
    signed_in = "session" in request.scope and signed_in_user_id(request) is not None
    if not signed_in:
        return _error_page(request, None, status, title, detail)
    # A signed-in user keeps the menu, workspace and language bar on error pages too.
    # A read session: the page only reads who is asking, and a write session here would wait
    # for (or, on SQLite, hold) the one write lock while an error is shown.
    database: Database = request.app.state.database
    with database.read_session() as db:
        try:
            page = web_context(request, db)
        except CxloopError:
            page = None
        return _error_page(request, page, status, title, detail)


def _error_page(
    request: Request, page: WebContext | None, status: int, title: str, detail: str
) -> Response:
    locale = page.locale if page is not None else request_locale(request)
    return render(
        request,
        "error.html",
        page=page,
        section="",
        status=status,
        status_code=status,
        title=errors.title(locale, status),
        detail=errors.message(locale, detail) if detail and detail != title else "",
        signed_in=page is not None,
    )


# --- sign in and out ---------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    return redirect("/customers" if signed_in_user_id(request) is not None else "/login")


@router.get("/login")
def login_form(request: Request, next_url: Annotated[str, Query(alias="next")] = "") -> Response:
    if signed_in_user_id(request) is not None:
        return redirect(safe_next(next_url))
    return render(request, "login.html", email="", next=safe_next(next_url, ""), error=None)


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_url: NextField = "",
) -> Response:
    settings = settings_of(request)
    locale = request_locale(request)

    def again(status: int, error: str, headers: dict[str, str] | None = None) -> HTMLResponse:
        return render(
            request,
            "login.html",
            status=status,
            headers=headers,
            email=email,
            next=safe_next(next_url, ""),
            error=error,
        )

    if not email.strip() or not password:
        return again(422, gettext(locale, "login.missing"))
    if len(email) > 320 or len(password) > 1000:
        return again(401, gettext(locale, "err.login_failed"))
    try:
        # A failed attempt is recorded by the service and committed with this request, so
        # the e-mail's delay counts it even though the page answers normally.
        user = accounts.authenticate(
            db,
            email=email,
            password=password,
            ip=client_address(request),
            limiter=request.app.state.rate_limiter,
            throttle=accounts.LoginThrottle.from_settings(settings),
        )
    except RateLimited as exc:
        return again(
            exc.status,
            errors.describe(locale, exc),
            headers={"Retry-After": str(exc.retry_after)},
        )
    except (AuthenticationFailed, TooManyRequests) as exc:
        return again(exc.status, errors.describe(locale, exc))
    workspace = accounts.workspace_to_sign_in(db, user=user)
    if workspace is None:
        return again(403, gettext(locale, "login.no_workspace"))
    accounts.note_workspace_used(db, user=user, workspace_id=workspace.id)
    begin_session(request, user=user, workspace_id=workspace.id)
    return redirect(safe_next(next_url, "/customers"))


@router.post("/logout")
def logout(request: Request, db: DbSession) -> Response:
    """Sign out: the session ends on the server too (with every other session of the user)."""
    sign_out(request, db)
    flash(request, "info", "login.signed_out")
    return redirect("/login")


# --- language and workspace --------------------------------------------------------------------


@router.post("/locale")
def switch_locale(
    request: Request,
    db: DbSession,
    locale: Annotated[str, Form()] = "",
    next_url: NextField = "",
) -> Response:
    """Show the UI in Korean or English; a signed-in user's choice is kept on their account."""
    if locale not in LOCALES:
        raise ValidationFailed(f"Language must be one of {', '.join(LOCALES)}.")
    if signed_in_user_id(request) is not None:
        page = web_context(request, db)
        accounts.set_user_locale(db, user=page.user, locale=locale)
    set_session_locale(request, locale)
    return redirect(safe_next(next_url, "/customers"))


@router.post("/workspace")
def switch_workspace(page: Page, workspace_id: Annotated[str, Form()] = "") -> Response:
    """Work in another of the user's workspaces."""
    chosen: Any = next((w for w, _ in page.memberships if str(w.id) == workspace_id), None)
    if chosen is None:
        page.flash("error", "ws.not_member")
        return redirect("/customers")
    set_session_workspace(page.request, chosen.id)
    accounts.note_workspace_used(page.db, user=page.user, workspace_id=chosen.id)
    page.flash("info", "ws.switched", name=chosen.name)
    return redirect("/customers")
