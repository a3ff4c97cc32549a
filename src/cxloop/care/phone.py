"""Phone calls: each call logged (imported from a phone system's export, or entered by an agent
on the customer's page) becomes a message of the customer's conversation in a ``phone`` inbox,
found by the caller's number, once per call id.

A call with the customer on the line (``resolved`` or ``follow_up``) or one the team placed
counts as the team's response at the time it began; a ``resolved`` call resolves the
conversation. A missed inbound call (``no_answer``, ``voicemail``) leaves the clock running:
the customer waits for a call back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.care import intake, service, sla
from cxloop.care.social import ItemError, parse_time, text_field
from cxloop.care.webhooks import customer_for
from cxloop.core.errors import Conflict
from cxloop.core.i18n import gettext
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, Customer, Membership, User
from cxloop.profiles.contact import normalise_email, normalise_phone

DIRECTIONS = ("in", "out")
OUTCOMES = ("resolved", "follow_up", "no_answer", "voicemail")
CONNECTED = ("resolved", "follow_up")
MAX_DURATION = 24 * 3600
MAX_NOTES = 20_000


@dataclass(frozen=True)
class Call:
    call_id: str
    phone: str  # E.164, or "" when the customer is known otherwise
    agent_email: str
    started_at: datetime
    duration: int  # seconds
    direction: str
    notes: str
    outcome: str


def parse_call(raw: object, *, zone: ZoneInfo, phone_required: bool = True) -> Call:
    """A call as an import row or the API gives it; ItemError says what is wrong."""
    if not isinstance(raw, Mapping):
        raise ItemError("a call is a JSON object")
    call_id = text_field(raw, "call_id", 200) or text_field(raw, "id", 200)
    if not call_id:
        raise ItemError("call_id is required")
    phone_text = text_field(raw, "phone", 40)
    phone = normalise_phone(phone_text) if phone_text else None
    if phone_text and phone is None:
        raise ItemError(f"phone is not a phone number: {phone_text!r}")
    if phone is None and phone_required:
        raise ItemError("phone is required")
    agent = text_field(raw, "agent", 320)
    if agent and normalise_email(agent) is None:
        raise ItemError("agent must be the agent's email address")
    started = parse_time(raw.get("started_at"), zone=zone, name="started_at")
    if started is None:
        raise ItemError("started_at is required")
    if started > utcnow() + timedelta(minutes=5):
        raise ItemError("started_at is in the future")
    duration_text = text_field(raw, "duration", 12) or "0"
    if not duration_text.isdigit() or int(duration_text) > MAX_DURATION:
        raise ItemError("duration is whole seconds, at most 86,400")
    direction = text_field(raw, "direction", 8).lower() or "in"
    if direction not in DIRECTIONS:
        raise ItemError("direction must be in or out")
    outcome = text_field(raw, "outcome", 16).lower() or "follow_up"
    if outcome not in OUTCOMES:
        raise ItemError(f"outcome must be one of {', '.join(OUTCOMES)}")
    return Call(
        call_id=call_id,
        phone=phone or "",
        agent_email=(normalise_email(agent) or "") if agent else "",
        started_at=started,
        duration=int(duration_text),
        direction=direction,
        notes=text_field(raw, "notes", MAX_NOTES),
        outcome=outcome,
    )


def _member_by_email(session: Session, workspace_id: int, email: str) -> int | None:
    if not email:
        return None
    return session.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, func.lower(User.email) == email)
    )


def _summary(call: Call, language: str) -> str:
    minutes, seconds = divmod(call.duration, 60)
    return gettext(
        language,
        f"care_phone.summary_{call.direction}",
        duration=f"{minutes}:{seconds:02d}",
        outcome=gettext(language, f"care_phone.outcome.{call.outcome}"),
    )


def log_call(
    session: Session,
    *,
    inbox: CareInbox,
    call: Call,
    customer: Customer | None = None,
    agent_id: int | None = None,
) -> intake.Received:
    """Log one call in the customer's conversation of the phone ``inbox`` (the customer found
    or made by the number unless given); the same call id again is found, not logged twice.
    ``agent_id``: the member who took or placed it (else found by ``call.agent_email``)."""
    if inbox.channel != "phone":
        raise Conflict("Calls are logged in a phone inbox.")
    if customer is None:
        if not call.phone:
            raise ItemError("phone is required")
        customer = customer_for(session, inbox=inbox, kind="phone", value=call.phone)
    agent_id = agent_id or _member_by_email(session, inbox.workspace_id, call.agent_email)
    ended = call.started_at + timedelta(seconds=call.duration)
    details = {
        "call": {
            "id": call.call_id,
            "direction": call.direction,
            "duration": call.duration,
            "outcome": call.outcome,
            "agent_id": agent_id,
            "agent": call.agent_email,
            "phone": call.phone,
            "ended_at": ended.isoformat(),
        }
    }
    received = intake.receive_message(
        session,
        inbox=inbox,
        customer=customer,
        text=call.notes or _summary(call, "ko"),
        contact=call.phone or customer.phone or "",
        channel_message_id=f"call:{call.call_id}",
        subject=_summary(call, "ko"),
        sent_at=call.started_at,
        details=details,
        now=min(call.started_at, utcnow()),
    )
    assert received is not None  # a customer's message always has a conversation
    if not received.created:
        return received
    conversation, message = received.conversation, received.message
    if call.direction == "out":
        message.direction, message.author, message.author_user_id = "out", "agent", agent_id
    if call.direction == "out" or call.outcome in CONNECTED:
        sla.agent_replied(conversation, at=call.started_at)
        conversation.first_response_at = conversation.first_response_at or call.started_at
        if conversation.assignee_id is None and agent_id is not None:
            conversation.assignee_id = agent_id
    if call.outcome == "resolved":
        service.update_conversation(
            session, conversation=conversation, status="resolved", now=ended
        )
    session.flush()
    return received
