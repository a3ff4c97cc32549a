"""Survey distribution: personal invitations for chosen customers and triggered events, the
email that carries each one (through the outbox), reminders and expiry; and the rules every
invitation passes: the survey is live, the sample, the workspace's fatigue window and the
customer's consent."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from cxloop.channels.outbox import queue_email
from cxloop.core.db import rowcount
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.feedback.distribution.emails import render_invitation_email
from cxloop.feedback.distribution.links import (
    hash_token,
    invitation_expired,
    invitation_link,
    invitation_token,
)
from cxloop.feedback.settings import DistributionSettings, parse_distribution
from cxloop.feedback.surveys.definition import load_definition
from cxloop.feedback.surveys.service import get_version
from cxloop.models import Customer, Invitation, Survey, Workspace
from cxloop.models.feedback import INVITATION_STATUSES
from cxloop.profiles.activity import survivors
from cxloop.profiles.consent import may_send

# Survey invitations ask about a service the customer used; they are not advertising, so the
# consent policy is asked about the "service" purpose: by email for emailed invitations, in-app
# for the survey widget.
CONSENT_PURPOSE = "service"
WIDGET_CONSENT_CHANNEL = "in_app"
# Why an invitation is skipped: the customer fell outside the sample, was asked within the
# fatigue window, has no address, the policy's denial reasons (erased, merged, opted_out,
# no_opt_in, kept as they are), or the survey is no longer live.
SKIP_REASONS = (
    "not_sampled",
    "fatigue",
    "no_email",
    "opted_out",
    "no_opt_in",
    "erased",
    "merged",
    "survey_not_live",
)
# Statuses that still wait for an answer.
OPEN_STATUSES = ("sent", "opened")
MAX_INVITE_BATCH = 500


@dataclass(frozen=True)
class Issued:
    """An invitation and its personal link (None when it was skipped)."""

    invitation: Invitation
    link: str | None

    @property
    def skip_reason(self) -> str | None:
        reason = self.invitation.hidden.get("skip_reason")
        return str(reason) if reason is not None else None


# --- the rules ---------------------------------------------------------------------------------


def is_sampled(*, survey_id: int, customer_id: int, rate: float) -> bool:
    """Whether this customer is in the survey's sample: decided by a hash of the pair, so
    the same customer gets the same answer every time (a replay decides the same)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(f"cxloop-sample:{survey_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def distribution_of(survey: Survey) -> DistributionSettings:
    return parse_distribution(survey.distribution)


def recently_invited(
    session: Session, *, workspace: Workspace, customer_id: int, around: datetime
) -> bool:
    """Whether the customer has an invitation (not skipped, any survey or channel) going out
    within the workspace's fatigue window of ``around``."""
    days = workspace.survey_fatigue_days
    if days <= 0:
        return False
    window = timedelta(days=days)
    found = session.scalar(
        select(Invitation.id)
        .where(
            Invitation.workspace_id == workspace.id,
            Invitation.customer_id == customer_id,
            Invitation.status != "skipped",
            Invitation.send_at > around - window,
            Invitation.send_at < around + window,
        )
        .limit(1)
    )
    return found is not None


def email_consent(
    session: Session, *, customer: Customer, at: datetime
) -> tuple[str | None, datetime | None]:
    """Why this customer cannot be emailed a survey at ``at`` (None when they can), and when
    the email must wait for (the consent policy's hold; None to send at once)."""
    decision = may_send(session, customer=customer, purpose=CONSENT_PURPOSE, channel="email", at=at)
    if decision.reason in ("erased", "merged"):
        return decision.reason, None
    if not customer.email:
        return "no_email", None
    if decision.denied:
        return decision.reason, None
    return None, decision.hold_until


def email_block(session: Session, *, customer: Customer, at: datetime | None = None) -> str | None:
    """Why this customer cannot be emailed a survey (None when they can)."""
    return email_consent(session, customer=customer, at=at or utcnow())[0]


def widget_block(session: Session, *, customer: Customer, at: datetime) -> str | None:
    """Why the survey widget may not invite this customer (None when it may)."""
    decision = may_send(
        session, customer=customer, purpose=CONSENT_PURPOSE, channel=WIDGET_CONSENT_CHANNEL, at=at
    )
    return None if decision.allowed else decision.reason or "opted_out"


def _lock_customer(session: Session, customer_id: int) -> None:
    # Two invitations for one customer at once (API, bus, widget) must not both pass the
    # fatigue check: the customer's row is the lock (SQLite's write lock serialises anyway).
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())


