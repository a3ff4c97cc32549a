"""CSAT after resolution, through the feedback domain: when an agent resolves a conversation in
an inbox that asks for it, the inbox's CSAT survey goes to the customer once the resolution
commits — by email on an email conversation, as a message with the survey link in a chat (or
a text on SMS) — and the answer counts for the conversation's agent (the assignee at
resolution) and team.

What decides, in order:
1. at resolution (:func:`csat_wanted`, pure): never on an automatic resolve; only when the
   inbox has CSAT on with a survey; only for a conversation with a customer, on a channel a
   survey link can reach; one request per resolution (a reopened conversation resolved again
   is a new one);
2. when the request is sent (:func:`send_request`, after commit): the conversation is still
   resolved, the survey live and the customer in its sample; feedback's rules then apply as to
   any invitation — the fatigue window (a customer surveyed recently is not surveyed again)
   and consent (service purpose, on the channel it goes out on). A skipped request keeps the
   reason.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import live
from cxloop.channels import outbox
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.i18n import gettext
from cxloop.core.jobs import after_commit
from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import service as distribution
from cxloop.feedback.distribution.links import invitation_link
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    CsatRequest,
    Customer,
    Survey,
    Workspace,
)
from cxloop.profiles.consent import may_send

log = logging.getLogger(__name__)

# The invitation channel a conversation's channel asks on: email by email, a chat by a link in
# the conversation, SMS by a link in a text.
INVITATION_CHANNELS = {"email": "email", "chat": "link", "sms": "sms"}
# The consent ledger's channel each is asked on (email: feedback asks itself).
CONSENT_CHANNELS = {"chat": "in_app", "sms": "sms"}
TOUCHPOINT = "Conversation Resolved"
# A request still pending this long after it was made lost its job: the sweep sends it.
LOST_AFTER = timedelta(minutes=2)


# --- the decision (pure) ------------------------------------------------------------------------


def csat_wanted(
    *,
    automatic: bool,
    enabled: bool,
    survey_id: int | None,
    has_customer: bool,
    channel: str,
) -> str | None:
    """Why no CSAT survey is asked for when a conversation is resolved (None: ask for one)."""
    if automatic:
        return "automatic"
    if not enabled or survey_id is None:
        return "off"
    if not has_customer:
        return "no_customer"
    if channel not in INVITATION_CHANNELS:
        return "channel"
    return None


# --- settings -----------------------------------------------------------------------------------


def set_inbox_csat(
    session: Session,
    *,
    principal: Principal,
    inbox: CareInbox,
    enabled: bool,
    survey_id: int | None,
) -> CareInbox:
    """Turn CSAT after resolution on (with a CSAT survey of the workspace) or off. Audited."""
    if survey_id is not None:
        survey = session.scalar(
            select(Survey).where(Survey.id == survey_id, Survey.workspace_id == inbox.workspace_id)
        )
        if survey is None or survey.kind != "csat":
            raise ValidationFailed(
                "The survey must be a CSAT survey of this workspace.",
                errors=[{"field": "survey_id", "message": "not a CSAT survey of this workspace"}],
            )
    if enabled and survey_id is None:
        raise ValidationFailed(
            "Choose the CSAT survey to send.",
            errors=[{"field": "survey_id", "message": "required to turn CSAT on"}],
        )
    inbox.csat_enabled = enabled
    inbox.csat_survey_id = survey_id
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.inbox_csat",
        target_type="care_inbox",
        target_id=inbox.id,
        detail={"enabled": enabled, "survey_id": survey_id},
    )
    return inbox


def get_inbox(session: Session, *, workspace_id: int, inbox_id: int) -> CareInbox:
    inbox = session.scalar(
        select(CareInbox).where(CareInbox.id == inbox_id, CareInbox.workspace_id == workspace_id)
    )
    if inbox is None:
        raise NotFound(f"No inbox with id {inbox_id} in this workspace.")
    return inbox


def csat_surveys(session: Session, *, workspace_id: int) -> list[Survey]:
    """The workspace's CSAT surveys an inbox may send (live ones first)."""
    return list(
        session.scalars(
            select(Survey)
            .where(Survey.workspace_id == workspace_id, Survey.kind == "csat")
            .order_by((Survey.status == "live").desc(), Survey.name, Survey.id)
        )
    )


# --- at resolution ------------------------------------------------------------------------------


