"""The web session and the context every signed-in page starts from.

The session lives in a signed cookie (Starlette's SessionMiddleware, itsdangerous): the user id,
the current workspace, the CSRF token, the time of the last request (for the idle timeout), the
UI language and the user's session version when it began. Every request compares that version
with the user's row, so signing out, a new password or "sign out everywhere" (each raises the
version) ends the session on the server: a copy of the cookie stops working too.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.accounts.dependencies import DbSession
from cxloop.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from cxloop.core.http import client_address
from cxloop.core.i18n import LOCALES, gettext, negotiate_locale
from cxloop.core.settings import Settings
from cxloop.models import User, Workspace

SESSION_COOKIE = "cxloop_session"
CSRF_FIELD = "csrf_token"

_USER = "uid"
_WORKSPACE = "ws"
_CSRF = "csrf"
_SEEN = "seen"
_LOCALE = "locale"
_VERSION = "sv"
_FLASH = "flash"

# The last-activity time is rewritten at most this often, so the cookie does not change on
# every click; the idle timeout is exact to within this many seconds.
_SEEN_RESOLUTION = 15


def current_time() -> float:
    """Seconds since the epoch (a function so tests can move the clock)."""
    return time.time()


class WebSessionMiddleware(SessionMiddleware):
    """Signed-cookie sessions for the web UI only: the APIs authenticate with keys, so their
    requests skip the cookie entirely (and ingestion pays nothing for it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(("/v1/", "/api/", "/static/")) or path in ("/v1", "/api", "/healthz"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class LoginRequired(AuthenticationFailed):
    """The page needs a signed-in user; the web UI answers with a redirect to /login."""

    def __init__(self, detail: str = "Please sign in.", *, keep_target: bool = True) -> None:
        super().__init__(detail)
        self.keep_target = keep_target


class CsrfRejected(PermissionDenied):
    title = "Form expired"
    type_slug = "csrf"


# --- flash messages ----------------------------------------------------------------------------


def flash(request: Request, kind: str, key: str, **params: Any) -> None:
    """Show a translated message (catalog ``key``) on the next page the user sees."""
    request.session.setdefault(_FLASH, []).append({"kind": kind, "key": key, "params": params})


def flash_text(request: Request, kind: str, text: str) -> None:
    """Show a ready-made message (e.g. a service's error) on the next page."""
    request.session.setdefault(_FLASH, []).append({"kind": kind, "text": text})


def pop_flashes(request: Request, locale: str) -> list[tuple[str, str]]:
    entries = request.session.pop(_FLASH, None) or []
    shown = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if "key" in entry:
            text = gettext(locale, str(entry["key"]), **(entry.get("params") or {}))
        else:
            text = str(entry.get("text", ""))
        shown.append((str(entry.get("kind", "info")), text))
    return shown


# --- CSRF --------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); every POST form carries it."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Reject a state-changing request whose form does not carry the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(_CSRF)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and expected
        and secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRejected(
            "The form has expired or did not come from this site; reload the page and try again."
        )


# --- signing in and out ------------------------------------------------------------------------


def begin_session(request: Request, *, user: User, workspace_id: int) -> None:
    """Start a fresh session for ``user`` (a new CSRF token too, against session fixation)."""
    request.session.clear()
    request.session.update(
        {
            _USER: user.id,
            _WORKSPACE: workspace_id,
            _CSRF: secrets.token_urlsafe(32),
            _SEEN: int(current_time()),
            _LOCALE: user.locale,
            _VERSION: user.session_version,
        }
    )


def keep_session(request: Request, *, user: User) -> None:
    """Let this session go on after it raised the user's session version itself (a new
    password ends the other sessions, not the one that set it)."""
    request.session[_VERSION] = user.session_version


def sign_out(request: Request, db: Session) -> None:
    """End the session on the server (the user's session version moves on, so no copy of the
    cookie works any more) and forget it here."""
    user_id = signed_in_user_id(request)
    if user_id is not None:
        user = db.get(User, user_id)
        # Only a live session may end the user's sessions: a stale copy just forgets itself.
        if user is not None and request.session.get(_VERSION) == user.session_version:
            accounts.end_sessions(db, user=user)
    end_session(request)


def end_session(request: Request) -> None:
    """Forget the user but keep the chosen language for the login page."""
    locale = request.session.get(_LOCALE)
    request.session.clear()
    if locale in LOCALES:
        request.session[_LOCALE] = locale


def signed_in_user_id(request: Request) -> int | None:
    user_id = request.session.get(_USER)
    return user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None


def set_session_locale(request: Request, locale: str) -> None:
    if locale in LOCALES:
        request.session[_LOCALE] = locale


def set_session_workspace(request: Request, workspace_id: int) -> None:
    request.session[_WORKSPACE] = workspace_id


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def request_locale(request: Request) -> str:
    """The language of a page: the session's (the user's) choice, else the browser's."""
    locale = request.session.get(_LOCALE) if "session" in request.scope else None
    if locale in LOCALES:
        return str(locale)
    return negotiate_locale(
        request.headers.get("accept-language", ""), settings_of(request).default_locale
    )


# --- the page context --------------------------------------------------------------------------


@dataclass
class WebContext:
    """Who is asking, in which workspace and language: what every signed-in page needs."""

    request: Request
    db: Session
    user: User
    workspace: Workspace
    role: str
    memberships: list[tuple[Workspace, str]]
    principal: Principal
    locale: str

    def t(self, key: str, **params: Any) -> str:
        return gettext(self.locale, key, **params)

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)

    def can_any(self, *permissions: str) -> bool:
        return any(self.principal.can(p) for p in permissions)

    def flash(self, kind: str, key: str, **params: Any) -> None:
        flash(self.request, kind, key, **params)


def web_context(request: Request, db: DbSession) -> WebContext:
    """The signed-in user's context; redirects to /login when there is none or it went idle."""
    settings = settings_of(request)
    user_id = signed_in_user_id(request)
    if user_id is None:
        raise LoginRequired()
    now = int(current_time())
    seen = request.session.get(_SEEN)
    if not isinstance(seen, int) or now - seen > settings.session_idle_minutes * 60:
        end_session(request)
        flash(request, "info", "login.expired", minutes=settings.session_idle_minutes)
        raise LoginRequired("Your session has expired; please sign in again.")
    try:
        user = accounts.get_user(db, user_id=user_id)
    except NotFound:
        user = None
    if user is None or not user.is_active or request.session.get(_VERSION) != user.session_version:
        end_session(request)
        raise LoginRequired()
    memberships = accounts.memberships_of(db, user_id=user.id)
    if not memberships:
        end_session(request)
        flash(request, "error", "login.no_workspace")
        raise LoginRequired("You are not a member of any workspace.", keep_target=False)
    chosen = request.session.get(_WORKSPACE)
    workspace, role = next(((w, r) for w, r in memberships if w.id == chosen), memberships[0])
    request.session[_WORKSPACE] = workspace.id
    if now - seen >= _SEEN_RESOLUTION:
        request.session[_SEEN] = now
    request.session[_LOCALE] = user.locale
    principal = Principal(
        workspace_id=workspace.id,
        role=role,
        user_id=user.id,
        label=user.email,
        ip=client_address(request) or None,
    )
    return WebContext(
        request=request,
        db=db,
        user=user,
        workspace=workspace,
        role=role,
        memberships=memberships,
        principal=principal,
        locale=user.locale if user.locale in LOCALES else settings.default_locale,
    )


Page = Annotated[WebContext, Depends(web_context)]


def safe_next(target: object, default: str = "/customers") -> str:
    """A same-site path to go to after a form (never another host: no open redirect)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if len(target) > 2000:
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    return target
