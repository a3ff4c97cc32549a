"""Workspace settings pages: members, roles and invitations, API and write keys, identity keys,
audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts import invitations
from cxloop.accounts import service as accounts
from cxloop.accounts.access import require
from cxloop.accounts.widget_identity import identity_secret, rotate_identity_secret
from cxloop.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from cxloop.models import User
from cxloop.models.workspace import ROLES
from cxloop.web import errors
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, flash_text, settings_of, verify_csrf

router = APIRouter(prefix="/settings", include_in_schema=False, dependencies=[Depends(verify_csrf)])

PAGE_SIZE = 50
# (section, the permission it needs), in the order of the settings menu.
SECTIONS = (
    ("members", "members:manage"),
    ("keys", "keys:manage"),
    ("identity", "workspace:manage"),
    ("audit", "audit:read"),
    ("outbox", "outbox:manage"),
    ("bot", "care:manage"),  # the help bot: its threshold, topics kept for people, a console
    ("names", "workspace:manage"),  # display names of teams, touchpoints, traits, events
)
IDENTITY_KEY_CHOICES = ("email", "phone")


def _cursor(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 17 else None


def settings_page(
    page: WebContext, template: str, *, section: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """A page of the settings section, with the menu of the sections the user may see."""
    return render(
        page.request,
        template,
        page=page,
        section="settings",
        settings_section=section,
        settings_sections=[name for name, permission in SECTIONS if page.can(permission)],
        status=status,
        **values,
    )


def _grantable_roles(page: WebContext) -> tuple[str, ...]:
    # Only an owner makes owners (as in the REST API), so an admin cannot raise anyone above
    # themselves.
    return ROLES if page.role == "owner" else tuple(r for r in ROLES if r != "owner")


def _manages(page: WebContext, role: str) -> bool:
    """Whether the user may change or remove a member who has ``role`` (owners: owners only)."""
    return role != "owner" or page.role == "owner"


def flash_error(
    page: WebContext,
    exc: ValidationFailed | Conflict | NotFound | PermissionDenied | TooManyRequests,
) -> None:
    flash_text(page.request, "error", errors.describe(page.locale, exc))


@router.get("")
def settings_home(page: Page) -> Response:
    """The first settings page the user's role may see."""
    for name, permission in SECTIONS:
        if page.can(permission):
            return redirect(f"/settings/{name}")
    require(page.principal, "members:manage")
    return redirect("/customers")  # pragma: no cover  (require raised)


# --- members -----------------------------------------------------------------------------------


def _members(
    page: WebContext,
    *,
    cursor: str = "",
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = accounts.list_members(
        page.db, workspace_id=page.workspace.id, after_id=_cursor(cursor), limit=PAGE_SIZE + 1
    )
    next_cursor = rows[PAGE_SIZE - 1][0].id if len(rows) > PAGE_SIZE else None
    return settings_page(
        page,
        "accounts/settings_members.html",
        section="members",
        status=status,
        rows=[(user, m, _manages(page, m.role)) for user, m in rows[:PAGE_SIZE]],
        next_cursor=next_cursor,
        cursor=cursor,
        roles=_grantable_roles(page),
        form=form or {"email": "", "display_name": "", "role": "agent"},
        error=error,
        pending=invitations.pending_invitations(
            page.db, workspace_id=page.workspace.id, limit=PAGE_SIZE
        ),
        teams=accounts.teams_in_use(page.db, workspace_id=page.workspace.id),
    )


@router.get("/members")
def members(page: Page, cursor: str = "") -> Response:
    """Users of the workspace, their roles, and the invitations waiting for an answer."""
    require(page.principal, "members:manage")
    return _members(page, cursor=cursor)


@router.post("/members")
def invite_member(
    page: Page,
    email: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """Invite someone by e-mail; they become a member when they accept."""
    require(page.principal, "members:manage")
    form = {"email": email[:320], "display_name": display_name[:200], "role": role}
    try:
        with page.db.begin_nested():
            invitation = invitations.invite(
                page.db,
                principal=page.principal,
                email=email[:320],
                role=role,
                display_name=display_name[:200],
            )
    except (ValidationFailed, Conflict, PermissionDenied, TooManyRequests) as exc:
        return _members(page, form=form, status=exc.status, error=errors.describe(page.locale, exc))
    page.flash("success", "invite.sent", email=invitation.email, role=page.t(f"role.{role}"))
    return redirect("/settings/members")


@router.post("/invitations/{invitation_id:int}/resend")
def resend_invitation(page: Page, invitation_id: int) -> Response:
    """Mail an invitation again with a new link."""
    require(page.principal, "members:manage")
    try:
        with page.db.begin_nested():
            invitation = invitations.resend(
                page.db, principal=page.principal, invitation_id=invitation_id
            )
    except (Conflict, NotFound, PermissionDenied, TooManyRequests) as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "invite.resent", email=invitation.email)
    return redirect("/settings/members#invitations")


@router.post("/invitations/{invitation_id:int}/revoke")
def revoke_invitation(page: Page, invitation_id: int) -> Response:
    """Withdraw an invitation; its link stops working."""
    require(page.principal, "members:manage")
    try:
        with page.db.begin_nested():
            invitation = invitations.revoke(
                page.db, principal=page.principal, invitation_id=invitation_id
            )
    except (Conflict, NotFound, PermissionDenied) as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "invite.revoked", email=invitation.email)
    return redirect("/settings/members#invitations")


