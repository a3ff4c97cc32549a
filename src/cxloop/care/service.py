"""Conversations: inboxes, a customer's email taken into the right conversation, agents'
replies (threaded in the customer's mail client) and notes, status, priority and assignment.

Threading an inbound email, first match wins:
1. the same Message-ID stored before: a replayed delivery is stored once;
2. a message of this inbox it answers (``In-Reply-To``, then ``References`` newest first),
   matched by the ids cxloop stored for its own replies and for the customer's messages —
   but only in a conversation with the same customer, so replies of different people to one
   mailing never merge;
3. the same customer's latest conversation in this inbox with the same subject (without
   ``Re:``/``회신:`` prefixes) that is not resolved, or resolved within the inbox's reopen
   window — clients that drop the headers still thread.
A customer's message reopens a snoozed or recently resolved conversation; an automatic one
(auto-reply, out-of-office) joins its conversation but never reopens it or starts one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import sla, texts
from cxloop.care.mail import is_automatic, safe_html, thread_subject
from cxloop.channels import outbox
from cxloop.channels.adapters import Inbound
from cxloop.channels.email import outbox_message_id
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
    OutboundMessage,
    Workspace,
)
from cxloop.models.care import CONVERSATION_STATUSES, INBOX_CHANNELS, PRIORITIES
from cxloop.profiles import service as profiles
from cxloop.profiles.activity import survivor_of
from cxloop.profiles.contact import normalise_email

MAX_BODY = 200_000  # characters of a message kept as text; the rest is cut with a note
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


# --- taking a customer's email in ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: ConversationMessage
    created: bool  # False: the same message was delivered before


def _by_message_id(
    session: Session, workspace_id: int, message_id: str
) -> ConversationMessage | None:
    if not message_id:
        return None
    return session.scalar(
        select(ConversationMessage).where(
            ConversationMessage.workspace_id == workspace_id,
            ConversationMessage.channel_message_id == message_id,
        )
    )


def _answered(
    session: Session, inbox: CareInbox, customer: Customer, ids: Sequence[str]
) -> Conversation | None:
    """The conversation of this inbox and customer holding the newest message ``ids`` name."""
    for message_id in ids:
        if not message_id:
            continue
        found = session.scalar(
            select(Conversation)
            .join(ConversationMessage, ConversationMessage.conversation_id == Conversation.id)
            .outerjoin(
                OutboundMessage, OutboundMessage.id == ConversationMessage.outbound_message_id
            )
            .where(
                Conversation.workspace_id == inbox.workspace_id,
                Conversation.inbox_id == inbox.id,
                or_(
                    ConversationMessage.channel_message_id == message_id,
                    OutboundMessage.provider_message_id == message_id,
                ),
            )
            .limit(1)
        )
        if found is not None:
            return found if found.customer_id == customer.id else None
    return None


def _reopenable(conversation: Conversation, inbox: CareInbox, now: datetime) -> bool:
    if conversation.status != "resolved":
        return True
    resolved = conversation.resolved_at
    return resolved is not None and now - as_utc(resolved) <= timedelta(days=inbox.reopen_days)


def _same_subject(
    session: Session, inbox: CareInbox, customer: Customer, subject: str, now: datetime
) -> Conversation | None:
    wanted = thread_subject(subject)
    if not wanted:
        return None
    latest = session.scalars(
        select(Conversation)
        .where(
            Conversation.workspace_id == inbox.workspace_id,
            Conversation.inbox_id == inbox.id,
            Conversation.customer_id == customer.id,
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(20)
    )
    for conversation in latest:
        if thread_subject(conversation.subject) == wanted and _reopenable(conversation, inbox, now):
            return conversation
    return None


def _customer_of(session: Session, inbox: CareInbox, mail: Inbound) -> Customer | None:
    """The sender's profile, found or made by their address; None when the address is not one
    (the message is kept, marked, in a conversation without a customer)."""
    if normalise_email(mail.sender) is None:
        return None
    workspace = session.get(Workspace, inbox.workspace_id)
    assert workspace is not None
    customer = profiles.create_customer(
        session,
        workspace=workspace,
        principal=None,
        traits={},
        identities=[("email", mail.sender)],
        source=f"care:{inbox.channel}",
    )
    if not customer.display_name and mail.sender_name:
        customer.display_name = storable(mail.sender_name)[:200]
    return survivor_of(session, customer) or customer


def receive_email(
    session: Session, *, inbox: CareInbox, mail: Inbound, now: datetime | None = None
) -> Received | None:
    """Take a customer's email into its conversation (see the module's threading rules).
    Returns None for an automatic message that answers no conversation: nobody is told."""
    existing = _by_message_id(session, inbox.workspace_id, storable(mail.provider_message_id)[:300])
    if existing is not None:
        conversation = session.get(Conversation, existing.conversation_id)
        assert conversation is not None
        return Received(conversation, existing, created=False)
    now = now or utcnow()
    automatic = is_automatic(mail.headers)
    customer = _customer_of(session, inbox, mail)
    thread = [storable(i)[:300] for i in (mail.in_reply_to, *reversed(mail.references)) if i]
    conversation = None
    if customer is not None:
        conversation = _answered(session, inbox, customer, thread)
        if conversation is not None and not automatic and not _reopenable(conversation, inbox, now):
            conversation = None  # too long after it was resolved: a new conversation
        if conversation is None:
            conversation = _same_subject(session, inbox, customer, mail.subject, now)
    if conversation is None:
        if automatic:
            return None
        conversation = Conversation(
            workspace_id=inbox.workspace_id,
            inbox_id=inbox.id,
            customer_id=customer.id if customer is not None else None,
            channel=inbox.channel,
            status="open",
            subject=storable(" ".join(mail.subject.split()))[:300],
            team=inbox.team,
            last_message_at=now,
            created_at=now,
        )
        session.add(conversation)
        session.flush()
        sla.start_clocks(session, conversation, at=now)
    elif not automatic:
        sla.customer_wrote(
            session,
            conversation,
            at=now,
            reopened=conversation.status == "resolved",
        )
    text = mail.text or ""
    problem = ""
    if customer is None:
        problem = f"The sender's address {mail.sender[:320]!r} is not one a reply can go to."
    if len(text) > MAX_BODY:
        text, problem = text[:MAX_BODY], f"The text was cut at {MAX_BODY:,} characters."
    message = ConversationMessage(
        workspace_id=inbox.workspace_id,
        conversation_id=conversation.id,
        direction="in",
        author="customer",
        subject=storable(" ".join(mail.subject.split()))[:300],
        body_text=storable(text),
        body_html=storable(safe_html(mail.html[:MAX_BODY])),
        channel_message_id=storable(mail.provider_message_id)[:300] or None,
        thread_ids=thread[:50],
        automatic=automatic,
        problem=problem,
        sent_at=mail.sent_at,
        created_at=now,
    )
    session.add(message)
    session.flush()
    texts.record_on_timeline(session, message=message, conversation=conversation)
    conversation.last_message_at = now
    if not automatic:
        conversation.last_customer_message_at = now
        if conversation.status in ("resolved", "snoozed", "pending"):
            conversation.status = "open"
            conversation.snoozed_until = None
            conversation.resolved_at = None
    session.flush()
    return Received(conversation, message, created=True)


def keep_unreadable(
    session: Session, *, inbox: CareInbox, raw: bytes, problem: str
) -> ConversationMessage:
    """Keep a message the channel could not read, raw with the reason, in a conversation of
    its own so an agent sees it (never dropped)."""
    now = utcnow()
    conversation = Conversation(
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        customer_id=None,
        channel=inbox.channel,
        status="open",
        subject="",
        team=inbox.team,
        last_message_at=now,
    )
    session.add(conversation)
    session.flush()
    message = ConversationMessage(
        workspace_id=inbox.workspace_id,
        conversation_id=conversation.id,
        direction="in",
        author="customer",
        problem=storable(problem)[:2000],
        raw=storable(raw[:MAX_BODY].decode("utf-8", "replace")),
    )
    session.add(message)
    session.flush()
    return message


# --- agents ------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    inbox_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None


def list_conversations(
    session: Session,
    *,
    workspace_id: int,
    filters: ConversationFilter = ConversationFilter(),
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Conversation], str | None]:
    """A page of conversations, the latest message first, and the next page's cursor."""
    if filters.status is not None and filters.status not in CONVERSATION_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(CONVERSATION_STATUSES)}.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    query: Select[tuple[Conversation]] = select(Conversation).where(
        Conversation.workspace_id == workspace_id
    )
    if filters.status is not None:
        query = query.where(Conversation.status == filters.status)
    if filters.inbox_id is not None:
        query = query.where(Conversation.inbox_id == filters.inbox_id)
    if filters.unassigned:
        query = query.where(Conversation.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Conversation.assignee_id == filters.assignee_id)
    if filters.customer_id is not None:
        query = query.where(Conversation.customer_id == filters.customer_id)
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


