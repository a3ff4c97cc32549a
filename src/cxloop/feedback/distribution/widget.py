"""Distribution through the survey widget: who the visitor is (found, or identified through
ingestion; never a named person's profile through an anonymous id) and which invitation the
widget shows them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import utcnow
from cxloop.events.segment import parse_message
from cxloop.events.service import ingest
from cxloop.feedback.distribution.links import invitation_link
from cxloop.feedback.distribution.service import (
    OPEN_STATUSES,
    Issued,
    create_invitation,
    distribution_of,
    is_sampled,
    recently_invited,
    survey_hidden,
    widget_block,
)
from cxloop.models import Customer, Identity, Invitation, Survey, Workspace
from cxloop.profiles.service import find_customer

# --- the widget --------------------------------------------------------------------------------


def widget_invitation(
    session: Session,
    *,
    workspace: Workspace,
    customer: Customer,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Issued | None:
    """What the survey widget shows this visitor: their newest pending widget invitation,
    else a new one to a live survey offered in the widget to every visitor (one without a
    trigger), within the sample and the fatigue window; None when there is nothing."""
    settings = settings or get_settings()
    now = now or utcnow()
    if widget_block(session, customer=customer, at=now) is not None:
        return None  # erased, merged, or opted out of in-app service messages
    pending = session.scalar(
        select(Invitation)
        .join(Survey, and_(Survey.id == Invitation.survey_id, Survey.status == "live"))
        .where(
            Invitation.workspace_id == workspace.id,
            Invitation.customer_id == customer.id,
            Invitation.channel == "widget",
            Invitation.status.in_(OPEN_STATUSES),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.send_at.desc(), Invitation.id.desc())
        .limit(1)
    )
    if pending is not None:
        return Issued(pending, invitation_link(pending, settings=settings, embed=True))
    for survey in session.scalars(
        select(Survey)
        .where(Survey.workspace_id == workspace.id, Survey.status == "live")
        .order_by(Survey.id)
    ):
        dist = distribution_of(survey)
        if "widget" not in dist.channels or dist.trigger is not None:
            continue
        if not is_sampled(survey_id=survey.id, customer_id=customer.id, rate=dist.sample_rate):
            continue
        asked = session.scalar(
            select(Invitation.id)
            .where(
                Invitation.workspace_id == workspace.id,
                Invitation.survey_id == survey.id,
                Invitation.customer_id == customer.id,
                Invitation.channel == "widget",
            )
            .limit(1)
        )
        if asked is not None:  # asked once in the widget already (answered, expired, skipped)
            continue
        if recently_invited(session, workspace=workspace, customer_id=customer.id, around=now):
            return None
        issued = create_invitation(
            session,
            survey=survey,
            workspace=workspace,
            customer=customer,
            channel="widget",
            hidden=survey_hidden(session, survey, {"channel": "widget"}),
            now=now,
            settings=settings,
        )
        if issued.link is None:
            return None
        return Issued(issued.invitation, issued.link + "?embed=1")
    return None


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
        "context": {"library": {"name": "cxloop-survey-widget", "version": "1"}},
        "timestamp": utcnow().isoformat(),
    }
    if anonymous_id:
        raw["anonymousId"] = anonymous_id
    if user_id:
        raw["userId"] = user_id
    received = utcnow()
    message = parse_message(raw, type_="identify", index=None, received_at=received)
    ingest(session, workspace=workspace, messages=[message], received_at=received, source="widget")
