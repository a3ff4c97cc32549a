"""FastAPI dependencies that turn a request into a Principal (bearer API key or web session)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cxloop.accounts import service
from cxloop.accounts.access import Principal
from cxloop.core.errors import AuthenticationFailed
from cxloop.core.http import client_ip, db_session
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


def api_principal(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of a bearer API key."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("Send an API key as 'Authorization: Bearer <key>'.")
    key = service.key_for_secret(session, secret=credentials.credentials, kind="api")
    if key is None:
        raise AuthenticationFailed("The API key is unknown or revoked.")
    touch(key)
    return Principal(
        workspace_id=key.workspace_id,
        role=key.role or "viewer",
        key_id=key.id,
        label=f"key:{key.prefix}",
        ip=client_ip(request),
    )


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


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
