"""Workspaces, users, memberships, keys, login and the audit log."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    PermissionDenied,
    ValidationFailed,
)
from cxloop.core.ratelimit import RateLimited, RateLimiter
from cxloop.core.settings import Settings
from cxloop.core.timeutil import as_utc, utcnow
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


def create_workspace(
    session: Session,
    *,
    name: str,
    slug: str | None = None,
    by_operator: bool = False,
    audit_detail: Mapping[str, Any] | None = None,
) -> Workspace:
    """Create a tenant; its slug is what the CLI's --workspace takes. ``by_operator``: the
    operator at the machine asked for it, and the audit log says so (with ``audit_detail``)."""
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
    if by_operator:
        record_audit(
            session,
            principal=cli_principal(workspace.id),
            action="workspace.create",
            target_type="workspace",
            target_id=workspace.id,
            detail=dict(audit_detail or {}),
        )
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


def set_identity_keys(
    session: Session,
    *,
    workspace: Workspace,
    kinds: list[str],
    principal: Principal | None = None,
) -> None:
    """Choose which identity kinds are unique per person (user_id always is). A change made
    by ``principal`` is audited."""
    allowed = {"user_id", "email", "phone"}
    unknown = set(kinds) - allowed
    if unknown:
        raise ValidationFailed(
            f"Identity keys may only be {sorted(allowed)}; got {sorted(unknown)}."
        )
    before = list(workspace.identity_keys or [])
    workspace.identity_keys = ["user_id", *sorted(set(kinds) - {"user_id"})]
    if principal is not None and workspace.identity_keys != before:
        record_audit(
            session,
            principal=principal,
            action="workspace.identity_keys",
            workspace_id=workspace.id,
            target_type="workspace",
            target_id=workspace.id,
            detail={"before": before, "after": list(workspace.identity_keys)},
        )


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
        password_hash=hash_password(password, user_inputs=(email, display_name)),
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


def check_owner_rule(principal: Principal, *, current: str | None, role: str | None) -> None:
    """Only an owner makes, changes or removes an owner (``current`` is the member's role now,
    ``role`` the one asked for; None for a removal or a new member)."""
    if principal.role != "owner" and "owner" in (current, role):
        raise PermissionDenied(
            "Only an owner can make someone an owner."
            if current != "owner"
            else "Only an owner can change or remove an owner."
        )


def add_member(
    session: Session,
    *,
    workspace: Workspace,
    user: User,
    role: str,
    principal: Principal | None = None,
) -> Membership:
    """Give ``user`` a role in ``workspace`` (or change the role they have); audited as
    ``member.add`` when ``principal`` (the operator's CLI) is given.

    For trusted callers (an accepted invitation, the demo, the operator's CLI); members'
    changes go through :func:`change_member_role`, which applies the owner rule."""
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
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="member.add",
            workspace_id=workspace.id,
            target_type="user",
            target_id=user.id,
            detail={"role": role},
        )
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


def _membership(session: Session, *, workspace_id: int, user_id: int) -> Membership:
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("That user is not a member of this workspace.")
    return membership


def change_member_role(
    session: Session, *, principal: Principal, user_id: int, role: str
) -> Membership:
    """Give a member of the principal's workspace another role; audited. Only owners touch
    owners, and a workspace always keeps one."""
    check_role(role)
    membership = _membership(session, workspace_id=principal.workspace_id, user_id=user_id)
    was = membership.role
    check_owner_rule(principal, current=was, role=role)
    if role == was:
        return membership
    if was == "owner":
        _ensure_another_owner(session, workspace_id=principal.workspace_id, user_id=user_id)
    membership.role = role
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="member.role",
        target_type="user",
        target_id=user_id,
        detail={"role": role, "was": was},
    )
    return membership


def remove_member(session: Session, *, principal: Principal, user_id: int) -> None:
    """Take a member out of the principal's workspace; audited. Only owners remove owners,
    and never the last one."""
    membership = _membership(session, workspace_id=principal.workspace_id, user_id=user_id)
    check_owner_rule(principal, current=membership.role, role=None)
    if membership.role == "owner":
        _ensure_another_owner(session, workspace_id=principal.workspace_id, user_id=user_id)
    session.delete(membership)
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="member.remove",
        target_type="user",
        target_id=user_id,
        detail={"role": membership.role},
    )


def end_member_sessions(session: Session, *, principal: Principal, user_id: int) -> User:
    """Sign a member of the principal's workspace out of every web session (e.g. a lost
    laptop); audited. Only owners do this to owners."""
    membership = _membership(session, workspace_id=principal.workspace_id, user_id=user_id)
    check_owner_rule(principal, current=membership.role, role=None)
    user = get_user(session, user_id=user_id)
    end_sessions(session, user=user)
    record_audit(
        session,
        principal=principal,
        action="member.sign_out",
        target_type="user",
        target_id=user_id,
    )
    return user


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


def teams_in_use(session: Session, *, workspace_id: int) -> list[str]:
    """The teams the workspace's members work in, by name."""
    found: set[str] = set()
    for teams in session.scalars(
        select(Membership.teams).where(Membership.workspace_id == workspace_id)
    ):
        found.update(t for t in teams or [] if isinstance(t, str))
    return sorted(found)


def set_member_teams(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    teams: str | Sequence[str],
    principal: Principal | None = None,
) -> Membership:
    """Put a member in these teams (and out of the others); their follow-ups notify them.
    Audited when ``principal`` (the member manager) is given."""
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("That user is not a member of this workspace.")
    membership.teams = parse_teams(teams)
    session.flush()
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="member.teams",
            target_type="user",
            target_id=user_id,
            detail={"teams": list(membership.teams or [])},
        )
    return membership


