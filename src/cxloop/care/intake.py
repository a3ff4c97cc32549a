"""Taking customers' messages in: each into the right conversation, a replayed delivery once.

Threading an inbound email, first match wins:
1. the same Message-ID stored before: a replayed delivery is stored once;
2. a message of this inbox it answers (``In-Reply-To``, then ``References`` newest first),
   matched by the ids cxloop stored for its own replies and for the customer's messages —
   but only in a conversation with the same customer, so replies of different people to one
   mailing never merge;
3. a reply token among its recipients (``support+c<id>.<mac>@…``, the ``Reply-To`` of
   cxloop's replies; see ``reply_address``) naming a conversation of this inbox — again only
   the same customer's;
4. the same customer's latest conversation in this inbox with the same subject (without
   ``Re:``/``회신:`` prefixes) that is not resolved, or resolved within the inbox's reopen
   window — clients that drop the headers still thread.

A message on a conversational channel (chat, SMS, KakaoTalk, Naver TalkTalk) joins the
customer's latest conversation in the inbox that is not resolved, or resolved within the reopen
window; otherwise it starts a new one.

A customer's message reopens a snoozed or recently resolved conversation; an automatic one
(auto-reply, out-of-office) joins its conversation but never reopens it or starts one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import assignment, followers, live, reply_address, sla, texts
from cxloop.care.attachments import save_inbound
from cxloop.care.mail import is_automatic, safe_html, thread_subject
from cxloop.care.service import storable
from cxloop.channels.adapters import Inbound
from cxloop.core.db import one_of
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.events import service as events
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Customer,
    OutboundMessage,
    Workspace,
)
from cxloop.notifications import service as notifications
from cxloop.profiles import service as profiles
from cxloop.profiles.activity import survivor_of
from cxloop.profiles.contact import normalise_email
from cxloop.profiles.identity import IdentityResolver

MAX_BODY = 200_000  # characters of a message kept as text; the rest is cut with a note


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: ConversationMessage
    created: bool  # False: the same message was delivered before


@dataclass
class MailBatch:
    """What a batch of inbound mail taken in one transaction shares (see ``mail_batch``): which
    of its message ids were looked up at once and found nowhere, and the timeline events of its
    messages and its new conversations' notices to their teams, written together at its end."""

    absent: set[tuple[str, int, str]] = field(default_factory=set)  # (where, workspace, id)
    # One per workspace, holding the batch's senders' profiles, so a sender's second message
    # finds the profile made for the first (dropped when a message fails: what it made was
    # rolled back).
    resolvers: dict[int, IdentityResolver] = field(default_factory=dict)
    # (workspace, address) of senders no profile held when the batch looked them up.
    unknown: set[tuple[int, str]] = field(default_factory=set)
    activities: list[tuple[int, events.Activity]] = field(default_factory=list)
    notices: list[notifications.NewNotice] = field(default_factory=list)


_BATCH = "care.mail_batch"


def _batch(session: Session) -> MailBatch | None:
    found: MailBatch | None = session.info.get(_BATCH)
    return found


@contextmanager
def mail_batch(session: Session) -> Iterator[MailBatch]:
    """Within the block the session takes in a batch of mail: ``expect_ids`` looks its ids up
    at once, and its messages' timeline events are written when the block ends (a message
    rolled back alone takes its events with it: see ``mark`` and ``forget_since``)."""
    batch = MailBatch()
    session.info[_BATCH] = batch
    try:
        yield batch
        by_workspace: dict[int, list[events.Activity]] = {}
        for workspace_id, activity in batch.activities:
            by_workspace.setdefault(workspace_id, []).append(activity)
        for workspace_id, activities in by_workspace.items():
            events.record_activities(session, workspace_id=workspace_id, activities=activities)
        notifications.notify_new_in_app(session, batch.notices)
    finally:
        session.info.pop(_BATCH, None)


def mark(session: Session) -> tuple[int, int]:
    """Where the batch's deferred work stands, to forget what one message added if it fails."""
    batch = _batch(session)
    return (len(batch.activities), len(batch.notices)) if batch is not None else (0, 0)


def forget_since(session: Session, since: tuple[int, int]) -> None:
    """Forget the deferred work added after ``mark`` gave ``since`` (its message failed)."""
    batch = _batch(session)
    if batch is not None:
        del batch.activities[since[0] :]
        del batch.notices[since[1] :]
        batch.resolvers.clear()
        batch.unknown.clear()


def thread_ids(mail: Inbound) -> list[str]:
    """The ids a mail names as the messages it answers, newest first, as they are stored."""
    return [storable(i)[:300] for i in (mail.in_reply_to, *reversed(mail.references)) if i]


