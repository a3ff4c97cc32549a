"""Invitations to join a workspace: a member is added only when the person who holds the
e-mail address accepts, signed in as its account or creating it on the accept page.

Inviting answers the same whether or not the address has an account, so nobody learns which
addresses do. The token travels only in the e-mail (sent through the outbox once the request
commits, by the mailer the channels domain registers); only its SHA-256 is stored, and
resending makes a new one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import (
    add_member,
    check_owner_rule,
    check_role,
    create_user,
    get_workspace,
    normalise_login_email,
    note_workspace_used,
    record_audit,
    role_in,
)
from cxloop.core.db import rowcount
from cxloop.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from cxloop.core.timeutil import utcnow
from cxloop.models import MemberInvitation, Membership, User, Workspace

log = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)
# Invitations are mail from this server to any address an admin types: a workspace sends at
# most this many a day, and one invitation is sent at most MAX_SENDS times.
MAX_INVITATIONS_PER_DAY = 100
MAX_SENDS = 5
NOT_VALID = (
    "This invitation link is not valid: it was accepted, revoked or replaced by a newer one, "
    "or it has expired."
)

# Sends the invitation e-mail: (session, invitation, workspace, token). The channels domain
# registers one (it queues the mail in the outbox); accounts sits below it and cannot import it.
InvitationMailer = Callable[[Session, MemberInvitation, Workspace, str], None]
invitation_mailers: list[InvitationMailer] = []


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _send(session: Session, invitation: MemberInvitation) -> None:
    """Give the invitation a new token and mail it."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _digest(token)
    invitation.expires_at = utcnow() + INVITATION_LIFETIME
    session.flush()
    workspace = get_workspace(session, workspace_id=invitation.workspace_id)
    if not invitation_mailers:
        log.warning(
            "no invitation mailer is installed; invitation %s was not mailed", invitation.id
        )
    for mailer in invitation_mailers:
        mailer(session, invitation, workspace, token)


def invite(
    session: Session, *, principal: Principal, email: str, role: str, display_name: str = ""
) -> MemberInvitation:
    """Invite an e-mail address to the principal's workspace with ``role``; audited."""
    check_role(role)
    check_owner_rule(principal, current=None, role=role)
    address = normalise_login_email(email)
    member = session.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email == address, Membership.workspace_id == principal.workspace_id)
    )
    if member is not None:
        raise Conflict(f"{address} is already a member of this workspace.")
    now = utcnow()
    pending = session.scalar(
        select(MemberInvitation.id).where(
            MemberInvitation.workspace_id == principal.workspace_id,
            MemberInvitation.email == address,
            MemberInvitation.accepted_at.is_(None),
            MemberInvitation.revoked_at.is_(None),
            MemberInvitation.expires_at > now,
        )
    )
    if pending is not None:
        raise Conflict(f"An invitation to {address} is already waiting; resend it instead.")
    sent_today = session.scalar(
        select(func.count())
        .select_from(MemberInvitation)
        .where(
            MemberInvitation.workspace_id == principal.workspace_id,
            MemberInvitation.created_at >= now - timedelta(days=1),
        )
    )
    if (sent_today or 0) >= MAX_INVITATIONS_PER_DAY:
        raise TooManyRequests(
            f"This workspace sent {MAX_INVITATIONS_PER_DAY} invitations in the last 24 hours; "
            "try again tomorrow."
        )
    invitation = MemberInvitation(
        workspace_id=principal.workspace_id,
        email=address,
        role=role,
        display_name=display_name.strip()[:200],
        token_hash="",
        invited_by_id=principal.user_id,
        invited_by_label=principal.label[:320],
        expires_at=now + INVITATION_LIFETIME,
        sent_count=1,
    )
    session.add(invitation)
    # A placeholder hash, unique, replaced by the real one in _send.
    invitation.token_hash = _digest(secrets.token_urlsafe(32))
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="invitation.create",
        target_type="invitation",
        target_id=invitation.id,
        detail={"email": address, "role": role},
    )
    _send(session, invitation)
    return invitation