def request_after_resolution(
    session: Session, *, conversation: Conversation, automatic: bool, now: datetime
) -> CsatRequest | None:
    """Ask for the inbox's CSAT survey for this resolution, sent after the resolution commits;
    None when none is wanted (or one was asked for this resolution already)."""
    inbox = session.get(CareInbox, conversation.inbox_id)
    if inbox is None:
        return None
    reason = csat_wanted(
        automatic=automatic,
        enabled=inbox.csat_enabled,
        survey_id=inbox.csat_survey_id,
        has_customer=conversation.customer_id is not None,
        channel=conversation.channel,
    )
    if reason is not None:
        return None
    request = CsatRequest(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        cycle=conversation.reopened_count,
        survey_id=inbox.csat_survey_id,
        agent_id=conversation.assignee_id,
        team=conversation.team,
        channel=conversation.channel,
        status="pending",
        resolved_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(request)
    except IntegrityError:  # this resolution asked already (resolved twice at once)
        return None
    # care.tasks imports this module, so the task is imported when needed.
    from cxloop.care.tasks import send_csat_survey

    after_commit(session, send_csat_survey, request.id)
    return request


# --- sending ------------------------------------------------------------------------------------


def _skip(request: CsatRequest, reason: str) -> CsatRequest:
    request.status = "skipped"
    request.skip_reason = reason
    return request


def _language(conversation: Conversation, customer: Customer) -> str:
    locale = conversation.language or customer.locale or ""
    return "en" if locale.lower().startswith("en") else "ko"


def _consent_block(
    session: Session, *, customer: Customer, channel: str, at: datetime
) -> str | None:
    ledger_channel = CONSENT_CHANNELS.get(channel)
    if ledger_channel is None:
        return None
    decision = may_send(
        session,
        customer=customer,
        purpose=distribution.CONSENT_PURPOSE,
        channel=ledger_channel,
        at=at,
    )
    return None if decision.allowed else decision.reason or "opted_out"


def _hand_link(
    session: Session,
    *,
    request: CsatRequest,
    conversation: Conversation,
    customer: Customer,
    link: str,
    now: datetime,
) -> None:
    """The survey link as a message in the conversation (the chat shows it; SMS sends it)."""
    text = gettext(_language(conversation, customer), "care_csat.message", link=link)
    message = ConversationMessage(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        direction="out",
        author="system",
        body_text=text,
        automatic=True,
        details={"csat_request_id": request.id},
        created_at=now,
    )
    session.add(message)
    session.flush()
    live.message_added(session, conversation, message)
    if conversation.channel == "sms":
        queued = outbox.queue_message(
            session,
            workspace_id=conversation.workspace_id,
            channel="sms",
            recipient=conversation.contact or customer.phone or "",
            text=text,
            dedupe_key=f"care:csat:{request.id}",
            customer_id=customer.id,
            purpose=distribution.CONSENT_PURPOSE,
        )
        message.outbound_message_id = queued.id


def send_request(
    session: Session,
    *,
    request_id: int,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> CsatRequest | None:
    """Send a pending CSAT request through feedback's distribution (or skip it, keeping the
    reason); safe to run twice: a request no longer pending is left as it is."""
    request = session.scalar(
        select(CsatRequest)
        .where(CsatRequest.id == request_id, CsatRequest.status == "pending")
        .with_for_update(skip_locked=True)
    )
    if request is None:
        return None
    now = now or utcnow()
    settings = settings or get_settings()
    conversation = session.get(Conversation, request.conversation_id)
    assert conversation is not None  # the request goes with its conversation
    if conversation.status != "resolved" or conversation.reopened_count != request.cycle:
        return _skip(request, "reopened")
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if customer is None:
        return _skip(request, "no_customer")
    if customer.erased_at is not None:
        return _skip(request, "erased")
    survey = session.get(Survey, request.survey_id) if request.survey_id else None
    if survey is None or survey.workspace_id != request.workspace_id or survey.status != "live":
        return _skip(request, "survey_not_live")
    if not distribution.is_sampled(
        survey_id=survey.id,
        customer_id=customer.id,
        rate=distribution.distribution_of(survey).sample_rate,
    ):
        return _skip(request, "not_sampled")
    channel = INVITATION_CHANNELS[request.channel]
    if channel == "sms" and not (conversation.contact or customer.phone):
        return _skip(request, "no_phone")
    reason = _consent_block(session, customer=customer, channel=request.channel, at=now)
    if reason is not None:
        return _skip(request, reason)
    workspace = session.get(Workspace, request.workspace_id)
    assert workspace is not None
    hidden = distribution.survey_hidden(
        session,
        survey,
        {"touchpoint": TOUCHPOINT, "channel": request.channel, "conversation_id": conversation.id},
    )
    issued = distribution.create_invitation(
        session,
        survey=survey,
        workspace=workspace,
        customer=customer,
        channel=channel,
        hidden=hidden,
        now=now,
        settings=settings,
    )
    request.invitation_id = issued.invitation.id
    if issued.skip_reason is not None:
        return _skip(request, issued.skip_reason)
    if channel != "email":
        _hand_link(
            session,
            request=request,
            conversation=conversation,
            customer=customer,
            link=issued.link or invitation_link(issued.invitation, settings=settings),
            now=now,
        )
    request.status = "sent"
    request.sent_at = now
    session.flush()
    return request


def lost_requests(session: Session, *, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Pending requests whose job was lost (still pending ``LOST_AFTER`` after they were made)."""
    cutoff = (now or utcnow()) - LOST_AFTER
    return list(
        session.scalars(
            select(CsatRequest.id)
            .where(CsatRequest.status == "pending", CsatRequest.created_at <= cutoff)
            .order_by(CsatRequest.created_at, CsatRequest.id)
            .limit(limit)
        )
    )
