"""FastAPI dependencies that turn a request into a Principal (bearer API key or web session)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from cxloop.accounts import service
from cxloop.accounts.access import Principal
from cxloop.core.errors import AuthenticationFailed
from cxloop.core.http import client_ip, database_of, db_session
from cxloop.core.timeutil import utcnow
from cxloop.models import ApiKey, Workspace

bearer = HTTPBearer(
    auto_error=False,
    description="An API key created in Settings or by `cxloop key create --kind api`.",
)

DbSession = Annotated[Session, Depends(db_session, scope="function")]


# "Last used" is kept to the minute: rewriting the key's row on every call would make
# concurrent requests with one key queue behind each other's row lock.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def touch(key: ApiKey) -> None:
    """Record that ``key`` was used now (at most once per LAST_USED_RESOLUTION)."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now


def _api_key(session: Session, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("Send an API key as 'Authorization: Bearer <key>'.")
    key = service.key_for_secret(session, secret=credentials.credentials, kind="api")
    if key is None:
        raise AuthenticationFailed("The API key is unknown or revoked.")
    return key


def _principal_of(request: Request, key: ApiKey) -> Principal:
    return Principal(
        workspace_id=key.workspace_id,
        role=key.role or "viewer",
        key_id=key.id,
        label=f"key:{key.prefix}",
        ip=client_ip(request),
    )


def api_principal(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of a bearer API key."""
    key = _api_key(session, credentials)
    touch(key)
    return _principal_of(request, key)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def sessionless_api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of a bearer API key, for a handler that opens no request session: slow
    work that only reads (analysing texts) then holds no transaction, so on SQLite it never
    keeps the one write lock from ingestion. The key is looked up in a read session; its
    "last used" stamp, when due, is written in a short transaction of its own."""
    database = database_of(request)
    with database.read_session() as session:
        key = _api_key(session, credentials)
        principal = _principal_of(request, key)
        last_used_at = key.last_used_at
    now = utcnow()
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        with database.session() as session:
            # Conditional, so concurrent requests with one key write the stamp once.
            session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == principal.key_id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
                    ),
                )
                .values(last_used_at=now)
            )
    return principal


SessionlessApiPrincipal = Annotated[Principal, Depends(sessionless_api_principal)]


def write_key_from(request: Request, body_key: object = None) -> str:
    """The write key of an ingestion call: Basic auth user name, else ``writeKey`` in the body."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise AuthenticationFailed(
                "The Authorization header is not valid Basic auth."
            ) from None
        return decoded.split(":", 1)[0]
    if isinstance(body_key, str):
        return body_key
    return ""


def workspace_for_write_key(session: Session, secret: str) -> tuple[ApiKey, Workspace]:
    key = service.key_for_secret(session, secret=secret, kind="write")
    if key is None:
        raise AuthenticationFailed("Unknown or revoked write key.")
    touch(key)
    workspace = session.get(Workspace, key.workspace_id)
    assert workspace is not None
    return key, workspace