def survey_hidden(
    session: Session, survey: Survey, values: dict[str, Any] | None, *, strict: bool = False
) -> dict[str, Any]:
    """Of ``values``, the short scalars the survey declares as hidden fields (order id,
    touchpoint, …); ``strict`` refuses any other name or value with a 422 instead."""
    if not values:
        return {}
    declared = set(load_definition(get_version(session, survey=survey).definition).hidden_fields)
    kept: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, value in values.items():
        fits = (
            isinstance(value, str | int | float)
            and not isinstance(value, bool)
            and len(str(value)) <= 200
        )
        if name in declared and fits:
            kept[name] = value
        elif strict:
            message = (
                "must be text or a number of at most 200 characters"
                if name in declared
                else "not a hidden field of this survey"
            )
            errors.append({"field": f"hidden.{name}", "message": message})
    if errors:
        raise ValidationFailed("Some hidden fields are invalid.", errors=errors)
    return kept


# --- creating invitations ----------------------------------------------------------------------


def _skip_reason(
    session: Session, workspace: Workspace, customer: Customer, channel: str, send_at: datetime
) -> str | None:
    """Why the policy skips this invitation: erased, invited within the fatigue window, or the
    channel's consent (None when it goes out)."""
    if customer.erased_at is not None:
        return "erased"
    if recently_invited(session, workspace=workspace, customer_id=customer.id, around=send_at):
        return "fatigue"
    if channel == "email":
        return email_block(session, customer=customer, at=send_at)
    if channel == "widget":
        return widget_block(session, customer=customer, at=send_at)
    return None


def create_invitation(
    session: Session,
    *,
    survey: Survey,
    workspace: Workspace,
    customer: Customer,
    channel: str,
    send_at: datetime | None = None,
    trigger_event_id: int | None = None,
    hidden: dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    skip: str | None = None,
) -> Issued:
    """One invitation of ``customer`` to a live survey; sent now (email queued, link or widget
    ready) unless ``send_at`` is later. Skipped, with the reason kept in ``hidden``, when the
    customer was invited within the fatigue window or cannot be emailed, or for ``skip`` (the
    customer fell outside the survey's sample: ``not_sampled``), so no skip goes unrecorded."""
    settings = settings or get_settings()
    if survey.status != "live":
        raise Conflict(f"The survey is {survey.status}; only a live survey sends invitations.")
    now = now or utcnow()
    dist = distribution_of(survey)
    send_at = as_utc(send_at) if send_at is not None else now
    _lock_customer(session, customer.id)
    reason = skip or _skip_reason(session, workspace, customer, channel, send_at)
    fields = dict(hidden or {})
    if reason is not None:
        fields["skip_reason"] = reason
    invitation = Invitation(
        workspace_id=survey.workspace_id,
        survey_id=survey.id,
        customer_id=customer.id,
        # A random placeholder until the id is known; the real hash follows the flush.
        token_hash=hash_token(secrets.token_urlsafe(32)),
        channel=channel,
        status="skipped" if reason else "scheduled",
        trigger_event_id=trigger_event_id,
        hidden=fields,
        send_at=send_at,
        expires_at=send_at + timedelta(days=dist.expires_days),
        created_at=now,
    )
    session.add(invitation)
    session.flush()
    token = invitation_token(invitation, secret=settings.resolved_secret_key())
    invitation.token_hash = hash_token(token)
    if reason is None and send_at <= now:
        deliver(
            session,
            invitation=invitation,
            survey=survey,
            workspace=workspace,
            customer=customer,
            settings=settings,
            now=now,
        )
    session.flush()
    return Issued(invitation, None if reason else invitation_link(invitation, settings=settings))


