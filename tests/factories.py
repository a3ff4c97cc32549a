"""Test data factories: keyword arguments in, flushed rows out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey import Huey
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.core import jobs
from cxloop.models import ApiKey, Customer, User, Workspace
from cxloop.profiles import service as profiles
from cxloop.profiles.identity import merge_customers

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


@contextmanager
def held_jobs() -> Iterator[Huey]:
    """Jobs enqueued in the block wait in the queue (``huey.pending()``) instead of running at
    once, as they otherwise do in tests: run one with ``huey.execute(task)``. Jobs whose code
    uses the process database (a retraining) would otherwise run against it, not against the
    test's transaction."""
    huey = jobs.huey
    huey.immediate = False
    try:
        yield huey
    finally:
        huey.flush()
        huey.immediate = True


def make_workspace(
    session: Session,
    *,
    name: str | None = None,
    slug: str | None = None,
    identity_keys: list[str] | None = None,
) -> Workspace:
    name = name or unique("Workspace ")
    workspace = accounts.create_workspace(
        session, name=name, slug=slug or unique("ws-") + "-" + str(id(session))
    )
    if identity_keys is not None:
        accounts.set_identity_keys(session, workspace=workspace, kinds=identity_keys)
    session.flush()
    return workspace


def make_user(
    session: Session,
    *,
    workspace: Workspace,
    role: str = "owner",
    email: str | None = None,
    password: str = PASSWORD,
    locale: str = "en",
) -> User:
    user = accounts.create_user(
        session, email=email or f"{unique('user')}@example.com", password=password, locale=locale
    )
    accounts.add_member(session, workspace=workspace, user=user, role=role)
    return user


def make_key(
    session: Session, *, workspace: Workspace, kind: str = "api", role: str | None = "owner"
) -> tuple[ApiKey, str]:
    return accounts.create_key(
        session, workspace_id=workspace.id, kind=kind, role=role if kind == "api" else None
    )


def make_customer(
    session: Session,
    *,
    workspace: Workspace,
    user_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    traits: dict[str, Any] | None = None,
) -> Customer:
    identities: list[tuple[str, str]] = []
    if user_id:
        identities.append(("user_id", user_id))
    if email:
        identities.append(("email", email))
    if phone:
        identities.append(("phone", phone))
    if not identities:
        identities.append(("user_id", unique("u")))
    return profiles.create_customer(
        session,
        workspace=workspace,
        principal=None,
        traits=dict(traits or {}),
        identities=identities,
    )


def merge_by_id(session: Session, *, workspace_id: int, survivor: int, merged: int) -> None:
    """Merge customer ``merged`` into ``survivor`` as the identity service does."""
    merge_customers(
        session,
        survivor=profiles.get_customer(session, workspace_id=workspace_id, customer_id=survivor),
        merged=profiles.get_customer(session, workspace_id=workspace_id, customer_id=merged),
        reason="test",
    )
    session.flush()


# --- HTTP helpers and a ready workspace (added for the API, ingestion and identity tests) ---


def basic_auth(write_key: str, password: str = "") -> dict[str, str]:
    """The Authorization header a Segment SDK sends: the write key as user, empty password."""
    import base64

    token = base64.b64encode(f"{write_key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class Tenant:
    """A workspace with an owner API key and a write key (secrets kept for requests)."""

    def __init__(self, session: Session, *, identity_keys: list[str] | None = None) -> None:
        self.workspace = make_workspace(session, identity_keys=identity_keys)
        self.api_key, self.api_secret = make_key(session, workspace=self.workspace, role="owner")
        self.write_key, self.write_secret = make_key(
            session, workspace=self.workspace, kind="write"
        )
        self._session = session
        session.flush()

    @property
    def id(self) -> int:
        return self.workspace.id

    @property
    def api(self) -> dict[str, str]:
        return bearer(self.api_secret)

    @property
    def write(self) -> dict[str, str]:
        return basic_auth(self.write_secret)

    def key(self, role: str) -> dict[str, str]:
        """Headers of a new API key with ``role`` in this workspace."""
        _key, secret = make_key(self._session, workspace=self.workspace, role=role)
        self._session.flush()
        return bearer(secret)
