"""Conversations: inboxes, agents' replies (threaded in the customer's mail client) and notes,
status, priority and assignment. Customers' messages come in through ``care.intake``, which
holds the threading rules.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import assignment, csat, followers, live, sla, texts
from cxloop.care.attachments import claim, email_files
from cxloop.care.mail import thread_subject
from cxloop.care.mentions import mentioned_in, record_mentions
from cxloop.care.reply_address import reply_to
from cxloop.channels import outbox
from cxloop.channels.email import outbox_message_id
from cxloop.core.db import Database
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Customer,
    Membership,
)
from cxloop.models.care import (
    BOT_STATUS,
    CONVERSATION_STATUSES,
    INBOX_CHANNELS,
    LISTED_STATUSES,
    PRIORITIES,
)

MAX_TAGS = 20


def storable(text: str) -> str:
    """``text`` as every database stores it: no NUL character, no lone surrogate (what an
    undecodable byte in a mail becomes), each replaced by U+FFFD."""
    return (
        text.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- inboxes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewInbox:
    inbox: CareInbox
    token: str  # shown once: the inbound webhook's secret


def create_inbox(
    session: Session,
    *,
    principal: Principal,
    name: str,
    channel: str = "email",
    address: str = "",
    team: str = "",
    reopen_days: int = 7,
) -> NewInbox:
    """Create an inbox and the secret token of its inbound webhook (returned once). Audited."""
    clean_name = " ".join(name.split())
    if not 1 <= len(clean_name) <= 200:
        raise ValidationFailed(
            "An inbox needs a name of 1 to 200 characters.",
            errors=[{"field": "name", "message": "1 to 200 characters"}],
        )
    if channel not in INBOX_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(INBOX_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )
    if not 0 <= reopen_days <= 365:
        raise ValidationFailed(
            "reopen_days must be 0 to 365.",
            errors=[{"field": "reopen_days", "message": "0 to 365"}],
        )
    team = " ".join(team.split())
    if len(team) > 64:
        raise ValidationFailed(
            "A team name is at most 64 characters.",
            errors=[{"field": "team", "message": "at most 64 characters"}],
        )
    token = secrets.token_urlsafe(24)
    inbox = CareInbox(
        workspace_id=principal.workspace_id,
        name=clean_name,
        channel=channel,
        address=address.strip()[:320],
        team=team,
        token_hash=hash_token(token),
        reopen_days=reopen_days,
    )
    session.add(inbox)
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.inbox_create",
        target_type="care_inbox",
        target_id=inbox.id,
        detail={"channel": channel},
    )
    return NewInbox(inbox=inbox, token=token)


def list_inboxes(session: Session, *, workspace_id: int) -> list[CareInbox]:
    return list(
        session.scalars(
            select(CareInbox).where(CareInbox.workspace_id == workspace_id).order_by(CareInbox.id)
        )
    )


def inbox_for_token(session: Session, *, token: str) -> CareInbox | None:
    """The active inbox whose webhook token this is, or None (compared by hash)."""
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(CareInbox).where(
            CareInbox.token_hash == hash_token(token), CareInbox.active.is_(True)
        )
    )


# The inboxes of tokens a webhook was just called with, for a few seconds in each process: on
# SQLite under ingestion load the look-up was most of the slowest answers (30–70 ms of them).
# Nothing changes a token or turns an inbox off; an inbox deleted meanwhile (its workspace
# with it) has its mail dropped when it is taken in.
TOKEN_MEMORY_SECONDS = 10.0
_token_memory: dict[str, tuple[int, float]] = {}
_token_memory_lock = threading.Lock()


def inbox_id_for_token(database: Database, *, token: str) -> int | None:
    """The id of the active inbox whose webhook token this is, or None: as ``inbox_for_token``,
    remembered for ``TOKEN_MEMORY_SECONDS`` once found (an unknown token is looked up again
    every time)."""
    if not token or len(token) > 200:
        return None
    key, now = hash_token(token), time.monotonic()
    with _token_memory_lock:
        remembered = _token_memory.get(key)
    if remembered is not None and remembered[1] > now:
        return remembered[0]
    with database.read_session() as session:
        inbox = inbox_for_token(session, token=token)
        if inbox is None:
            return None
        inbox_id = inbox.id
    with _token_memory_lock:
        if len(_token_memory) >= 1024:
            _token_memory.clear()
        _token_memory[key] = (inbox_id, now + TOKEN_MEMORY_SECONDS)
    return inbox_id


# --- agents ------------------------------------------------------------------------------------


def set_bot_inboxes(
    session: Session, *, principal: Principal, inbox_ids: Sequence[int]
) -> list[int]:
    """Let the help bot answer first in exactly these inboxes (of the channels it can reply
    on; the e-mail auto-reply is off until an inbox is chosen). Audited; returns the ids."""
    inboxes = list_inboxes(session, workspace_id=principal.workspace_id)
    unknown = set(inbox_ids) - {i.id for i in inboxes if i.channel in BOT_CHANNELS}
    if unknown:
        raise ValidationFailed(
            "The bot answers in the workspace's email, chat, SMS, TalkTalk and KakaoTalk inboxes "
            "only.",
            errors=[{"field": "inboxes", "message": f"unknown inbox {min(unknown)}"}],
        )
    chosen = sorted(set(inbox_ids))
    for inbox in inboxes:
        inbox.bot_answers_first = inbox.id in chosen
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="care.bot_inboxes",
        target_type="workspace",
        target_id=principal.workspace_id,
        detail={"inboxes": chosen},
    )
    return chosen


def get_conversation(session: Session, *, workspace_id: int, conversation_id: int) -> Conversation:
    conversation = session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
        )
    )
    if conversation is None:
        raise NotFound(f"No conversation with id {conversation_id} in this workspace.")
    return conversation


def messages_of(
    session: Session, *, conversation: Conversation, after_id: int | None = None, limit: int = 100
) -> list[ConversationMessage]:
    """The conversation's messages and notes, oldest first, a page at a time."""
    query = (
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.id)
        .limit(max(1, min(limit, 500)))
    )
    if after_id is not None:
        query = query.where(ConversationMessage.id > after_id)
    return list(session.scalars(query))