def invite_customers(
    session: Session,
    *,
    survey: Survey,
    customer_ids: Sequence[int],
    channel: str,
    hidden: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> list[Issued]:
    """Invite chosen customers now (by email, or a link for the caller to share); one
    invitation each, skipped where the rules say so. Unknown ids reject the whole request."""
    if channel not in ("email", "link"):
        raise ValidationFailed(
            "channel must be email or link.",
            errors=[{"field": "channel", "message": "must be email or link"}],
        )
    if survey.status != "live":
        raise Conflict(f"The survey is {survey.status}; only a live survey sends invitations.")
    wanted = list(dict.fromkeys(customer_ids))
    if not wanted or len(wanted) > MAX_INVITE_BATCH:
        raise ValidationFailed(
            f"Give 1 to {MAX_INVITE_BATCH} customer ids.",
            errors=[{"field": "customer_ids", "message": f"1 to {MAX_INVITE_BATCH} ids"}],
        )
    customers = _live_customers(session, workspace_id=survey.workspace_id, ids=wanted)
    unknown = [
        {"field": f"customer_ids.{i}", "message": "no such customer in this workspace"}
        for i, cid in enumerate(customer_ids)
        if cid not in customers
    ]
    if unknown:
        raise ValidationFailed("Some customers do not exist in this workspace.", errors=unknown)
    workspace = session.get(Workspace, survey.workspace_id)
    assert workspace is not None
    extra = {
        **survey_hidden(session, survey, {"channel": channel}),
        **survey_hidden(session, survey, hidden, strict=True),
    }
    issued: list[Issued] = []
    done: set[int] = set()
    for cid in wanted:
        customer = customers[cid]
        if customer.id in done:  # two ids of one merged person: invited once
            continue
        done.add(customer.id)
        issued.append(
            create_invitation(
                session,
                survey=survey,
                workspace=workspace,
                customer=customer,
                channel=channel,
                hidden=extra,
                settings=settings,
            )
        )
    return issued


def _live_customers(session: Session, *, workspace_id: int, ids: list[int]) -> dict[int, Customer]:
    """Requested id → the customer (the survivor, for a merged profile)."""
    return survivors(session, ids, workspace_id=workspace_id)


# --- sending -----------------------------------------------------------------------------------


def _language(customer: Customer) -> str:
    locale = customer.locale or (customer.traits or {}).get("locale")
    if isinstance(locale, str) and locale.strip().lower().replace("_", "-").startswith("en"):
        return "en"
    return "ko"


def _queue_invitation_email(
    session: Session,
    *,
    invitation: Invitation,
    survey: Survey,
    workspace: Workspace,
    customer: Customer,
    settings: Settings,
    reminder: bool,
    send_after: datetime,
) -> None:
    assert customer.email is not None
    lang = _language(customer)
    subject, text, html = render_invitation_email(
        lang=lang,
        workspace_name=workspace.name,
        survey_name=survey.name,
        customer_name=customer.display_name,
        link=invitation_link(invitation, settings=settings),
        expires_at=invitation.expires_at,
        reminder=reminder,
    )
    queue_email(
        session,
        workspace_id=workspace.id,
        recipient=customer.email,
        subject=subject,
        text=text,
        html=html,
        dedupe_key=f"{'reminder' if reminder else 'invitation'}:{invitation.id}",
        customer_id=customer.id,
        purpose=CONSENT_PURPOSE,
        send_after=send_after,
    )


def _skip(invitation: Invitation, reason: str) -> None:
    invitation.status = "skipped"
    invitation.hidden = {**invitation.hidden, "skip_reason": reason}


def deliver(
    session: Session,
    *,
    invitation: Invitation,
    survey: Survey,
    workspace: Workspace,
    customer: Customer,
    settings: Settings,
    now: datetime,
) -> str:
    """Send a scheduled invitation: queue its email, or make a link or widget invitation
    available. Consent is checked again (it may have changed since it was scheduled).
    Returns the new status."""
    if invitation.status != "scheduled":
        return invitation.status
    if survey.status != "live":
        _skip(invitation, "survey_not_live")
        return invitation.status
    if invitation_expired(invitation, now=now):
        invitation.status = "expired"
        return invitation.status
    if invitation.channel == "email":
        reason, hold_until = email_consent(session, customer=customer, at=now)
        if reason is not None:
            _skip(invitation, reason)
            return invitation.status
        _queue_invitation_email(
            session,
            invitation=invitation,
            survey=survey,
            workspace=workspace,
            customer=customer,
            settings=settings,
            reminder=False,
            send_after=hold_until or now,
        )
    invitation.status = "sent"
    invitation.sent_at = now
    return invitation.status


def _due(query: Select[tuple[Invitation]], session: Session, limit: int) -> list[Invitation]:
    return list(session.scalars(query.limit(limit).with_for_update(skip_locked=True)))


def _context(
    session: Session, invitations: list[Invitation]
) -> tuple[dict[int, Survey], dict[int, Workspace], dict[int, Customer]]:
    surveys = {
        s.id: s
        for s in session.scalars(
            select(Survey).where(Survey.id.in_({i.survey_id for i in invitations}))
        )
    }
    workspaces = {
        w.id: w
        for w in session.scalars(
            select(Workspace).where(Workspace.id.in_({i.workspace_id for i in invitations}))
        )
    }
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({i.customer_id for i in invitations}))
        )
    }
    return surveys, workspaces, customers