def mail_ids(mail: Inbound) -> list[str]:
    """Every id by which taking ``mail`` in looks a message up: its own, then its thread's."""
    own = storable(mail.provider_message_id)[:300]
    return [*([own] if own else []), *thread_ids(mail)]


def expect_mail(session: Session, mails: Sequence[tuple[CareInbox, Inbound]]) -> None:
    """Look up at once, for ``mails`` to come (each to its inbox) in this batch, which ids they
    name a message or a sent email of their workspace holds (for the rest of the batch the
    others are not looked up one by one; a message the batch stores is looked up again as
    usual), and their senders' profiles."""
    batch = _batch(session)
    if batch is None:
        return
    senders: dict[int, dict[str, None]] = {}
    ids: dict[int, set[str]] = {}
    for inbox, mail in mails:
        workspace = session.get(Workspace, inbox.workspace_id)
        address = normalise_email(mail.sender)
        if workspace is not None and address:
            _resolver(session, batch, inbox, workspace)
            senders.setdefault(workspace.id, {})[address] = None
        ids.setdefault(inbox.workspace_id, set()).update(mail_ids(mail))
    for workspace_id, addresses in senders.items():
        resolver = batch.resolvers[workspace_id]
        resolver.preload([("email", address) for address in addresses])
        batch.unknown |= {
            (workspace_id, a) for a in addresses if resolver.holder(("email", a)) is None
        }
    for workspace_id, wanted in ids.items():
        _expect_ids(session, batch, workspace_id, wanted)


def _expect_ids(session: Session, batch: MailBatch, workspace_id: int, wanted: set[str]) -> None:
    stored = select(ConversationMessage.channel_message_id).where(
        ConversationMessage.workspace_id == workspace_id,
        one_of(session, ConversationMessage.channel_message_id, wanted),
    )
    sent = select(OutboundMessage.provider_message_id).where(
        OutboundMessage.channel == "email",
        one_of(session, OutboundMessage.provider_message_id, wanted),
        OutboundMessage.workspace_id == workspace_id,
    )
    for where, query in (("stored", stored), ("sent", sent)):
        present = set(session.scalars(query)) if wanted else set()
        batch.absent |= {(where, workspace_id, i) for i in wanted - present}


def _sender_unknown(session: Session, inbox: CareInbox, mail: Inbound) -> bool:
    """Whether the batch found no profile for ``mail``'s sender (once: the profile made for
    their first message holds the next)."""
    batch = _batch(session)
    address = normalise_email(mail.sender)
    if batch is None or address is None:
        return False
    key = (inbox.workspace_id, address)
    unknown = key in batch.unknown
    batch.unknown.discard(key)
    return unknown


def _source(inbox: CareInbox) -> str:
    """Where a profile made for a sender to ``inbox`` says it came from."""
    return f"care:{inbox.channel}"


def _resolver(
    session: Session, batch: MailBatch, inbox: CareInbox, workspace: Workspace
) -> IdentityResolver:
    """The batch's resolver of senders' profiles in ``inbox``'s workspace (the identities it
    writes name the channel of the inbox it was made for: mail comes to email inboxes)."""
    if workspace.id not in batch.resolvers:
        batch.resolvers[workspace.id] = IdentityResolver(session, workspace, source=_source(inbox))
    return batch.resolvers[workspace.id]


def _may_hold(session: Session, where: str, workspace_id: int, message_id: str) -> bool:
    """Whether a message (``where`` "stored") or a sent email ("sent") of the workspace may
    hold ``message_id``: False only when the batch looked it up and found none."""
    batch = _batch(session)
    return batch is None or (where, workspace_id, message_id) not in batch.absent


def _by_message_id(
    session: Session, workspace_id: int, message_id: str
) -> ConversationMessage | None:
    if not message_id or not _may_hold(session, "stored", workspace_id, message_id):
        return None
    return session.scalar(
        select(ConversationMessage).where(
            ConversationMessage.workspace_id == workspace_id,
            ConversationMessage.channel_message_id == message_id,
        )
    )


def _answering(session: Session, inbox: CareInbox, message_id: str) -> Conversation | None:
    """The conversation of this inbox holding the message ``message_id`` names: by the id
    cxloop stored for it, else by the id the provider gave a reply it sent (each an indexed
    look-up, never a scan of the messages)."""
    stored = select(ConversationMessage.conversation_id).where(
        ConversationMessage.workspace_id == inbox.workspace_id,
        ConversationMessage.channel_message_id == message_id,
    )
    sent = (
        select(ConversationMessage.conversation_id)
        .join(OutboundMessage, OutboundMessage.id == ConversationMessage.outbound_message_id)
        .where(
            OutboundMessage.channel == "email",
            OutboundMessage.provider_message_id == message_id,
            OutboundMessage.workspace_id == inbox.workspace_id,
        )
    )
    for where, query in (("stored", stored), ("sent", sent)):
        if not _may_hold(session, where, inbox.workspace_id, message_id):
            continue
        for conversation_id in session.scalars(query.limit(5)):
            found = session.get(Conversation, conversation_id)
            if found is not None and found.inbox_id == inbox.id:
                return found
    return None


