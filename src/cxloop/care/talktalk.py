"""Naver TalkTalk's webhook, taken into conversations.

Each event is stored raw first (``CareWebhookEvent``) and then read in a savepoint of the same
transaction: the webhook answers 200 only once that transaction committed, so an event TalkTalk
was told was received is never lost — if reading it fails, the raw event stays and a job tries
it again every minute (after ``MAX_ATTEMPTS`` it is kept as unreadable for the agents). Once
read, the stored body is emptied (the words live in the conversation, where erasure finds them);
its hash stays for finding replays.

TalkTalk's events carry no id and no time, so a delivery is a replay when the inbox received a
byte-identical body within ``REPLAY_WINDOW``; a message's own id in cxloop is its stored
event's (``talktalk:<event id>``), so reading an event twice stores its message once.

What each event does:
- ``send``: the user's text (or image address) joins their open TalkTalk conversation, the
  user being a customer with a ``talktalk`` identity; ``standby`` (an agent in the partner
  centre holds the thread) marks the thread as the agent's;
- ``open``: the customer's profile learns whether they are a friend and under 14 or 19;
- ``friend``: the friend flag, as a trait and as marketing consent on TalkTalk (friends may
  receive the partner's broadcast messages);
- ``leave`` and ``handover``: a system note in the open conversation; a handover also records
  whether the bot or an agent holds the thread;
- ``echo``: what the partner side sent; it marks the matching reply from cxloop delivered;
- anything else is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.care.service import storable
from cxloop.care.webhooks import customer_for
from cxloop.channels import outbox
from cxloop.channels.adapters import NotUnderstood, StatusReport
from cxloop.channels.naver_talktalk import PARTNER_SOURCE_ID, TalkTalkEvent, read_event
from cxloop.core.i18n import gettext
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    CareInbox,
    CareWebhookEvent,
    Conversation,
    ConversationMessage,
    Customer,
    OutboundMessage,
    TalkTalkThread,
)
from cxloop.profiles import service as profiles

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(seconds=60)
MAX_ATTEMPTS = 5
# Events the retry job leaves alone for this long: the request that stored them may still be
# reading them.
RETRY_AFTER = timedelta(minutes=1)
CHANNEL = "talktalk"

Outcome = Literal[
    "stored",
    "duplicate",
    "replay",
    "noted",
    "profile",
    "delivered",
    "ignored",
    "unreadable",
    "retrying",
]


@dataclass(frozen=True)
class Taken:
    """How one event went, and the conversation and message it touched (if any)."""

    outcome: Outcome
    event_id: int
    conversation_id: int | None = None
    message_id: int | None = None


def take_event(
    session: Session, *, inbox: CareInbox, payload: bytes, now: datetime | None = None
) -> Taken:
    """Keep one webhook body of a TalkTalk inbox, then read it (see the module's rules)."""
    now = now or utcnow()
    digest = hashlib.sha256(payload).hexdigest()
    earlier = session.scalar(
        select(CareWebhookEvent.id)
        .where(
            CareWebhookEvent.inbox_id == inbox.id,
            CareWebhookEvent.body_hash == digest,
            CareWebhookEvent.received_at >= now - REPLAY_WINDOW,
        )
        .limit(1)
    )
    if earlier is not None:
        return Taken("replay", earlier)
    event = CareWebhookEvent(
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        channel=CHANNEL,
        body_hash=digest,
        payload=storable(payload.decode("utf-8", "replace")),
        received_at=now,
        attempts=0,
        problem="",
    )
    session.add(event)
    session.flush()
    return read_stored(session, inbox=inbox, event=event, now=now)


def read_stored(
    session: Session, *, inbox: CareInbox, event: CareWebhookEvent, now: datetime | None = None
) -> Taken:
    """Read a stored event into its conversation, in a savepoint: a failure leaves the event
    for the retry job, and an event that is not TalkTalk's JSON is kept as unreadable."""
    now = now or utcnow()
    event.attempts += 1
    try:
        with session.begin_nested():
            taken = _apply(session, inbox, event, now)
    except NotUnderstood as exc:
        return _unreadable(session, inbox, event, str(exc), now)
    except Exception as exc:  # the raw event is kept: the job tries again
        log.exception("TalkTalk event %s could not be read", event.id)
        event.problem = f"{type(exc).__name__}: {exc}"[:2000]
        if event.attempts >= MAX_ATTEMPTS:
            return _unreadable(session, inbox, event, event.problem, now)
        session.flush()
        return Taken("retrying", event.id)
    event.processed_at = now
    event.problem = ""
    event.payload = ""  # read into its conversation: the words live there (and are erasable)
    session.flush()
    return taken


def _unreadable(
    session: Session, inbox: CareInbox, event: CareWebhookEvent, problem: str, now: datetime
) -> Taken:
    kept = intake.keep_unreadable(
        session, inbox=inbox, raw=event.payload.encode(), problem=f"TalkTalk: {problem}"
    )
    event.processed_at = now
    event.problem = problem[:2000]
    session.flush()
    return Taken("unreadable", event.id, kept.conversation_id, kept.id)


def retry_pending(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Read again the events a failure left unread (oldest first); returns how many."""
    now = now or utcnow()
    pending = list(
        session.scalars(
            select(CareWebhookEvent)
            .where(
                CareWebhookEvent.processed_at.is_(None),
                CareWebhookEvent.channel == CHANNEL,
                CareWebhookEvent.received_at <= now - RETRY_AFTER,
            )
            .order_by(CareWebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for event in pending:
        inbox = session.get(CareInbox, event.inbox_id)
        if inbox is not None:
            read_stored(session, inbox=inbox, event=event, now=now)
    return len(pending)


# --- the events ----------------------------------------------------------------------------------


def _apply(session: Session, inbox: CareInbox, stored: CareWebhookEvent, now: datetime) -> Taken:
    event = read_event(stored.payload.encode())
    if event.event == "send":
        return _message(session, inbox, stored, event, now)
    if event.event == "echo":
        return _echo(session, inbox, stored, event, now)
    if event.event in ("open", "friend"):
        _profile(session, inbox, event, now)
        return Taken("profile", stored.id)
    if event.event in ("leave", "handover"):
        return _thread_change(session, inbox, stored, event, now)
    return Taken("ignored", stored.id)


def _customer(session: Session, inbox: CareInbox, user: str) -> Customer:
    """The TalkTalk user's profile, found or made by their ``talktalk`` identity."""
    return customer_for(session, inbox=inbox, kind=CHANNEL, value=user)


def _thread(session: Session, inbox: CareInbox, user: str) -> TalkTalkThread:
    thread = session.scalar(
        select(TalkTalkThread).where(
            TalkTalkThread.inbox_id == inbox.id, TalkTalkThread.user_key == user
        )
    )
    if thread is None:
        thread = TalkTalkThread(
            workspace_id=inbox.workspace_id, inbox_id=inbox.id, user_key=user, owner="bot"
        )
        session.add(thread)
        session.flush()
    return thread


def thread_owner(session: Session, *, inbox: CareInbox, user: str) -> str:
    """Who holds a TalkTalk user's thread: ``bot`` (also when nothing was heard) or ``agent``."""
    owner = session.scalar(
        select(TalkTalkThread.owner).where(
            TalkTalkThread.inbox_id == inbox.id, TalkTalkThread.user_key == user
        )
    )
    return owner or "bot"


def _message(
    session: Session,
    inbox: CareInbox,
    stored: CareWebhookEvent,
    event: TalkTalkEvent,
    now: datetime,
) -> Taken:
    customer = _customer(session, inbox, event.user)
    if event.standby:
        _thread(session, inbox, event.user).owner = "agent"
    details: dict[str, Any] = {
        key: value
        for key, value in (
            ("input_type", event.input_type),
            ("code", event.code),
            ("image_url", event.image_url),
            ("standby", event.standby),
        )
        if value
    }
    received = intake.receive_message(
        session,
        inbox=inbox,
        customer=customer,
        text=event.text or event.image_url,
        contact=event.user,
        channel_message_id=f"{CHANNEL}:{stored.id}",
        details={CHANNEL: details} if details else None,
        now=now,
    )
    assert received is not None  # a customer's message always has a conversation
    return Taken(
        "stored" if received.created else "duplicate",
        stored.id,
        received.conversation.id,
        received.message.id,
    )


def _flag(options: Mapping[str, Any], name: str) -> bool | None:
    value = options.get(name)
    return value if isinstance(value, bool) else None


def _profile(session: Session, inbox: CareInbox, event: TalkTalkEvent, now: datetime) -> None:
    """``open`` and ``friend``: what TalkTalk tells of the user, onto their profile."""
    customer = _customer(session, inbox, event.user)
    traits: dict[str, Any] = {}
    if event.event == "friend":
        setting = event.options.get("set")
        friend = True if setting == "on" else False if setting == "off" else None
    else:
        friend = _flag(event.options, "friend")
        for age in ("under14", "under19"):
            flag = _flag(event.options, age)
            if flag is not None:
                traits[f"talktalk_{age}"] = flag
    thread = _thread(session, inbox, event.user)
    if friend is not None:
        traits["talktalk_friend"] = friend
        if event.event == "friend" and thread.friend is not friend:
            profiles.record_consent(
                session,
                customer=customer,
                purpose="marketing",
                channel=CHANNEL,
                granted=friend,
                source="talktalk_friend",
                evidence="네이버 톡톡 친구 추가" if friend else "네이버 톡톡 친구 철회",
                at=now,
            )
        thread.friend = friend
    if traits:
        profiles.apply_traits(customer, traits)
    session.flush()


def _open_conversation(session: Session, inbox: CareInbox, user: str) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == inbox.workspace_id,
            Conversation.inbox_id == inbox.id,
            Conversation.contact == user,
            Conversation.status != "resolved",
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )


def _thread_change(
    session: Session,
    inbox: CareInbox,
    stored: CareWebhookEvent,
    event: TalkTalkEvent,
    now: datetime,
) -> Taken:
    """``leave`` and ``handover``: a system note where the team will see it; a handover also
    records who holds the thread now."""
    key = "care_talktalk.left"
    if event.event == "handover":
        control = event.options.get("control")
        to_agent = control == "passThread" and event.options.get("targetId") == PARTNER_SOURCE_ID
        _thread(session, inbox, event.user).owner = "agent" if to_agent else "bot"
        key = "care_talktalk.to_agent" if to_agent else "care_talktalk.to_bot"
    conversation = _open_conversation(session, inbox, event.user)
    if conversation is None:
        return Taken("noted", stored.id)
    note = ConversationMessage(
        workspace_id=inbox.workspace_id,
        conversation_id=conversation.id,
        direction="note",
        author="system",
        body_text=gettext(conversation.language or "ko", key),
        channel_message_id=f"{CHANNEL}:{stored.id}",
        details={CHANNEL: {"event": event.event, **_handover_details(event)}},
        created_at=now,
    )
    session.add(note)
    session.flush()
    return Taken("noted", stored.id, conversation.id, note.id)


def _handover_details(event: TalkTalkEvent) -> dict[str, Any]:
    if event.event != "handover":
        return {}
    return {
        name: str(event.options[name])[:200]
        for name in ("control", "targetId", "metadata")
        if event.options.get(name) not in (None, "")
    }


def _echo(
    session: Session,
    inbox: CareInbox,
    stored: CareWebhookEvent,
    event: TalkTalkEvent,
    now: datetime,
) -> Taken:
    """What the partner side sent: the oldest reply from cxloop to this user with that text,
    sent and not yet confirmed, is delivered."""
    if event.echoed != "send" or not event.text:
        return Taken("ignored", stored.id)
    sent = session.scalar(
        select(OutboundMessage)
        .where(
            OutboundMessage.workspace_id == inbox.workspace_id,
            OutboundMessage.channel == CHANNEL,
            OutboundMessage.recipient == event.user,
            OutboundMessage.status == "sent",
            OutboundMessage.body_text == event.text,
            OutboundMessage.provider_message_id.is_not(None),
        )
        .order_by(OutboundMessage.id)
        .limit(1)
    )
    if sent is None or sent.provider_message_id is None:
        return Taken("ignored", stored.id)
    outbox.record_status(
        session,
        workspace_id=inbox.workspace_id,
        report=StatusReport(
            channel=CHANNEL, provider_message_id=sent.provider_message_id, status="delivered"
        ),
        now=now,
    )
    return Taken("delivered", stored.id)