def _member(page: WebContext, user_id: int) -> tuple[User, str]:
    role = accounts.role_in(page.db, user_id=user_id, workspace_id=page.workspace.id)
    if role is None:
        raise NotFound("That user is not a member of this workspace.")
    return accounts.get_user(page.db, user_id=user_id), role


@router.post("/members/{user_id:int}/role")
def change_role(page: Page, user_id: int, role: Annotated[str, Form()] = "") -> Response:
    """Give a member another role (only owners change owners; a workspace keeps an owner)."""
    require(page.principal, "members:manage")
    try:
        user, current = _member(page, user_id)
        if role == current:
            page.flash("info", "members.role_unchanged", email=user.email)
            return redirect("/settings/members")
        with page.db.begin_nested():
            accounts.change_member_role(
                page.db, principal=page.principal, user_id=user_id, role=role
            )
    except (ValidationFailed, Conflict, NotFound, PermissionDenied) as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "members.role_changed", email=user.email, role=page.t(f"role.{role}"))
        if user_id == page.user.id and role not in ("owner", "admin"):
            # They just gave up the right to manage members: the list would only say 403.
            return redirect("/customers")
    return redirect("/settings/members")


@router.post("/members/{user_id:int}/teams")
def change_teams(
    page: Page,
    user_id: int,
    team: Annotated[list[str], Form()] = [],  # noqa: B006
    teams: Annotated[str, Form()] = "",
) -> Response:
    """Put a member in the teams ticked (``team``) and in new ones typed (``teams``, comma
    separated); their teams' follow-ups notify them."""
    require(page.principal, "members:manage")
    try:
        user, _role = _member(page, user_id)
        with page.db.begin_nested():
            accounts.set_member_teams(
                page.db,
                workspace_id=page.workspace.id,
                user_id=user_id,
                teams=[*team[:50], *accounts.parse_teams(teams[:2000])],
                principal=page.principal,
            )
    except (ValidationFailed, NotFound) as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "loop.teams.saved", email=user.email)
    return redirect(f"/settings/members#member-{user_id}")


@router.get("/members/{user_id:int}/remove")
def remove_form(page: Page, user_id: int) -> Response:
    """Confirm before a member loses access."""
    require(page.principal, "members:manage")
    user, role = _member(page, user_id)
    return settings_page(
        page,
        "accounts/member_remove.html",
        section="members",
        member=user,
        member_role=role,
        allowed=_manages(page, role),
        is_self=user.id == page.user.id,
    )


@router.post("/members/{user_id:int}/remove")
def remove_member(page: Page, user_id: int) -> Response:
    """Remove a member (the last owner cannot be removed)."""
    require(page.principal, "members:manage")
    try:
        user, _role = _member(page, user_id)
        with page.db.begin_nested():
            accounts.remove_member(page.db, principal=page.principal, user_id=user_id)
    except (Conflict, NotFound, PermissionDenied) as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "members.removed", email=user.email)
        if user_id == page.user.id:
            return redirect("/customers")
    return redirect("/settings/members")


# --- keys --------------------------------------------------------------------------------------


