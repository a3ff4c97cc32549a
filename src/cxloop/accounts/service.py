"""Workspaces, users, memberships, keys, login and the audit log."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.passwords import DUMMY_HASH, hash_password, verify_password
from cxloop.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from cxloop.core.timeutil import utcnow
from cxloop.models import ApiKey, AuditEntry, LoginAttempt, Membership, User, Workspace
from cxloop.models.workspace import ROLES

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
KEY_KINDS = ("write", "api")
KEY_PREFIXES = {"write": "cxw_", "api": "cxk_"}


def normalise_login_email(email: str) -> str:
    """Validate a user's email address and return it lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"Not a valid email address: {email!r}.",
            errors=[{"field": "email", "message": str(exc)}],
        ) from exc


def slugify_workspace(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:63]
    return slug or "workspace"


# --- workspaces -------------------------------------------------------------------------------


def create_workspace(session: Session, *, name: str, slug: str | None = None) -> Workspace:
    """Create a tenant; its slug is what the CLI's --workspace takes."""
    name = name.strip()
    if not name:
        raise ValidationFailed("Workspace name must not be empty.")
    slug = slug or slugify_workspace(name)
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            f"Workspace slug {slug!r} may hold only lower-case letters, digits and dashes."
        )
    if session.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        raise Conflict(f"A workspace named {slug!r} already exists.")
    workspace = Workspace(name=name, slug=slug)
    session.add(workspace)
    session.flush()
    return workspace


def get_workspace(session: Session, *, workspace_id: int) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace with id {workspace_id}.")
    return workspace


def find_workspace(session: Session, *, slug: str) -> Workspace:
    """The workspace named ``slug`` (or whose id is ``slug``)."""
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None and slug.isdigit():
        workspace = session.get(Workspace, int(slug))
    if workspace is None:
        raise NotFound(f"No workspace named {slug!r}.")
    return workspace


def set_identity_keys(session: Session, *, workspace: Workspace, kinds: list[str]) -> None:
    """Choose which identity kinds are unique per person (user_id always is)."""
    allowed = {"user_id", "email", "phone"}
    unknown = set(kinds) - allowed
    if unknown:
        raise ValidationFailed(
            f"Identity keys may only be {sorted(allowed)}; got {sorted(unknown)}."
        )
    workspace.identity_keys = ["user_id", *sorted(set(kinds) - {"user_id"})]


# --- users and memberships ---------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    display_name: str = "",
    locale: str = "ko",
) -> User:
    email = normalise_login_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with email {email} already exists.")
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name.strip() or email.split("@")[0],
        locale=locale if locale in ("ko", "en") else "ko",
    )
    session.add(user)
    session.flush()
    return user


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed(
            f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.",
            errors=[{"field": "role", "message": "unknown role"}],
        )
    return role


def add_member(session: Session, *, workspace: Workspace, user: User, role: str) -> Membership:
    """Give ``user`` a role in ``workspace`` (or change the role they have)."""
    check_role(role)
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        membership = Membership(workspace_id=workspace.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        if membership.role == "owner" and role != "owner":
            _ensure_another_owner(session, workspace_id=workspace.id, user_id=user.id)
        membership.role = role
    session.flush()
    return membership


def _ensure_another_owner(session: Session, *, workspace_id: int, user_id: int) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role == "owner",
            Membership.user_id != user_id,
        )
    )
    if not owners:
        raise Conflict("A workspace needs at least one owner; make someone else owner first.")


def remove_member(session: Session, *, workspace_id: int, user_id: int) -> None:
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("That user is not a member of this workspace.")
    if membership.role == "owner":
        _ensure_another_owner(session, workspace_id=workspace_id, user_id=user_id)
    session.delete(membership)
    session.flush()


def list_members(
    session: Session, *, workspace_id: int, after_id: int | None = None, limit: int = 50
) -> list[tuple[User, Membership]]:
    query = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(User.id > after_id)
    return [(u, m) for u, m in session.execute(query).all()]


# A team key: letters (Korean too), digits, "-" and "_", as used in Survey.owner_team.
TEAM_KEY = re.compile(r"^[^\W][\w-]{0,63}$")
MAX_TEAMS = 20


def parse_teams(value: str | Sequence[str]) -> list[str]:
    """Team keys from a list or from text separated by commas or spaces, lower-cased, each
    once; anything else is a field-level 422."""
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    teams: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationFailed(
                "Teams must be text.", errors=[{"field": "teams", "message": "must be text"}]
            )
        key = item.strip().lower()
        if not key:
            continue
        if not TEAM_KEY.match(key):
            raise ValidationFailed(
                f"{key[:70]!r} is not a team key: use letters, digits, '-' or '_' (up to 64).",
                errors=[{"field": "teams", "message": "letters, digits, '-' or '_' only"}],
            )
        if key not in teams:
            teams.append(key)
    if len(teams) > MAX_TEAMS:
        raise ValidationFailed(
            f"A member can be in at most {MAX_TEAMS} teams.",
            errors=[{"field": "teams", "message": f"at most {MAX_TEAMS}"}],
        )
    return teams