def reply(
    session: Session,
    *,
    conversation: Conversation,
    principal: Principal,
    text: str,
    now: datetime | None = None,
) -> ConversationMessage:
    """An agent's reply to the customer: queued in the outbox (sent once, after commit), and
    threaded under the customer's latest message so it lands in the same thread of their mail
    client."""
    body = _clean_body(text)
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if customer is None or customer.erased_at is not None or not customer.email:
        raise Conflict("This conversation's customer has no email address to reply to.")
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
    headers: dict[str, str] = {}
    if previous is not None and previous.channel_message_id:
        chain = [*previous.thread_ids[::-1], previous.channel_message_id]
        headers = {
            "In-Reply-To": previous.channel_message_id,
            "References": " ".join(dict.fromkeys(i for i in chain if i))[-1900:].lstrip(),
        }
    subject = thread_subject(conversation.subject) or conversation.subject
    now = now or utcnow()
    message = ConversationMessage(
        created_at=now,
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        direction="out",
        author="agent",
        author_user_id=principal.user_id,
        subject=f"Re: {subject}" if subject else "",
        body_text=body,
        thread_ids=[h for h in (headers.get("In-Reply-To"),) if h],
    )
    session.add(message)
    session.flush()
    queued = outbox.queue_email(
        session,
        workspace_id=conversation.workspace_id,
        recipient=customer.email,
        subject=message.subject or "(cxloop)",
        text=body,
        dedupe_key=f"care:reply:{message.id}",
        customer_id=customer.id,
        user_id=principal.user_id,
        purpose="service",
        headers=headers,
    )
    message.outbound_message_id = queued.id
    message.channel_message_id = outbox_message_id(queued.id, get_settings().mail_from)
    sla.agent_replied(conversation, at=now)
    conversation.last_message_at = now
    conversation.first_response_at = conversation.first_response_at or now
    if conversation.status == "open":
        conversation.status = "pending"  # waiting on the customer
    session.flush()
    return message


def add_note(
    session: Session, *, conversation: Conversation, principal: Principal, text: str
) -> ConversationMessage:
    """A private note for the team; the customer never sees it."""
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
) -> Conversation:
    """Change what an agent may change: status (snoozing needs a time to wake at), priority,
    assignee (a member of the workspace, or None) and tags."""
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
        if status == "resolved" and conversation.status != "resolved":
            sla.resolved(conversation, at=moment)
        conversation.resolved_at = moment if status == "resolved" else None
        conversation.status = status
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
    session.flush()
    return len(due)