def _answered(
    session: Session, inbox: CareInbox, customer: Customer, ids: Sequence[str]
) -> Conversation | None:
    """The conversation of this inbox and customer holding the newest message ``ids`` name."""
    for message_id in ids:
        if not message_id:
            continue
        found = _answering(session, inbox, message_id)
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
    batch = _batch(session)
    customer = profiles.create_customer(
        session,
        workspace=workspace,
        principal=None,
        traits={},
        identities=[("email", mail.sender)],
        source=_source(inbox),
        resolver=_resolver(session, batch, inbox, workspace) if batch is not None else None,
    )
    if not customer.display_name and mail.sender_name:
        customer.display_name = storable(mail.sender_name)[:200]
    return survivor_of(session, customer) or customer


def _latest_open(
    session: Session, inbox: CareInbox, customer: Customer, now: datetime
) -> Conversation | None:
    """The customer's latest conversation in this inbox, if a message may still join it."""
    latest = session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == inbox.workspace_id,
            Conversation.inbox_id == inbox.id,
            Conversation.customer_id == customer.id,
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    return latest if latest is not None and _reopenable(latest, inbox, now) else None


def _start(
    session: Session,
    inbox: CareInbox,
    customer: Customer | None,
    *,
    subject: str,
    contact: str,
    now: datetime,
) -> Conversation:
    conversation = Conversation(
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        customer_id=customer.id if customer is not None else None,
        channel=inbox.channel,
        # With the bot first, the team's clocks and routing wait for its handover.
        status="bot" if inbox.bot_answers_first else "open",
        subject=storable(" ".join(subject.split()))[:300],
        team=inbox.team,
        contact=storable(contact)[:320],
        last_message_at=now,
        # Only a customer's own message starts a conversation (an automatic one never does).
        last_customer_message_at=now,
        created_at=now,
    )
    if conversation.status == "bot":
        session.add(conversation)
        session.flush()
        return conversation
    # The clocks are set before the row is written, so it is written once.
    sla.start_clocks(session, conversation, at=now)
    session.add(conversation)
    session.flush()
    batch = _batch(session)
    assignment.route_new(session, conversation, later=batch.notices if batch else None)
    return conversation


def _customer_wrote(
    session: Session, conversation: Conversation, *, automatic: bool, contact: str, now: datetime
) -> None:
    if automatic:
        return
    reopened = conversation.status == "resolved"
    if reopened:
        conversation.reopened_count += 1
    if reopened and _bot_resolved(session, conversation):
        # The bot closed it and no person ever answered: the bot answers again, clocks still.
        conversation.status = "bot"
        conversation.resolved_at = None
    else:
        sla.customer_wrote(session, conversation, at=now, reopened=reopened)
    if contact:
        conversation.contact = storable(contact)[:320]


def _bot_resolved(session: Session, conversation: Conversation) -> bool:
    """Whether a resolved conversation was the bot's alone, in an inbox it still answers."""
    if conversation.first_response_at is not None or conversation.assignee_id is not None:
        return False
    inbox = session.get(CareInbox, conversation.inbox_id)
    if inbox is None or not inbox.bot_answers_first:
        return False
    handed_over = session.scalar(  # the bot's handover leaves the team a note
        select(ConversationMessage.id)
        .where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.direction == "note",
            ConversationMessage.author == "bot",
        )
        .limit(1)
    )
    return handed_over is None


def _joined(
    session: Session,
    conversation: Conversation,
    message: ConversationMessage,
    now: datetime,
    *,
    started: bool,
) -> Received:
    session.add(message)
    session.flush()
    batch = _batch(session)
    if batch is not None and message.channel_message_id:
        batch.absent.discard(("stored", message.workspace_id, message.channel_message_id))
    if batch is None:
        texts.record_on_timeline(session, message=message, conversation=conversation)
    elif activity := texts.timeline_activity(message=message, conversation=conversation):
        batch.activities.append((conversation.workspace_id, activity))
    live.message_added(session, conversation, message)
    if not started:  # a conversation begun by this message has no followers yet
        followers.customer_wrote(session, conversation=conversation, message=message)
    conversation.last_message_at = now
    if not message.automatic:
        conversation.last_customer_message_at = now
        if conversation.status in ("resolved", "snoozed", "pending"):
            conversation.status = "open"
            conversation.snoozed_until = None
            conversation.resolved_at = None
    session.flush()
    return Received(conversation, message, created=True)