def workspace_to_sign_in(session: Session, *, user: User) -> Workspace | None:
    """Where a sign-in lands: the workspace the user last worked in while still a member of
    it, else the first of theirs by name; None when they belong to none."""
    memberships = memberships_of(session, user_id=user.id)
    return next(
        (w for w, _ in memberships if w.id == user.last_workspace_id),
        memberships[0][0] if memberships else None,
    )


def note_workspace_used(session: Session, *, user: User, workspace_id: int) -> None:
    """Remember that the user now works in this workspace (where their next sign-in lands, and
    the activity its members list shows)."""
    user.last_workspace_id = workspace_id
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user.id
        )
    )
    if membership is not None:
        membership.last_active_at = utcnow()


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


# --- login ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginThrottle:
    """How sign-in is slowed (see :func:`authenticate`)."""

    # Failed tries an e-mail gets before each next one must wait.
    free_failures: int = 5
    # The wait doubles with every further failure (1 s, 2 s, 4 s …) up to this.
    longest_delay_seconds: int = 15 * 60
    # Failed sign-ins one client address may make (a moving window, any e-mails).
    address_rule: str = "20 per 15 minutes"
    # Consecutive failures older than this are forgotten.
    memory: timedelta = timedelta(days=1)
    # An address the account signed in from lately is not held by the e-mail's delay.
    known_address_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            free_failures=settings.login_max_failures,
            longest_delay_seconds=settings.login_max_delay_minutes * 60,
            address_rule=settings.login_address_failures,
        )


_ADDRESS_KEY = "login-address"


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str = "",
    limiter: RateLimiter | None = None,
    throttle: LoginThrottle | None = None,
) -> User:
    """Check a sign-in, slowed two ways against guessing.

    Per client address: after ``address_rule`` failures it gets 429 whatever it sends. Per
    e-mail: after ``free_failures`` consecutive failures each next try waits a doubling delay
    (capped) — except from an address this account signed in from lately, so someone failing
    on purpose cannot lock the owner out. No hard lock.
    """
    throttle = throttle or LoginThrottle()
    email = email.strip().lower()
    if limiter is not None and ip:
        wait = limiter.retry_after(throttle.address_rule, _ADDRESS_KEY, ip)
        if wait:
            raise RateLimited(
                f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
            )
    wait = _email_delay(session, email=email, ip=ip, throttle=throttle)
    if wait:
        raise RateLimited(
            f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
        )
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    ok = ok and user is not None and user.is_active
    session.add(LoginAttempt(email=email[:320], ip=ip[:64], succeeded=bool(ok)))
    session.flush()
    if not ok or user is None:
        if limiter is not None and ip:
            limiter.allow(throttle.address_rule, _ADDRESS_KEY, ip)
        raise AuthenticationFailed("Wrong email or password.")
    user.last_login_at = utcnow()
    return user