def list_invitations(
    session: Session, *, workspace_id: int, before_id: int | None = None, limit: int = 50
) -> list[MemberInvitation]:
    """The workspace's invitations, newest first."""
    query = (
        select(MemberInvitation)
        .where(MemberInvitation.workspace_id == workspace_id)
        .order_by(MemberInvitation.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(MemberInvitation.id < before_id)
    return list(session.scalars(query))


def pending_invitations(
    session: Session, *, workspace_id: int, limit: int = 50
) -> list[MemberInvitation]:
    """Invitations still waiting for an answer, newest first."""
    return list(
        session.scalars(
            select(MemberInvitation)
            .where(
                MemberInvitation.workspace_id == workspace_id,
                MemberInvitation.accepted_at.is_(None),
                MemberInvitation.revoked_at.is_(None),
                MemberInvitation.expires_at > utcnow(),
            )
            .order_by(MemberInvitation.id.desc())
            .limit(limit)
        )
    )


def get_invitation(session: Session, *, workspace_id: int, invitation_id: int) -> MemberInvitation:
    invitation = session.scalar(
        select(MemberInvitation).where(
            MemberInvitation.workspace_id == workspace_id, MemberInvitation.id == invitation_id
        )
    )
    if invitation is None:
        raise NotFound(f"No invitation with id {invitation_id} in this workspace.")
    return invitation


def resend(session: Session, *, principal: Principal, invitation_id: int) -> MemberInvitation:
    """Mail a waiting (or expired) invitation again with a new link, valid for another week;
    the old link stops working. Audited."""
    invitation = get_invitation(
        session, workspace_id=principal.workspace_id, invitation_id=invitation_id
    )
    if invitation.status in ("accepted", "revoked"):
        raise Conflict(f"This invitation was {invitation.status}; it cannot be sent again.")
    check_owner_rule(principal, current=None, role=invitation.role)
    if invitation.sent_count >= MAX_SENDS:
        raise TooManyRequests(
            f"This invitation was sent {MAX_SENDS} times; withdraw it and invite again later."
        )
    invitation.sent_count += 1
    record_audit(
        session,
        principal=principal,
        action="invitation.resend",
        target_type="invitation",
        target_id=invitation.id,
        detail={"email": invitation.email},
    )
    _send(session, invitation)
    return invitation


def revoke(session: Session, *, principal: Principal, invitation_id: int) -> MemberInvitation:
    """Withdraw an invitation; its link stops working. Audited once (again: no change)."""
    invitation = get_invitation(
        session, workspace_id=principal.workspace_id, invitation_id=invitation_id
    )
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted; remove the member instead.")
    if invitation.revoked_at is not None:
        return invitation
    check_owner_rule(principal, current=None, role=invitation.role)
    invitation.revoked_at = utcnow()
    record_audit(
        session,
        principal=principal,
        action="invitation.revoke",
        target_type="invitation",
        target_id=invitation.id,
        detail={"email": invitation.email},
    )
    return invitation


# --- the invited person's side ------------------------------------------------------------------


def find_by_token(session: Session, *, token: str) -> MemberInvitation:
    """The waiting invitation this link's token belongs to."""
    if not token or len(token) > 100:
        raise NotFound(NOT_VALID)
    invitation = session.scalar(
        select(MemberInvitation).where(MemberInvitation.token_hash == _digest(token))
    )
    if invitation is None or invitation.status != "pending":
        raise NotFound(NOT_VALID)
    return invitation


def has_account(session: Session, *, invitation: MemberInvitation) -> bool:
    """Whether the invited address has an account (asked only by the link's holder)."""
    return session.scalar(select(User.id).where(User.email == invitation.email)) is not None


def accept(session: Session, *, token: str, user: User) -> Membership:
    """The signed-in ``user`` accepts the invitation the token names (it must have been sent
    to their address); they become a member with its role. Audited."""
    invitation = find_by_token(session, token=token)
    if user.email != invitation.email:
        raise PermissionDenied(
            "This invitation was sent to another e-mail address; sign in with that one."
        )
    # Decided by one conditional update, so two tabs accepting at once add one membership.
    taken = session.execute(
        update(MemberInvitation)
        .where(MemberInvitation.id == invitation.id, MemberInvitation.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(taken):
        raise NotFound(NOT_VALID)
    session.refresh(invitation)
    workspace = get_workspace(session, workspace_id=invitation.workspace_id)
    role = role_in(session, user_id=user.id, workspace_id=workspace.id)
    if role is None:
        membership = add_member(session, workspace=workspace, user=user, role=invitation.role)
    else:
        membership = session.scalars(
            select(Membership).where(
                Membership.workspace_id == workspace.id, Membership.user_id == user.id
            )
        ).one()
    note_workspace_used(session, user=user, workspace_id=workspace.id)
    record_audit(
        session,
        principal=Principal(
            workspace_id=workspace.id, role=membership.role, user_id=user.id, label=user.email
        ),
        action="invitation.accept",
        target_type="invitation",
        target_id=invitation.id,
        detail={"email": user.email, "role": membership.role},
    )
    return membership


def accept_with_new_account(
    session: Session, *, token: str, display_name: str, password: str, locale: str
) -> User:
    """Create the invited address's account (the password must pass the rules) and accept."""
    invitation = find_by_token(session, token=token)
    if has_account(session, invitation=invitation):
        raise Conflict("An account with this e-mail address exists; sign in to accept.")
    if not password:
        raise ValidationFailed(
            "Choose a password.",
            errors=[{"field": "password", "message": "required", "code": "password_short"}],
        )
    user = create_user(
        session,
        email=invitation.email,
        password=password,
        display_name=display_name[:200] or invitation.display_name,
        locale=locale,
    )
    accept(session, token=token, user=user)
    return user