# What an agent may filter the SLA state by: a target already missed, one falling due within
# the hour, or any target still running.
SLA_FILTERS = ("missed", "due_soon", "running")


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    inbox_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    mentioned_user_id: int | None = None  # conversations whose notes name this member
    channel: str | None = None
    priority: str | None = None
    language: str | None = None
    tag: str | None = None
    teams: tuple[str, ...] | None = None  # conversations of any of these teams
    sla: str | None = None  # one of SLA_FILTERS
    search: str | None = None  # words in the subject, a message or the customer's name/email


def _check_filters(filters: ConversationFilter) -> None:
    for field, value, allowed in (
        ("status", filters.status, LISTED_STATUSES),
        ("channel", filters.channel, INBOX_CHANNELS),
        ("priority", filters.priority, PRIORITIES),
        ("sla", filters.sla, SLA_FILTERS),
    ):
        if value is not None and value not in allowed:
            raise ValidationFailed(
                f"{field} must be one of {', '.join(allowed)}.",
                errors=[{"field": field, "message": f"unknown {field}"}],
            )
    if filters.search is not None and len(filters.search) > 200:
        raise ValidationFailed(
            "A search is at most 200 characters.",
            errors=[{"field": "q", "message": "at most 200 characters"}],
        )


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return Conversation.tags.op("@>")(cast([tag], JSONB))
    each = func.json_each(Conversation.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _sla_clause(state: str, now: datetime) -> ColumnElement[bool]:
    dues = (
        Conversation.first_response_due_at,
        Conversation.next_response_due_at,
        Conversation.resolution_due_at,
    )
    if state == "missed":
        return cast(Conversation.sla_missed, String) != "[]"
    if state == "due_soon":
        soon = now + timedelta(hours=1)
        return or_(*(and_(due.is_not(None), due <= soon) for due in dues))
    return or_(*(due.is_not(None) for due in dues))


def _matching(search: str) -> ColumnElement[bool]:
    words = search.lower()
    in_messages = exists(
        select(ConversationMessage.id).where(
            ConversationMessage.conversation_id == Conversation.id,
            func.lower(ConversationMessage.body_text).contains(words, autoescape=True),
        )
    )
    in_customer = exists(
        select(Customer.id).where(
            Customer.id == Conversation.customer_id,
            or_(
                func.lower(Customer.display_name).contains(words, autoescape=True),
                func.lower(Customer.email).contains(words, autoescape=True),
            ),
        )
    )
    return or_(
        func.lower(Conversation.subject).contains(words, autoescape=True),
        in_customer,
        in_messages,
    )


def list_conversations(
    session: Session,
    *,
    workspace_id: int,
    filters: ConversationFilter = ConversationFilter(),
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Conversation], str | None]:
    """A page of conversations, the latest message first, and the next page's cursor."""
    _check_filters(filters)
    query: Select[tuple[Conversation]] = select(Conversation).where(
        Conversation.workspace_id == workspace_id
    )
    for column, value in (
        (Conversation.status, filters.status),
        (Conversation.inbox_id, filters.inbox_id),
        (Conversation.customer_id, filters.customer_id),
        (Conversation.channel, filters.channel),
        (Conversation.priority, filters.priority),
        (Conversation.language, filters.language),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.unassigned:
        query = query.where(Conversation.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Conversation.assignee_id == filters.assignee_id)
    if filters.mentioned_user_id is not None:
        query = query.where(Conversation.id.in_(mentioned_in(filters.mentioned_user_id)))
    if filters.teams is not None:
        query = query.where(Conversation.team.in_(filters.teams))
    if filters.tag:
        query = query.where(_has_tag(session, filters.tag))
    if filters.sla is not None:
        query = query.where(_sla_clause(filters.sla, utcnow()))
    if filters.search and filters.search.strip():
        query = query.where(_matching(" ".join(filters.search.split())))
    return newest_first(
        session,
        query,
        time=Conversation.last_message_at,
        id=Conversation.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def _clean_body(text: str) -> str:
    body = (text or "").strip()
    if not body:
        raise ValidationFailed(
            "A message needs some text.", errors=[{"field": "text", "message": "empty"}]
        )
    if len(body) > 50_000:
        raise ValidationFailed(
            "A message is at most 50,000 characters.",
            errors=[{"field": "text", "message": "at most 50,000 characters"}],
        )
    return body


# The channels an agent answers on from cxloop; a review, a social post or a phone call is
# answered where it happened, and KakaoTalk sends only registered templates.
REPLY_CHANNELS = ("email", "chat", "sms", "talktalk")
# Channels a reply travels back on in the answer to the customer's own request (a KakaoTalk
# chatbot skill answers each message): the help bot answers there, an agent cannot.
ANSWERED_IN_RESPONSE = ("kakao",)
BOT_CHANNELS = (*REPLY_CHANNELS, *ANSWERED_IN_RESPONSE)


def _email_headers(session: Session, conversation: Conversation) -> dict[str, str]:
    """Threading headers that put a reply under the conversation's latest mail."""
    previous = session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.direction != "note",
            ConversationMessage.channel_message_id.is_not(None),
        )
        .order_by(ConversationMessage.id.desc())
        .limit(1)
    ).first()
    if previous is None or not previous.channel_message_id:
        return {}
    chain = [*previous.thread_ids[::-1], previous.channel_message_id]
    return {
        "In-Reply-To": previous.channel_message_id,
        "References": " ".join(dict.fromkeys(i for i in chain if i))[-1900:].lstrip(),
    }