def set_member_teams(
    session: Session, *, workspace_id: int, user_id: int, teams: str | Sequence[str]
) -> Membership:
    """Put a member in these teams (and out of the others); their follow-ups notify them."""
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("That user is not a member of this workspace.")
    membership.teams = parse_teams(teams)
    session.flush()
    return membership


def memberships_of(session: Session, *, user_id: int) -> list[tuple[Workspace, str]]:
    rows = session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.name)
    ).all()
    return [(w, r) for w, r in rows]


def role_in(session: Session, *, user_id: int, workspace_id: int) -> str | None:
    return session.scalar(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.workspace_id == workspace_id
        )
    )


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def set_user_locale(session: Session, *, user: User, locale: str) -> None:
    """Choose the language the user's web pages are shown in."""
    if locale not in ("ko", "en"):
        raise ValidationFailed(
            f"Language must be 'ko' or 'en', not {locale!r}.",
            errors=[{"field": "locale", "message": "unknown language"}],
        )
    user.locale = locale


def find_user(session: Session, *, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No user with email {email}.")
    return user


# --- login -------------------------------------------------------------------------------------


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str = "",
    max_failures: int = 5,
    lockout_minutes: int = 15,
) -> User:
    """Check a login; after ``max_failures`` recent failures the email is locked for a while."""
    email = email.strip().lower()
    since = utcnow() - timedelta(minutes=lockout_minutes)
    failures = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.email == email,
            LoginAttempt.created_at >= since,
            LoginAttempt.succeeded.is_(False),
        )
    )
    if failures is not None and failures >= max_failures:
        raise TooManyRequests(f"Too many failed logins; try again in {lockout_minutes} minutes.")
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    ok = ok and user is not None and user.is_active
    session.add(LoginAttempt(email=email, ip=ip, succeeded=bool(ok)))
    session.flush()
    if not ok or user is None:
        raise AuthenticationFailed("Wrong email or password.")
    user.last_login_at = utcnow()
    return user


def change_password(session: Session, *, user: User, password: str) -> None:
    user.password_hash = hash_password(password)


# --- API and write keys ------------------------------------------------------------------------


def _digest(secret: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 is a safe one-way store for them.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    name: str = "",
    role: str | None = None,
    created_by_id: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never shown again."""
    if kind not in KEY_KINDS:
        raise ValidationFailed(f"Key kind must be 'write' or 'api', not {kind!r}.")
    role = check_role(role or "viewer") if kind == "api" else None
    secret = KEY_PREFIXES[kind] + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=workspace_id,
        kind=kind,
        name=name.strip()[:200] or f"{kind} key",
        role=role,
        prefix=secret[:12],
        key_hash=_digest(secret),
        created_by_id=created_by_id,
    )
    session.add(key)
    session.flush()
    return key, secret


def key_for_secret(session: Session, *, secret: str, kind: str) -> ApiKey | None:
    """The live key of ``kind`` whose secret this is, or None."""
    if not secret or not secret.startswith(KEY_PREFIXES[kind]):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(secret)))
    if key is None or key.kind != kind or key.revoked_at is not None:
        return None
    return key


def list_keys(
    session: Session, *, workspace_id: int, after_id: int | None = None, limit: int = 50
) -> list[ApiKey]:
    query = (
        select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id).limit(limit)
    )
    if after_id is not None:
        query = query.where(ApiKey.id > after_id)
    return list(session.scalars(query))


def get_key(session: Session, *, workspace_id: int, key_id: int) -> ApiKey:
    key = session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )
    if key is None:
        raise NotFound(f"No key with id {key_id} in this workspace.")
    return key


def revoke_key(session: Session, *, workspace_id: int, key_id: int) -> ApiKey:
    key = get_key(session, workspace_id=workspace_id, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


# --- audit -------------------------------------------------------------------------------------


def record_audit(
    session: Session,
    *,
    principal: Principal | None,
    action: str,
    workspace_id: int | None = None,
    target_type: str = "",
    target_id: object = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append who did what to the audit log."""
    entry = AuditEntry(
        workspace_id=workspace_id
        if workspace_id is not None
        else (principal.workspace_id if principal else None),
        actor_user_id=principal.user_id if principal else None,
        actor_key_id=principal.key_id if principal else None,
        actor_label=(principal.label if principal else "system")[:320],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
        ip=principal.ip if principal else None,
    )
    session.add(entry)
    return entry


def list_audit(
    session: Session, *, workspace_id: int, before_id: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.workspace_id == workspace_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def cli_principal(workspace_id: int) -> Principal:
    """The principal for commands run by the operator at the machine."""
    return Principal(workspace_id=workspace_id, role="owner", label="cli")
