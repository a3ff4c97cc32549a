"""REST API of workspace administration: API and write keys, members and invitations, audit
log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath

from cxloop.accounts import display_names, invitations, service
from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.accounts.schemas import (
    AuditOut,
    AuditPage,
    DisplayKind,
    DisplayNameOut,
    DisplayNamePage,
    DisplayNamesIn,
    InvitationCreate,
    InvitationOut,
    InvitationPage,
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyPage,
    MemberOut,
    MemberPage,
    MemberUpdate,
)
from cxloop.core.errors import ValidationFailed
from cxloop.models import Membership, User

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
    key, secret = service.create_key(
        session,
        workspace_id=principal.workspace_id,
        kind=body.kind,
        name=body.name,
        role=body.role,
        principal=principal,
    )
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), secret=secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: ObjectId, principal: ApiPrincipal, session: DbSession) -> KeyOut:
    """Revoke a key at once; requests with it fail from now on."""
    require(principal, "keys:manage")
    key = service.revoke_key(
        session, workspace_id=principal.workspace_id, key_id=key_id, principal=principal
    )
    return KeyOut.model_validate(key)


def _member_out(user: User, membership: Membership) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=membership.role,
        last_active_at=membership.last_active_at,
        teams=list(membership.teams or []),
    )


@router.get("/members", response_model=MemberPage)
def list_members(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberPage:
    """Users of the workspace, their roles and their last activity in this workspace."""
    require(principal, "members:manage")
    rows = service.list_members(
        session, workspace_id=principal.workspace_id, after_id=cursor, limit=limit + 1
    )
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    return MemberPage(items=[_member_out(u, m) for u, m in rows[:limit]], next_cursor=next_cursor)


@router.patch("/members/{user_id}", response_model=MemberOut)
def change_member(
    user_id: ObjectId, body: MemberUpdate, principal: ApiPrincipal, session: DbSession
) -> MemberOut:
    """Change a member's role or teams. Only owners change owners or make owners; a
    workspace always keeps an owner."""
    require(principal, "members:manage")
    if body.role is None and body.teams is None:
        raise ValidationFailed(
            "Give a role or teams to change.",
            errors=[{"field": "role", "message": "give role or teams"}],
        )
    if body.role is not None:
        membership = service.change_member_role(
            session, principal=principal, user_id=user_id, role=body.role
        )
    if body.teams is not None:
        membership = service.set_member_teams(
            session,
            workspace_id=principal.workspace_id,
            user_id=user_id,
            teams=body.teams,
            principal=principal,
        )
    return _member_out(service.get_user(session, user_id=user_id), membership)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(user_id: ObjectId, principal: ApiPrincipal, session: DbSession) -> None:
    """Remove a user from the workspace (only owners remove owners; never the last one)."""
    require(principal, "members:manage")
    service.remove_member(session, principal=principal, user_id=user_id)


@router.post("/members/{user_id}/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_member_out(user_id: ObjectId, principal: ApiPrincipal, session: DbSession) -> None:
    """End every web session of a member at once (a lost laptop, a shared screen); API keys
    are not affected. Only owners do this to owners."""
    require(principal, "members:manage")
    service.end_member_sessions(session, principal=principal, user_id=user_id)


# --- invitations -------------------------------------------------------------------------------


@router.get("/invitations", response_model=InvitationPage)
def list_invitations(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InvitationPage:
    """Invitations to the workspace, newest first, with their status."""
    require(principal, "members:manage")
    rows = invitations.list_invitations(
        session, workspace_id=principal.workspace_id, before_id=cursor, limit=limit + 1
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return InvitationPage(
        items=[InvitationOut.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor
    )


@router.post("/invitations", response_model=InvitationOut, status_code=status.HTTP_202_ACCEPTED)
def invite(body: InvitationCreate, principal: ApiPrincipal, session: DbSession) -> InvitationOut:
    """Invite someone by e-mail: they become a member when they accept the link the e-mail
    carries (valid 7 days). The answer is the same whether or not the address has an account."""
    require(principal, "members:manage")
    invitation = invitations.invite(
        session,
        principal=principal,
        email=body.email,
        role=body.role,
        display_name=body.display_name,
    )
    return InvitationOut.model_validate(invitation)


@router.post("/invitations/{invitation_id}/resend", response_model=InvitationOut)
def resend_invitation(
    invitation_id: ObjectId, principal: ApiPrincipal, session: DbSession
) -> InvitationOut:
    """Mail the invitation again with a new link (the old one stops working)."""
    require(principal, "members:manage")
    invitation = invitations.resend(session, principal=principal, invitation_id=invitation_id)
    return InvitationOut.model_validate(invitation)


@router.delete("/invitations/{invitation_id}", response_model=InvitationOut)
def revoke_invitation(
    invitation_id: ObjectId, principal: ApiPrincipal, session: DbSession
) -> InvitationOut:
    """Withdraw an invitation; its link stops working."""
    require(principal, "members:manage")
    invitation = invitations.revoke(session, principal=principal, invitation_id=invitation_id)
    return InvitationOut.model_validate(invitation)


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


@router.get("/display-names/{kind}", response_model=DisplayNamePage)
def list_display_names(
    kind: DisplayKind,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DisplayNamePage:
    """The Korean and English names the workspace gave its teams, touchpoints, traits or
    event names, by code."""
    require(principal, "workspace:manage")
    rows = display_names.list_names(
        session, workspace_id=principal.workspace_id, kind=kind, after=cursor, limit=limit + 1
    )
    return DisplayNamePage(
        items=[DisplayNameOut.model_validate(r) for r in rows[:limit]],
        next_cursor=rows[limit - 1].key if len(rows) > limit else None,
    )


@router.put("/display-names/{kind}", response_model=DisplayNamePage)
def save_display_names(
    kind: DisplayKind, body: DisplayNamesIn, principal: ApiPrincipal, session: DbSession
) -> DisplayNamePage:
    """Name some codes (others are left as they are); two empty names clear a code's name.
    Answers with the names of the codes given, as stored."""
    require(principal, "workspace:manage")
    display_names.save_names(
        session,
        workspace_id=principal.workspace_id,
        kind=kind,
        names={key: (name.ko, name.en) for key, name in body.names.items()},
        principal=principal,
    )
    rows = display_names.list_names(
        session,
        workspace_id=principal.workspace_id,
        kind=kind,
        keys=[display_names.clean_key(key) for key in body.names],
        limit=len(body.names) or 1,
    )
    return DisplayNamePage(items=[DisplayNameOut.model_validate(r) for r in rows])