def _reply_headers(session: Session, conversation: Conversation) -> dict[str, str]:
    if conversation.channel != "email":
        return {}
    return {**_email_headers(session, conversation), **reply_to(session, conversation)}


def _send_email(
    session: Session,
    conversation: Conversation,
    customer: Customer,
    message: ConversationMessage,
    headers: dict[str, str],
    files: list[dict[str, str]],
) -> None:
    if not customer.email:
        raise Conflict("This conversation's customer has no email address to reply to.")
    queued = outbox.queue_message(
        session,
        workspace_id=conversation.workspace_id,
        channel="email",
        recipient=customer.email,
        subject=message.subject or "(cxloop)",
        text=message.body_text,
        dedupe_key=f"care:reply:{message.id}",
        customer_id=customer.id,
        user_id=message.author_user_id,
        purpose="service",
        details={k: v for k, v in (("headers", headers), ("attachments", files)) if v},
    )
    message.outbound_message_id = queued.id
    message.channel_message_id = outbox_message_id(queued.id, get_settings().mail_from)


def _send_text(
    session: Session, conversation: Conversation, customer: Customer, message: ConversationMessage
) -> None:
    recipient = conversation.contact or (customer.phone if conversation.channel == "sms" else "")
    if not recipient:
        raise Conflict("This conversation has no address on its channel to reply to.")
    queued = outbox.queue_message(
        session,
        workspace_id=conversation.workspace_id,
        channel=conversation.channel,
        recipient=recipient,
        text=message.body_text,
        dedupe_key=f"care:reply:{message.id}",
        customer_id=customer.id,
        user_id=message.author_user_id,
        purpose="service",
    )
    message.outbound_message_id = queued.id


