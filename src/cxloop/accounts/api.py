"""REST API of workspace administration: API and write keys, members, audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath
from sqlalchemy.orm import Session

from cxloop.accounts import service
from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.accounts.schemas import (
    AuditOut,
    AuditPage,
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyPage,
    MemberCreate,
    MemberOut,
    MemberPage,
    MemberUpdate,
)
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.models import User

router = APIRouter(prefix="/api/v1", tags=["administration"])

ObjectId = Annotated[int, FastPath(ge=1, le=2**53)]
AfterId = Annotated[int | None, Query(ge=0, le=2**53, alias="cursor")]


@router.get("/keys", response_model=KeyPage)
def list_keys(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> KeyPage:
    """API and write keys of the workspace (secrets are never shown again)."""
    require(principal, "keys:manage")
    keys = service.list_keys(
        session, workspace_id=principal.workspace_id, after_id=cursor, limit=limit + 1
    )
    next_cursor = keys[limit - 1].id if len(keys) > limit else None
    return KeyPage(items=[KeyOut.model_validate(k) for k in keys[:limit]], next_cursor=next_cursor)


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, principal: ApiPrincipal, session: DbSession) -> KeyCreated:
    """Create a key; the response holds its secret, shown this once."""
    require(principal, "keys:manage")
    if body.kind == "api" and body.role == "owner" and principal.role != "owner":
        raise ValidationFailed("Only an owner can create an owner key.")
    key, secret = service.create_key(
        session,
        workspace_id=principal.workspace_id,
        kind=body.kind,
        name=body.name,
        role=body.role,
        created_by_id=principal.user_id,
    )
    service.record_audit(
        session,
        principal=principal,
        action="key.create",
        target_type="key",
        target_id=key.id,
        detail={"kind": key.kind, "role": key.role},
    )
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), secret=secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: ObjectId, principal: ApiPrincipal, session: DbSession) -> KeyOut:
    """Revoke a key at once; requests with it fail from now on."""
    require(principal, "keys:manage")
    key = service.revoke_key(session, workspace_id=principal.workspace_id, key_id=key_id)
    service.record_audit(
        session, principal=principal, action="key.revoke", target_type="key", target_id=key.id
    )
    return KeyOut.model_validate(key)


def _member_audited(
    session: Session,
    principal: Principal,
    action: str,
    user: User,
    role: str,
    teams: list[str] | None = None,
) -> MemberOut:
    """Record a membership change in the audit log and answer with the member."""
    service.record_audit(
        session,
        principal=principal,
        action=action,
        target_type="user",
        target_id=user.id,
        detail={"role": role, **({"teams": teams} if teams is not None else {})},
    )
    return MemberOut(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=role,
        last_login_at=user.last_login_at,
        teams=teams or [],
    )


@router.get("/members", response_model=MemberPage)
def list_members(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberPage:
    """Users of the workspace and their roles."""
    require(principal, "members:manage")
    rows = service.list_members(
        session, workspace_id=principal.workspace_id, after_id=cursor, limit=limit + 1
    )
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    return MemberPage(
        items=[
            MemberOut(
                user_id=u.id,
                email=u.email,
                display_name=u.display_name,
                role=m.role,
                last_login_at=u.last_login_at,
                teams=m.teams or [],
            )
            for u, m in rows[:limit]
        ],
        next_cursor=next_cursor,
    )


@router.post("/members", response_model=MemberOut, status_code=status.HTTP_201_CREATED)
def add_member(body: MemberCreate, principal: ApiPrincipal, session: DbSession) -> MemberOut:
    """Add a user to the workspace (creating the user when the email is new)."""
    require(principal, "members:manage")
    if body.role == "owner" and principal.role != "owner":
        raise ValidationFailed("Only an owner can make someone an owner.")
    workspace = service.get_workspace(session, workspace_id=principal.workspace_id)
    try:
        user = service.find_user(session, email=service.normalise_login_email(body.email))
    except NotFound:
        if not body.password:
            raise ValidationFailed(
                "This email has no account yet; give a password (12+ characters) for it.",
                errors=[{"field": "password", "message": "required for a new user"}],
            ) from None
        user = service.create_user(
            session, email=body.email, password=body.password, display_name=body.display_name
        )
    membership = service.add_member(session, workspace=workspace, user=user, role=body.role)
    return _member_audited(session, principal, "member.add", user, membership.role)


@router.patch("/members/{user_id}", response_model=MemberOut)
def change_role(
    user_id: ObjectId, body: MemberUpdate, principal: ApiPrincipal, session: DbSession
) -> MemberOut:
    """Change a member's role (a workspace always keeps an owner) or teams."""
    require(principal, "members:manage")
    if body.role == "owner" and principal.role != "owner":
        raise ValidationFailed("Only an owner can make someone an owner.")
    workspace = service.get_workspace(session, workspace_id=principal.workspace_id)
    if body.role is None and body.teams is None:
        raise ValidationFailed(
            "Give a role or teams to change.",
            errors=[{"field": "role", "message": "give role or teams"}],
        )
    current = service.role_in(session, user_id=user_id, workspace_id=workspace.id)
    if current is None:
        raise NotFound("That user is not a member of this workspace.")
    user = session.get(User, user_id)
    assert user is not None
    if body.role is not None:
        membership = service.add_member(session, workspace=workspace, user=user, role=body.role)
    if body.teams is not None:
        membership = service.set_member_teams(
            session, workspace_id=workspace.id, user_id=user.id, teams=body.teams
        )
    action = "member.role" if body.teams is None else "member.teams"
    return _member_audited(
        session, principal, action, user, membership.role, list(membership.teams or [])
    )


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(user_id: ObjectId, principal: ApiPrincipal, session: DbSession) -> None:
    """Remove a user from the workspace (the last owner cannot be removed)."""
    require(principal, "members:manage")
    service.remove_member(session, workspace_id=principal.workspace_id, user_id=user_id)
    service.record_audit(
        session, principal=principal, action="member.remove", target_type="user", target_id=user_id
    )


@router.get("/audit", response_model=AuditPage)
def list_audit(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Who did what, newest first."""
    require(principal, "audit:read")
    rows = service.list_audit(
        session, workspace_id=principal.workspace_id, before_id=cursor, limit=limit + 1
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return AuditPage(
        items=[AuditOut.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor
    )
