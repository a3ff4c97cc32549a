"""Distribution through the survey widget: which invitation the widget shows a visitor (who
the visitor is, events.visitors decides)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import utcnow
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
from cxloop.models import Customer, Invitation, Survey, Workspace

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