def can_reply(session: Session, conversation: Conversation) -> bool:
    """Whether an agent can answer ``conversation`` from cxloop (its channel is one cxloop
    replies on, and the customer has an address there)."""
    if conversation.channel not in REPLY_CHANNELS or conversation.customer_id is None:
        return False
    customer = session.get(Customer, conversation.customer_id)
    if customer is None or customer.erased_at is not None:
        return False
    if conversation.channel == "email":
        return bool(customer.email)
    if conversation.channel == "sms":
        return bool(conversation.contact or customer.phone)
    return conversation.channel == "chat" or bool(conversation.contact)


def reply(
    session: Session,
    *,
    conversation: Conversation,
    principal: Principal,
    text: str,
    now: datetime | None = None,
    attachment_ids: Sequence[int] = (),
) -> ConversationMessage:
    """An agent's reply to the customer on the conversation's channel: an email or a text
    message is queued in the outbox (sent once, after commit; an email threads under the
    customer's latest message in their mail client, with the uploads ``attachment_ids``), a
    chat message reaches the visitor's widget."""
    body = _clean_body(text)
    if conversation.channel not in REPLY_CHANNELS:
        raise Conflict(
            f"Replies on the {conversation.channel} channel are given where the customer wrote; "
            "add a note instead."
        )
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if customer is None or customer.erased_at is not None:
        raise Conflict("This conversation has no customer to reply to.")
    headers = _reply_headers(session, conversation)
    now = now or utcnow()
    message = _outgoing(conversation, headers, author="agent", body=body, now=now)
    message.author_user_id = principal.user_id
    session.add(message)
    session.flush()
    files = claim(session, message=message, ids=attachment_ids, channel=conversation.channel)
    if conversation.channel == "email":
        _send_email(session, conversation, customer, message, headers, email_files(files))
    elif conversation.channel != "chat":
        _send_text(session, conversation, customer, message)
    if conversation.status == BOT_STATUS:  # the agent takes the conversation from the bot
        conversation.status = "open"
    sla.agent_replied(conversation, at=now)
    conversation.last_message_at = now
    conversation.first_response_at = conversation.first_response_at or now
    if conversation.status == "open":
        conversation.status = "pending"  # waiting on the customer
    session.flush()
    texts.record_on_timeline(session, message=message, conversation=conversation)
    live.message_added(session, conversation, message)
    return message