def _cut(text: str) -> tuple[str, str]:
    if len(text) > MAX_BODY:
        return text[:MAX_BODY], f"The text was cut at {MAX_BODY:,} characters."
    return text, ""


def receive_email(
    session: Session, *, inbox: CareInbox, mail: Inbound, now: datetime | None = None
) -> Received | None:
    """Take a customer's email into its conversation (see the module's threading rules).
    Returns None for an automatic message that answers no conversation: nobody is told."""
    existing = _by_message_id(session, inbox.workspace_id, storable(mail.provider_message_id)[:300])
    if existing is not None:
        return _again(session, existing)
    now = now or utcnow()
    automatic = is_automatic(mail.headers)
    first_time = _sender_unknown(session, inbox, mail)
    customer = _customer_of(session, inbox, mail)
    thread = thread_ids(mail)
    conversation = None
    # A profile made for this very message has no conversation to look for.
    if customer is not None and not first_time:
        conversation = _answered(session, inbox, customer, thread)
        if conversation is None:
            conversation = reply_address.conversation_for(
                session, inbox=inbox, customer_id=customer.id, headers=mail.headers
            )
        if conversation is not None and not automatic and not _reopenable(conversation, inbox, now):
            conversation = None  # too long after it was resolved: a new conversation
        if conversation is None:
            conversation = _same_subject(session, inbox, customer, mail.subject, now)
    contact = customer.email or "" if customer is not None else ""
    started = conversation is None
    if conversation is None:
        if automatic:
            return None
        conversation = _start(
            session, inbox, customer, subject=mail.subject, contact=contact, now=now
        )
    else:
        _customer_wrote(session, conversation, automatic=automatic, contact=contact, now=now)
    text, problem = _cut(mail.text or "")
    if customer is None:
        problem = f"The sender's address {mail.sender[:320]!r} is not one a reply can go to."
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
    received = _joined(session, conversation, message, now, started=started)
    save_inbound(session, message=message, files=mail.attachments)
    return received


def _again(session: Session, existing: ConversationMessage) -> Received:
    conversation = session.get(Conversation, existing.conversation_id)
    assert conversation is not None
    return Received(conversation, existing, created=False)


def receive_message(
    session: Session,
    *,
    inbox: CareInbox,
    customer: Customer | None,
    text: str,
    contact: str = "",
    channel_message_id: str = "",
    conversation: Conversation | None = None,
    subject: str = "",
    html: str = "",
    automatic: bool = False,
    problem: str = "",
    sent_at: datetime | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Received | None:
    """Take a customer's message on a conversational channel (chat, SMS, KakaoTalk, Naver
    TalkTalk, a social post) into their open conversation in ``inbox``, or a new one.

    ``contact`` is where a reply reaches the customer on this channel (a phone number, a
    TalkTalk user, a chat visitor); ``channel_message_id`` the channel's own id, by which a
    replayed delivery is stored once; ``conversation`` the one the customer wrote in, when the
    channel knows it (the chat widget does). Returns None for an automatic message that
    answers no conversation."""
    channel_id = storable(channel_message_id)[:300]
    existing = _by_message_id(session, inbox.workspace_id, channel_id)
    if existing is not None:
        return _again(session, existing)
    now = now or utcnow()
    if conversation is not None and (
        conversation.inbox_id != inbox.id
        or conversation.customer_id != (customer.id if customer is not None else None)
        or not _reopenable(conversation, inbox, now)
    ):
        conversation = None
    if conversation is None and customer is not None:
        conversation = _latest_open(session, inbox, customer, now)
    started = conversation is None
    if conversation is None:
        if automatic:
            return None
        conversation = _start(session, inbox, customer, subject=subject, contact=contact, now=now)
    else:
        _customer_wrote(session, conversation, automatic=automatic, contact=contact, now=now)
    body, cut = _cut(text or "")
    message = ConversationMessage(
        workspace_id=inbox.workspace_id,
        conversation_id=conversation.id,
        direction="in",
        author="customer",
        subject=storable(" ".join(subject.split()))[:300],
        body_text=storable(body),
        body_html=storable(safe_html(html[:MAX_BODY])) if html else "",
        channel_message_id=channel_id or None,
        automatic=automatic,
        problem=storable(problem or cut)[:2000],
        sent_at=sent_at,
        details=dict(details or {}),
        created_at=now,
    )
    return _joined(session, conversation, message, now, started=started)


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
    live.message_added(session, conversation, message)
    return message
