"""Who a visitor of an embedded widget (survey, chat) is: found by their user id or the
anonymous id the analytics SDK gave them, or identified through ingestion so identity
resolution and merging work as for any other event; never a named person's profile reached
through an anonymous id."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.events.segment import parse_message
from cxloop.events.service import ingest
from cxloop.models import Customer, Identity, Workspace
from cxloop.profiles.service import find_customer


def widget_visitor(
    session: Session,
    *,
    workspace: Workspace,
    anonymous_id: str | None,
    user_id: str | None,
    create: bool = True,
) -> Customer | None:
    """The profile of a widget visitor, found by their user id or the anonymous id the
    analytics SDK gave them. An unknown visitor is identified through ingestion (an
    ``identify`` from the widget, stored once per id pair), so identity resolution and merging
    work exactly as for any other event; ``create=False`` only looks up.

    The write key the widget carries is public, so ``user_id`` must have been verified by the
    caller (the shop's ``userHash``). Without one the visitor is anonymous: only a profile known
    by anonymous ids alone is theirs; a profile that names a person (a user id, an email, a
    phone, a channel id) is never reached through an anonymous id, since anyone may join an
    anonymous id to a person's profile through the public ingestion API."""
    if user_id is None:
        return _anonymous_visitor(
            session, workspace=workspace, anonymous_id=anonymous_id, create=create
        )
    keys = [("user_id", user_id), ("anonymous_id", anonymous_id)]
    if create:
        _identify_visitor(session, workspace=workspace, anonymous_id=anonymous_id, user_id=user_id)
    for kind, value in keys:
        if value:
            customer = find_customer(session, workspace_id=workspace.id, kind=kind, value=value)
            if customer is not None:
                return customer
    return None


def _anonymous_visitor(
    session: Session, *, workspace: Workspace, anonymous_id: str | None, create: bool
) -> Customer | None:
    if not anonymous_id:
        return None
    customer = find_customer(
        session, workspace_id=workspace.id, kind="anonymous_id", value=anonymous_id
    )
    if customer is None and create:
        _identify_visitor(session, workspace=workspace, anonymous_id=anonymous_id, user_id=None)
        customer = find_customer(
            session, workspace_id=workspace.id, kind="anonymous_id", value=anonymous_id
        )
    if customer is None or _names_a_person(session, customer):
        return None
    return customer


def _names_a_person(session: Session, customer: Customer) -> bool:
    """Whether the profile holds an identity other than anonymous ids."""
    other = session.scalar(
        select(Identity.id)
        .where(
            Identity.customer_id == customer.id,
            Identity.workspace_id == customer.workspace_id,
            Identity.kind != "anonymous_id",
        )
        .limit(1)
    )
    return other is not None


def _identify_visitor(
    session: Session, *, workspace: Workspace, anonymous_id: str | None, user_id: str | None
) -> None:
    pair = f"{anonymous_id or ''}\x00{user_id or ''}".encode()
    raw: dict[str, Any] = {
        "messageId": "cxloop-widget-" + hashlib.sha256(pair).hexdigest()[:40],
        "context": {"library": {"name": "cxloop-widget", "version": "1"}},
        "timestamp": utcnow().isoformat(),
    }
    if anonymous_id:
        raw["anonymousId"] = anonymous_id
    if user_id:
        raw["userId"] = user_id
    received = utcnow()
    message = parse_message(raw, type_="identify", index=None, received_at=received)
    ingest(session, workspace=workspace, messages=[message], received_at=received, source="widget")