def _outgoing(
    conversation: Conversation, headers: dict[str, str], *, author: str, body: str, now: datetime
) -> ConversationMessage:
    subject = thread_subject(conversation.subject) or conversation.subject
    return ConversationMessage(
        created_at=now,
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        direction="out",
        author=author,
        subject=f"Re: {subject}" if subject and conversation.channel == "email" else "",
        body_text=body,
        thread_ids=[h for h in (headers.get("In-Reply-To"),) if h],
    )


def bot_reply(
    session: Session, *, conversation: Conversation, text: str, now: datetime | None = None
) -> ConversationMessage | None:
    """The help bot's answer to the customer, sent like an agent's reply on the conversation's
    channel; it is no response of the team's (no SLA clock stops). On a channel that answers
    in the response (``ANSWERED_IN_RESPONSE``) it is only stored: the caller answers with it.
    None when the channel has no way back to the customer (the bot then leaves the
    conversation to the team)."""
    in_response = conversation.channel in ANSWERED_IN_RESPONSE
    if not in_response and not can_reply(session, conversation):
        return None
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    headers = _reply_headers(session, conversation)
    now = now or utcnow()
    message = _outgoing(conversation, headers, author="bot", body=_clean_body(text), now=now)
    session.add(message)
    session.flush()
    if in_response or customer is None:
        pass
    elif conversation.channel == "email":
        _send_email(session, conversation, customer, message, headers, [])
    elif conversation.channel != "chat":
        _send_text(session, conversation, customer, message)
    conversation.last_message_at = now
    session.flush()
    texts.record_on_timeline(session, message=message, conversation=conversation)
    live.message_added(session, conversation, message)
    return message


def hand_over(
    session: Session,
    *,
    conversation: Conversation,
    team: str = "",
    note: str = "",
    now: datetime | None = None,
) -> None:
    """The bot gives the conversation to the team (``team``, or the one it has): it opens, its
    SLA clocks start from now, it is routed and assigned like a new conversation, and the team
    reads ``note`` (what the bot was asked and tried) first."""
    if conversation.status != BOT_STATUS:
        return
    now = now or utcnow()
    conversation.status = "open"
    if team:
        conversation.team = team[:64]
    sla.start_clocks(session, conversation, at=now)
    if note:
        session.add(
            ConversationMessage(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                direction="note",
                author="bot",
                body_text=storable(note)[:50_000],
                created_at=now,
            )
        )
    session.flush()
    assignment.route_new(session, conversation, now=now)
    live.conversation_changed(session, conversation, "update")


def resolved_by_bot(
    session: Session, *, conversation: Conversation, now: datetime | None = None
) -> None:
    """The customer's question was answered and they left: the bot resolves the conversation
    (no CSAT survey follows; writing again reopens it for the team)."""
    if conversation.status != BOT_STATUS:
        return
    conversation.status = "resolved"
    conversation.resolved_at = now or utcnow()
    session.flush()
    live.conversation_changed(session, conversation, "update")


def add_note(
    session: Session,
    *,
    conversation: Conversation,
    principal: Principal,
    text: str,
    attachment_ids: Sequence[int] = (),
) -> ConversationMessage:
    """A private note for the team (the customer never sees it), with the uploads
    ``attachment_ids``; the members it names with @ are told."""
    note = ConversationMessage(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        direction="note",
        author="agent",
        author_user_id=principal.user_id,
        body_text=_clean_body(text),
    )
    session.add(note)
    session.flush()
    claim(session, message=note, ids=attachment_ids, channel=conversation.channel)
    record_mentions(session, note=note, conversation=conversation, author_id=principal.user_id)
    live.message_added(session, conversation, note)
    return note


