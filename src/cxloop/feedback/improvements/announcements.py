"""Telling customers about an improvement: by email where they can be reached and have not
opted out, and once in their survey widget. Every customer is told at most once per
improvement, and who was told by which channel is kept on the links."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.i18n import gettext, normalise_locale
from cxloop.core.timeutil import utcnow
from cxloop.feedback.improvements.service import text_in
from cxloop.models import (
    Customer,
    Improvement,
    ImprovementLink,
    Response,
    Workspace,
)
from cxloop.profiles.consent import may_send, may_send_each

# Announcements are service notices about the customer's own feedback, not advertising; the
# consent policy, asked about service messages by email (and in-app for the widget), decides
# whether a customer gets one.
ANNOUNCE_PURPOSE = "service"
ANNOUNCE_CHANNEL = "email"
WIDGET_CHANNEL = "widget"
WIDGET_CONSENT_CHANNEL = "in_app"


# --- telling customers -------------------------------------------------------------------------


@dataclass
class AnnouncementPlan:
    """Who an announcement would tell, and why the others would not be told (yet)."""

    email: list[Customer] = field(default_factory=list)
    # When each emailed customer's message may go (the consent policy's hold), by customer id.
    hold_until: dict[int, datetime] = field(default_factory=dict)
    # Customers with no usable email address: they see it in their survey widget only.
    widget_only: list[Customer] = field(default_factory=list)
    # Customers the consent policy refuses service email: those who opted out of it.
    opted_out: list[Customer] = field(default_factory=list)
    already_told: int = 0
    # Customers gone: erased, or merged into another profile (merging moves links with it).
    erased: int = 0
    anonymous: int = 0  # linked responses without a known customer

    @property
    def to_tell(self) -> int:
        return len(self.email)


def _pending(
    session: Session, improvement: Improvement
) -> tuple[dict[int, list[ImprovementLink]], set[int], int]:
    """Links not yet told, by customer; customers already told; links without a customer."""
    links = list(
        session.scalars(
            select(ImprovementLink)
            .where(
                ImprovementLink.workspace_id == improvement.workspace_id,
                ImprovementLink.improvement_id == improvement.id,
            )
            .order_by(ImprovementLink.id)
        )
    )
    told = {
        link.customer_id
        for link in links
        if link.customer_id is not None and link.notified_at is not None
    }
    pending: dict[int, list[ImprovementLink]] = defaultdict(list)
    anonymous = 0
    for link in links:
        if link.notified_at is not None:
            continue
        if link.customer_id is None:
            anonymous += 1
        else:
            pending[link.customer_id].append(link)
    return pending, told, anonymous


def announcement_plan(
    session: Session, *, improvement: Improvement, at: datetime | None = None
) -> AnnouncementPlan:
    """Who would be told if the improvement were announced at ``at`` (now; nothing is
    changed), as the consent policy decides for service email."""
    pending, told, anonymous = _pending(session, improvement)
    plan = AnnouncementPlan(anonymous=anonymous)
    plan.already_told = len(told)
    waiting = set(pending) - told
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(
                Customer.workspace_id == improvement.workspace_id, Customer.id.in_(waiting)
            )
        )
    }
    decisions = may_send_each(
        session,
        customers=customers.values(),
        purpose=ANNOUNCE_PURPOSE,
        channel=ANNOUNCE_CHANNEL,
        at=at or utcnow(),
    )
    for customer_id in sorted(waiting):
        customer = customers.get(customer_id)
        decision = decisions.get(customer_id)
        if customer is None or decision is None or decision.reason in ("erased", "merged"):
            plan.erased += 1
        elif decision.denied:
            plan.opted_out.append(customer)
        elif customer.email:
            plan.email.append(customer)
            if decision.hold_until is not None:
                plan.hold_until[customer_id] = decision.hold_until
        else:
            plan.widget_only.append(customer)
    return plan


@dataclass(frozen=True)
class AnnounceResult:
    emailed: int
    widget_only: int
    opted_out: int
    erased: int
    already_told: int


def _customer_email(improvement: Improvement, locale: str, workspace_name: str) -> tuple[str, str]:
    title, body = text_in(improvement, locale)
    intro = gettext(locale, "loop.improvement.email_intro", workspace=workspace_name)
    footer = gettext(locale, "loop.improvement.email_footer", workspace=workspace_name)
    return title, f"{intro}\n\n{title}\n\n{body}\n\n-- \n{footer}\n"


def announce(
    session: Session, *, improvement: Improvement, principal: Principal | None = None
) -> AnnounceResult:
    """Tell the linked responses' customers what changed: one email each (in their language)
    where they have an address and the consent policy allows service email (never to those
    who opted out, nor to erased or merged profiles). Customers told before are not told
    again, so announcing twice is harmless. Audited (each announcement) when ``principal`` is
    given."""
    from cxloop.channels.outbox import queue_email

    if not (improvement.title_ko or improvement.title_en):
        raise ValidationFailed("Give the improvement a title before announcing it.")
    now = utcnow()
    plan = announcement_plan(session, improvement=improvement, at=now)
    pending, told, _anonymous = _pending(session, improvement)
    workspace = session.get(Workspace, improvement.workspace_id)
    workspace_name = workspace.name if workspace is not None else ""
    locales = _response_locales(session, improvement, plan.email)
    emailed = 0
    for customer in plan.email:
        locale = normalise_locale(customer.locale or locales.get(customer.id))
        subject, text = _customer_email(improvement, locale, workspace_name)
        try:
            queue_email(
                session,
                workspace_id=improvement.workspace_id,
                recipient=customer.email or "",
                subject=subject,
                text=text,
                dedupe_key=f"improvement:{improvement.id}:{customer.id}",
                customer_id=customer.id,
                purpose=ANNOUNCE_PURPOSE,
                send_after=plan.hold_until.get(customer.id),
            )
        except ValidationFailed:
            # An address mail cannot go to: the widget is left to tell them.
            continue
        for link in pending[customer.id]:
            link.notified_at = now
            link.notified_channel = ANNOUNCE_CHANNEL
        emailed += 1
    # Further responses of customers told before share the record of how they were told.
    for customer_id in told & set(pending):
        channel = session.scalar(
            select(ImprovementLink.notified_channel)
            .where(
                ImprovementLink.workspace_id == improvement.workspace_id,
                ImprovementLink.improvement_id == improvement.id,
                ImprovementLink.customer_id == customer_id,
                ImprovementLink.notified_at.is_not(None),
            )
            .limit(1)
        )
        for link in pending[customer_id]:
            link.notified_at = now
            link.notified_channel = channel
    if improvement.announced_at is None:
        improvement.announced_at = now
    session.flush()
    result = AnnounceResult(
        emailed=emailed,
        widget_only=len(plan.widget_only) + (len(plan.email) - emailed),
        opted_out=len(plan.opted_out),
        erased=plan.erased,
        already_told=plan.already_told,
    )
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="improvement.announce",
            workspace_id=improvement.workspace_id,
            target_type="improvement",
            target_id=improvement.id,
            detail={"emailed": result.emailed, "widget_only": result.widget_only},
        )
    return result


def _response_locales(
    session: Session, improvement: Improvement, customers: list[Customer]
) -> dict[int, str]:
    """The language each customer answered in (for those whose profile names none)."""
    ids = {c.id for c in customers if not c.locale}
    if not ids:
        return {}
    rows = session.execute(
        select(Response.customer_id, Response.locale)
        .join(ImprovementLink, ImprovementLink.response_id == Response.id)
        .where(
            ImprovementLink.workspace_id == improvement.workspace_id,
            ImprovementLink.improvement_id == improvement.id,
            Response.customer_id.in_(ids),
        )
        .order_by(Response.submitted_at)
    ).all()
    return {int(c): str(locale) for c, locale in rows if c is not None}


def told_by_channel(session: Session, *, improvement: Improvement) -> dict[str, int]:
    """How many customers were told, per channel."""
    rows = session.execute(
        select(
            ImprovementLink.notified_channel, func.count(func.distinct(ImprovementLink.customer_id))
        )
        .where(
            ImprovementLink.workspace_id == improvement.workspace_id,
            ImprovementLink.improvement_id == improvement.id,
            ImprovementLink.notified_at.is_not(None),
        )
        .group_by(ImprovementLink.notified_channel)
    ).all()
    return {str(channel): int(n) for channel, n in rows}


# --- the survey widget -------------------------------------------------------------------------


def widget_notices(
    session: Session, *, workspace_id: int, customer_id: int, locale: str = "ko"
) -> list[dict[str, Any]]:
    """Announced improvements linked to this customer that their widget has not shown yet,
    oldest first: ``{"id": link id, "improvement_id", "title", "body"}`` in ``locale``."""
    customer = session.scalar(
        select(Customer).where(Customer.workspace_id == workspace_id, Customer.id == customer_id)
    )
    if customer is None:
        return []
    decision = may_send(
        session, customer=customer, purpose=ANNOUNCE_PURPOSE, channel=WIDGET_CONSENT_CHANNEL
    )
    if not decision.allowed:  # erased, merged, or opted out of in-app service messages
        return []
    rows = session.execute(
        select(ImprovementLink, Improvement)
        .join(
            Improvement,
            and_(
                Improvement.id == ImprovementLink.improvement_id,
                Improvement.workspace_id == ImprovementLink.workspace_id,
            ),
        )
        .where(
            ImprovementLink.workspace_id == workspace_id,
            ImprovementLink.customer_id == customer_id,
            ImprovementLink.widget_shown_at.is_(None),
            Improvement.announced_at.is_not(None),
        )
        .order_by(Improvement.announced_at, ImprovementLink.id)
    ).all()
    notices: list[dict[str, Any]] = []
    seen: set[int] = set()
    for link, improvement in rows:
        if improvement.id in seen:
            continue
        seen.add(improvement.id)
        title, body = text_in(improvement, locale)
        notices.append(
            {"id": link.id, "improvement_id": improvement.id, "title": title, "body": body}
        )
    return notices


def mark_widget_shown(
    session: Session, *, workspace_id: int, customer_id: int, link_id: int
) -> None:
    """Record that the customer's widget showed this notice (so it is not shown again); a
    customer not told by email counts as told through the widget. Safe to repeat."""
    link = session.scalar(
        select(ImprovementLink).where(
            ImprovementLink.workspace_id == workspace_id,
            ImprovementLink.customer_id == customer_id,
            ImprovementLink.id == link_id,
        )
    )
    if link is None:
        raise NotFound(f"No notice with id {link_id} for this customer.")
    now = utcnow()
    same = (
        ImprovementLink.workspace_id == workspace_id,
        ImprovementLink.improvement_id == link.improvement_id,
        ImprovementLink.customer_id == customer_id,
    )
    session.execute(
        update(ImprovementLink)
        .where(*same, ImprovementLink.widget_shown_at.is_(None))
        .values(widget_shown_at=now)
    )
    session.execute(
        update(ImprovementLink)
        .where(*same, ImprovementLink.notified_at.is_(None))
        .values(notified_at=now, notified_channel=WIDGET_CHANNEL)
    )
    session.flush()