def send_due(
    session: Session,
    *,
    now: datetime | None = None,
    limit: int = 500,
    settings: Settings | None = None,
) -> int:
    """Send up to ``limit`` scheduled invitations whose time has come (every workspace);
    returns how many were handled. Rows another worker holds are skipped."""
    settings = settings or get_settings()
    now = now or utcnow()
    invitations = _due(
        select(Invitation)
        .where(Invitation.status == "scheduled", Invitation.send_at <= now)
        .order_by(Invitation.send_at, Invitation.id),
        session,
        limit,
    )
    if not invitations:
        return 0
    surveys, workspaces, customers = _context(session, invitations)
    for invitation in invitations:
        deliver(
            session,
            invitation=invitation,
            survey=surveys[invitation.survey_id],
            workspace=workspaces[invitation.workspace_id],
            customer=customers[invitation.customer_id],
            settings=settings,
            now=now,
        )
    session.flush()
    return len(invitations)


def expire_passed(session: Session, *, now: datetime | None = None) -> int:
    """Mark invitations past their expiry that were never answered as expired."""
    now = now or utcnow()
    return rowcount(
        session.execute(
            update(Invitation)
            .where(
                Invitation.status.in_(("scheduled", *OPEN_STATUSES)),
                Invitation.expires_at <= now,
            )
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )
    )


def send_reminders(
    session: Session,
    *,
    now: datetime | None = None,
    limit: int = 500,
    settings: Settings | None = None,
) -> int:
    """Queue one reminder email for each emailed invitation of a live survey that is still
    unanswered ``reminder_after_days`` after it went out (and has not expired)."""
    settings = settings or get_settings()
    now = now or utcnow()
    clauses = []
    for survey in session.scalars(select(Survey).where(Survey.status == "live")):
        days = distribution_of(survey).reminder_after_days
        if days:
            clauses.append(
                and_(
                    Invitation.survey_id == survey.id,
                    Invitation.sent_at <= now - timedelta(days=days),
                )
            )
    if not clauses:
        return 0
    invitations = _due(
        select(Invitation)
        .where(
            Invitation.channel == "email",
            Invitation.status.in_(OPEN_STATUSES),
            Invitation.reminded_at.is_(None),
            Invitation.expires_at > now,
            or_(*clauses),
        )
        .order_by(Invitation.sent_at, Invitation.id),
        session,
        limit,
    )
    surveys, workspaces, customers = _context(session, invitations)
    sent = 0
    for invitation in invitations:
        customer = customers[invitation.customer_id]
        invitation.reminded_at = now
        reason, hold_until = email_consent(session, customer=customer, at=now)
        if reason is not None:
            continue
        _queue_invitation_email(
            session,
            invitation=invitation,
            survey=surveys[invitation.survey_id],
            workspace=workspaces[invitation.workspace_id],
            customer=customer,
            settings=settings,
            reminder=True,
            send_after=hold_until or now,
        )
        sent += 1
    session.flush()
    return sent


# --- reading -----------------------------------------------------------------------------------


def list_invitations(
    session: Session,
    *,
    survey: Survey,
    status: str | None = None,
    customer_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Invitation], str | None]:
    """A page of the survey's invitations, newest first, and the next page's cursor."""
    if status is not None and status not in INVITATION_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(INVITATION_STATUSES)}.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    limit = max(1, min(limit, 200))
    query = select(Invitation).where(
        Invitation.workspace_id == survey.workspace_id, Invitation.survey_id == survey.id
    )
    if status is not None:
        query = query.where(Invitation.status == status)
    if customer_id is not None:
        query = query.where(Invitation.customer_id == customer_id)
    return newest_first(
        session, query, time=Invitation.created_at, id=Invitation.id, cursor=cursor, limit=limit
    )


@dataclass(frozen=True)
class InvitationCounts:
    """A survey's invitations made since a moment: by status, and the skipped ones by why."""

    by_status: dict[str, int]
    skipped_by_reason: dict[str, int]


def invitation_counts(session: Session, *, survey_id: int, since: datetime) -> InvitationCounts:
    recent = (Invitation.survey_id == survey_id, Invitation.created_at >= since)
    by_status = dict(
        session.execute(
            select(Invitation.status, func.count()).where(*recent).group_by(Invitation.status)
        )
        .tuples()
        .all()
    )
    reason = Invitation.hidden["skip_reason"].as_string()
    skipped = dict(
        session.execute(
            select(reason, func.count())
            .where(*recent, Invitation.status == "skipped")
            .group_by(reason)
        )
        .tuples()
        .all()
    )
    return InvitationCounts(
        by_status={status: int(by_status.get(status, 0)) for status in INVITATION_STATUSES},
        skipped_by_reason={str(k or "other"): int(n) for k, n in skipped.items()},
    )