_UNSET = object()


def update_conversation(
    session: Session,
    *,
    conversation: Conversation,
    status: str | None = None,
    priority: str | None = None,
    assignee_id: int | object | None = _UNSET,
    snoozed_until: datetime | None = None,
    tags: Sequence[str] | None = None,
    now: datetime | None = None,
    automatic: bool = False,
    actor_id: int | None = None,
) -> Conversation:
    """Change what an agent may change: status (snoozing needs a time to wake at), priority,
    assignee (a member of the workspace, or None) and tags. An agent's resolution asks for the
    inbox's CSAT survey; an ``automatic`` one (a rule, the bot, a sweep) never does. The
    conversation's followers other than ``actor_id`` hear of a resolution. A conversation the
    bot answers is the team's from the first such change (its SLA clocks start then)."""
    taking = status is not None or (assignee_id is not _UNSET and assignee_id is not None)
    if conversation.status == BOT_STATUS and taking:
        conversation.status = "open"
        sla.start_clocks(session, conversation, at=now or utcnow())
    if status is not None:
        if status not in CONVERSATION_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(CONVERSATION_STATUSES)}.",
                errors=[{"field": "status", "message": "unknown status"}],
            )
        if status == "snoozed":
            if snoozed_until is None or as_utc(snoozed_until) <= utcnow():
                raise ValidationFailed(
                    "Snoozing needs a time in the future to wake at.",
                    errors=[{"field": "snoozed_until", "message": "a future time is required"}],
                )
            conversation.snoozed_until = as_utc(snoozed_until)
        else:
            conversation.snoozed_until = None
        moment = now or utcnow()
        resolving = status == "resolved" and conversation.status != "resolved"
        if resolving:
            sla.resolved(conversation, at=moment)
        elif conversation.status == "resolved" and status != "resolved":
            conversation.reopened_count += 1
        conversation.resolved_at = moment if status == "resolved" else None
        conversation.status = status
        if resolving:
            csat.request_after_resolution(
                session, conversation=conversation, automatic=automatic, now=moment
            )
            followers.conversation_resolved(session, conversation=conversation, actor_id=actor_id)
    if priority is not None:
        if priority not in PRIORITIES:
            raise ValidationFailed(
                f"priority must be one of {', '.join(PRIORITIES)}.",
                errors=[{"field": "priority", "message": "unknown priority"}],
            )
        conversation.priority = priority
    if assignee_id is not _UNSET:
        if assignee_id is not None:
            member = session.scalar(
                select(Membership.user_id).where(
                    Membership.workspace_id == conversation.workspace_id,
                    Membership.user_id == assignee_id,
                )
            )
            if member is None:
                raise ValidationFailed(
                    "The assignee must be a member of this workspace.",
                    errors=[{"field": "assignee_id", "message": "not a member"}],
                )
        conversation.assignee_id = assignee_id  # type: ignore[assignment]
    if tags is not None:
        cleaned = list(dict.fromkeys(" ".join(t.split())[:64] for t in tags if t.strip()))
        if len(cleaned) > MAX_TAGS:
            raise ValidationFailed(
                f"A conversation has at most {MAX_TAGS} tags.",
                errors=[{"field": "tags", "message": f"at most {MAX_TAGS}"}],
            )
        conversation.tags = cleaned
    session.flush()
    live.conversation_changed(session, conversation, "update")
    return conversation


def wake_snoozed(session: Session, *, now: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose time has come; returns how many."""
    moment = now or utcnow()
    due = list(
        session.scalars(
            select(Conversation).where(
                Conversation.status == "snoozed", Conversation.snoozed_until <= moment
            )
        )
    )
    for conversation in due:
        conversation.status = "open"
        conversation.snoozed_until = None
        live.conversation_changed(session, conversation, "update")
    session.flush()
    return len(due)