def _keys(
    page: WebContext,
    *,
    cursor: str = "",
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    keys = accounts.list_keys(
        page.db, workspace_id=page.workspace.id, after_id=_cursor(cursor), limit=PAGE_SIZE + 1
    )
    next_cursor = keys[PAGE_SIZE - 1].id if len(keys) > PAGE_SIZE else None
    settings = settings_of(page.request)
    return settings_page(
        page,
        "accounts/settings_keys.html",
        section="keys",
        status=status,
        keys=keys[:PAGE_SIZE],
        next_cursor=next_cursor,
        cursor=cursor,
        roles=_grantable_roles(page),
        form=form or {"kind": "write", "name": "", "role": "viewer"},
        error=error,
        identity_secret=identity_secret(page.workspace, settings=settings),
        public_url=settings.public_url.rstrip("/"),
    )


@router.get("/keys")
def keys(page: Page, cursor: str = "") -> Response:
    """API keys (REST) and write keys (ingestion) of the workspace."""
    require(page.principal, "keys:manage")
    return _keys(page, cursor=cursor)


@router.post("/keys")
def create_key(
    page: Page,
    kind: Annotated[str, Form()] = "write",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    """Create a key and show its secret this once, with how to send data with it."""
    require(page.principal, "keys:manage")
    form = {"kind": kind, "name": name[:200], "role": role}
    try:
        with page.db.begin_nested():
            key, secret = accounts.create_key(
                page.db,
                workspace_id=page.workspace.id,
                kind=kind,
                name=name[:200],
                role=role if kind == "api" else None,
                principal=page.principal,
            )
    except ValidationFailed as exc:
        return _keys(page, form=form, status=422, error=errors.describe(page.locale, exc))
    return settings_page(
        page,
        "accounts/key_created.html",
        section="keys",
        key=key,
        secret=secret,
        host=str(page.request.base_url).rstrip("/"),
    )


@router.get("/keys/{key_id:int}/revoke")
def revoke_form(page: Page, key_id: int) -> Response:
    """Confirm before a key stops working."""
    require(page.principal, "keys:manage")
    key = accounts.get_key(page.db, workspace_id=page.workspace.id, key_id=key_id)
    if key.revoked_at is not None:
        page.flash("info", "keys.already_revoked", prefix=key.prefix)
        return redirect("/settings/keys")
    return settings_page(page, "accounts/key_revoke.html", section="keys", key=key)


@router.post("/keys/{key_id:int}/revoke")
def revoke_key(page: Page, key_id: int) -> Response:
    """Revoke a key at once; requests with it fail from now on."""
    require(page.principal, "keys:manage")
    try:
        key = accounts.get_key(page.db, workspace_id=page.workspace.id, key_id=key_id)
    except NotFound as exc:
        flash_error(page, exc)
        return redirect("/settings/keys")
    if key.revoked_at is not None:
        # A second click (or a reload of the form) changes nothing and is not audited again.
        page.flash("info", "keys.already_revoked", prefix=key.prefix)
        return redirect("/settings/keys")
    try:
        accounts.revoke_key(
            page.db, workspace_id=page.workspace.id, key_id=key_id, principal=page.principal
        )
    except PermissionDenied as exc:
        flash_error(page, exc)
        return redirect("/settings/keys")
    page.flash("success", "keys.revoked", prefix=key.prefix)
    return redirect("/settings/keys")


@router.get("/keys/identity-secret/rotate")
def rotate_identity_secret_form(page: Page) -> Response:
    """Confirm before the widget's identity secret changes (old hashes stop verifying)."""
    require(page.principal, "keys:manage")
    return settings_page(page, "accounts/widget_identity_rotate.html", section="keys")


@router.post("/keys/identity-secret/rotate")
def rotate_identity_secret_now(page: Page) -> Response:
    """Give the workspace a new widget identity secret at once. Audited."""
    require(page.principal, "keys:manage")
    rotate_identity_secret(page.db, workspace=page.workspace, principal=page.principal)
    page.flash("success", "widget_identity.rotated")
    return redirect("/settings/keys#widget-identity")


# --- identity keys -----------------------------------------------------------------------------


@router.get("/identity")
def identity(page: Page) -> Response:
    """Which of email and phone name exactly one person in this workspace."""
    require(page.principal, "workspace:manage")
    return settings_page(
        page,
        "accounts/settings_identity.html",
        section="identity",
        choices=IDENTITY_KEY_CHOICES,
        current=set(page.workspace.identity_keys or []),
    )


@router.post("/identity")
def set_identity(page: Page, kinds: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    """Save the identity keys used for automatic merges from now on. Audited."""
    require(page.principal, "workspace:manage")
    try:
        with page.db.begin_nested():
            accounts.set_identity_keys(
                page.db, workspace=page.workspace, kinds=kinds, principal=page.principal
            )
    except ValidationFailed as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "identity_keys.saved")
    return redirect("/settings/identity")


# --- audit log ---------------------------------------------------------------------------------


@router.get("/audit")
def audit(page: Page, cursor: str = "") -> Response:
    """Who did what in the workspace, newest first."""
    require(page.principal, "audit:read")
    rows = accounts.list_audit(
        page.db, workspace_id=page.workspace.id, before_id=_cursor(cursor), limit=PAGE_SIZE + 1
    )
    next_cursor = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return settings_page(
        page,
        "accounts/settings_audit.html",
        section="audit",
        rows=rows[:PAGE_SIZE],
        next_cursor=next_cursor,
        cursor=cursor,
    )