def _email_delay(session: Session, *, email: str, ip: str, throttle: LoginThrottle) -> int:
    """Whole seconds this e-mail must still wait before its next try (0: none)."""
    now = utcnow()
    since = now - throttle.memory
    last_success = session.scalar(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email,
            LoginAttempt.created_at >= since,
            LoginAttempt.succeeded.is_(True),
        )
    )
    failures, last_failure = session.execute(
        select(func.count(), func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email,
            LoginAttempt.created_at > (last_success or since),
            LoginAttempt.succeeded.is_(False),
        )
    ).one()
    if failures < throttle.free_failures or last_failure is None:
        return 0
    exponent = min(failures - throttle.free_failures, 30)
    delay = min(throttle.longest_delay_seconds, 2**exponent)
    remaining = (as_utc(last_failure) + timedelta(seconds=delay) - now).total_seconds()
    if remaining <= 0:
        return 0
    if ip and _known_address(session, email=email, ip=ip, throttle=throttle):
        return 0
    return max(1, math.ceil(remaining))


def _known_address(session: Session, *, email: str, ip: str, throttle: LoginThrottle) -> bool:
    return (
        session.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.ip == ip,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.created_at >= utcnow() - timedelta(days=throttle.known_address_days),
            )
            .limit(1)
        )
        is not None
    )


# --- sessions and passwords --------------------------------------------------------------------


def end_sessions(session: Session, *, user: User) -> None:
    """End every web session of ``user`` begun so far (each carries the version it began
    under, and a session whose version is not the user's is refused)."""
    user.session_version = (user.session_version or 0) + 1


def change_password(session: Session, *, user: User, password: str) -> None:
    """Set a new password (it must pass the rules); it ends every session begun before."""
    user.password_hash = hash_password(password, user_inputs=(user.email, user.display_name))
    end_sessions(session, user=user)


def _audit_by_operator(session: Session, *, user: User, action: str) -> None:
    """An entry in each workspace ``user`` belongs to, by the operator at the machine."""
    workspace_ids = session.scalars(
        select(Membership.workspace_id).where(Membership.user_id == user.id)
    ).all()
    for workspace_id in sorted(workspace_ids):
        record_audit(
            session,
            principal=cli_principal(workspace_id),
            action=action,
            target_type="user",
            target_id=user.id,
        )


def operator_sign_out(session: Session, *, user: User) -> None:
    """The operator at the machine ends every web session of ``user``; audited in each of
    the user's workspaces."""
    end_sessions(session, user=user)
    _audit_by_operator(session, user=user, action="member.sign_out")


def operator_set_password(session: Session, *, user: User, password: str) -> None:
    """The operator at the machine sets ``user``'s password (ending their sessions); audited
    in each of the user's workspaces, without the password."""
    change_password(session, user=user, password=password)
    _audit_by_operator(session, user=user, action="member.password_set")


def change_own_password(
    session: Session, *, user: User, current_password: str, password: str
) -> None:
    """A signed-in user's new password, given the current one."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(
            "The current password is not right.",
            errors=[
                {
                    "field": "current_password",
                    "message": "not right",
                    "code": "current_password",
                }
            ],
        )
    change_password(session, user=user, password=password)


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
    principal: Principal | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never shown again.

    With ``principal`` (someone managing keys): only an owner creates an owner key, the key
    is recorded as theirs, and the creation is audited."""
    if kind not in KEY_KINDS:
        raise ValidationFailed(
            f"Key kind must be 'write' or 'api', not {kind!r}.",
            errors=[{"field": "kind", "message": "write or api"}],
        )
    role = check_role(role or "viewer") if kind == "api" else None
    if principal is not None:
        if role == "owner" and principal.role != "owner":
            raise ValidationFailed(
                "Only an owner can create an owner key.",
                errors=[{"field": "role", "message": "only an owner can create an owner key"}],
            )
        created_by_id = created_by_id if created_by_id is not None else principal.user_id
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
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="key.create",
            workspace_id=workspace_id,
            target_type="key",
            target_id=key.id,
            detail={"kind": key.kind, "role": key.role},
        )
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


def revoke_key(
    session: Session, *, workspace_id: int, key_id: int, principal: Principal | None = None
) -> ApiKey:
    """Revoke a key at once (an owner key: by an owner only, as owners are changed). Audited
    when ``principal`` is given; revoking a revoked key changes nothing and is not audited."""
    key = get_key(session, workspace_id=workspace_id, key_id=key_id)
    if principal is not None and key.role == "owner" and principal.role != "owner":
        raise PermissionDenied("Only an owner can revoke an owner key.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        if principal is not None:
            record_audit(
                session,
                principal=principal,
                action="key.revoke",
                workspace_id=workspace_id,
                target_type="key",
                target_id=key.id,
            )
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
