"""The web chat: a visitor of the shop's site writes to the team in the chat widget, and agents
answer from the inbox.

Who the visitor is: the profile of their verified user id (the shop's server signs it, see
accounts.widget_identity) or of the anonymous id the analytics snippet gave them, so the chat
continues the same profile as their events (events.visitors). An anonymous id that already
names a person reaches no profile without the signed user id; such a visitor chats under a fresh
anonymous id instead, so nobody reads another person's conversations by copying an id.

A visitor session is a signed token (workspace, inbox, profile; 30 days) the widget keeps and
sends with each call; it is the only way to a conversation's messages from outside, and it
never shows private notes.

Out of business hours the widget asks for a way to answer (name, email or phone) with the
message; the conversation is taken all the same and the contact is kept on the message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import sla
from cxloop.care.intake import Received, receive_message
from cxloop.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.events.visitors import widget_visitor
from cxloop.models import CareInbox, Conversation, ConversationMessage, Customer, Workspace
from cxloop.profiles.activity import survivor_of
from cxloop.profiles.contact import normalise_email, normalise_phone

TOKEN_SALT = "cxloop.care.chat-visitor"  # noqa: S105  (a salt naming the use, not a secret)
TOKEN_DAYS = 30
MAX_TEXT = 5_000
MAX_CLIENT_ID = 64
HISTORY = 100  # messages of the latest conversation the widget shows


@dataclass(frozen=True)
class Visitor:
    workspace_id: int
    inbox_id: int
    customer_id: int
    anonymous_id: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # The first key signs; every listed key still verifies (the server's key can be rotated).
    return URLSafeTimedSerializer(list(reversed(settings.secret_keys())), salt=TOKEN_SALT)


def visitor_token(visitor: Visitor, *, settings: Settings) -> str:
    return _serializer(settings).dumps(
        [visitor.workspace_id, visitor.inbox_id, visitor.customer_id, visitor.anonymous_id]
    )


def read_visitor_token(token: str, *, settings: Settings) -> Visitor:
    """The visitor a token stands for; AuthenticationFailed when it is forged or too old."""
    if not token or len(token) > 600:
        raise AuthenticationFailed("Send the chat session's token.")
    try:
        workspace_id, inbox_id, customer_id, anonymous_id = _serializer(settings).loads(
            token, max_age=TOKEN_DAYS * 86400
        )
    except (BadSignature, ValueError, TypeError):
        raise AuthenticationFailed("The chat session has ended; open the chat again.") from None
    return Visitor(int(workspace_id), int(inbox_id), int(customer_id), str(anonymous_id))


def chat_inbox(session: Session, *, workspace_id: int, inbox_id: int) -> CareInbox:
    """The workspace's active chat inbox ``inbox_id``; NotFound for any other."""
    inbox = session.scalar(
        select(CareInbox).where(
            CareInbox.id == inbox_id,
            CareInbox.workspace_id == workspace_id,
            CareInbox.channel == "chat",
            CareInbox.active.is_(True),
        )
    )
    if inbox is None:
        raise NotFound("No such chat inbox.")
    return inbox


def open_visitor(
    session: Session,
    *,
    workspace: Workspace,
    inbox: CareInbox,
    anonymous_id: str | None,
    verified_user_id: str | None,
    resume: Visitor | None = None,
) -> Visitor:
    """The visitor a widget speaks for: the session it resumes (when it is this inbox's and the
    page has not since signed in someone else), else the profile of the verified user id or
    the anonymous id, else a fresh anonymous visitor."""
    if resume is not None and resume.inbox_id == inbox.id:
        customer = _current(session, resume.workspace_id, resume.customer_id)
        if customer is not None and (
            verified_user_id is None or _has_user_id(session, customer, verified_user_id)
        ):
            return Visitor(workspace.id, inbox.id, customer.id, resume.anonymous_id)
    anonymous = (anonymous_id or "").strip()[:320] or None
    customer = widget_visitor(
        session, workspace=workspace, anonymous_id=anonymous, user_id=verified_user_id
    )
    if customer is None:
        # The anonymous id names a person the page has not vouched for: chat apart from it.
        anonymous = f"chat-{uuid.uuid4()}"
        customer = widget_visitor(
            session, workspace=workspace, anonymous_id=anonymous, user_id=None
        )
    if customer is None:
        raise ValidationFailed("The visitor could not be recognised; reload the page.")
    customer = survivor_of(session, customer) or customer
    return Visitor(workspace.id, inbox.id, customer.id, anonymous or "")


def _current(session: Session, workspace_id: int, customer_id: int) -> Customer | None:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.workspace_id != workspace_id:
        return None
    customer = survivor_of(session, customer) or customer
    return None if customer.erased_at is not None else customer


def _has_user_id(session: Session, customer: Customer, user_id: str) -> bool:
    from cxloop.profiles.service import find_customer

    found = find_customer(
        session, workspace_id=customer.workspace_id, kind="user_id", value=user_id
    )
    return found is not None and found.id == customer.id


def customer_of(session: Session, visitor: Visitor) -> Customer:
    customer = _current(session, visitor.workspace_id, visitor.customer_id)
    if customer is None:
        raise AuthenticationFailed("The chat session has ended; open the chat again.")
    return customer


def is_open(session: Session, inbox: CareInbox, *, now: datetime | None = None) -> bool:
    """Whether the inbox's team is at work now (its business hours, holidays, override)."""
    calendar = sla.calendar_of(
        sla.hours_for(session, workspace_id=inbox.workspace_id, team=inbox.team)
    )
    return calendar.is_open(now or utcnow())


def latest_conversation(
    session: Session, inbox: CareInbox, customer: Customer
) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == inbox.workspace_id,
            Conversation.inbox_id == inbox.id,
            Conversation.customer_id == customer.id,
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )


def visible_messages(
    session: Session, conversation: Conversation | None, *, after: int = 0
) -> list[ConversationMessage]:
    """What the widget shows of a conversation: the customer's, agents' and the bot's messages,
    oldest first, never a private note or a system line."""
    if conversation is None:
        return []
    rows = session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.workspace_id == conversation.workspace_id,
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.direction.in_(("in", "out")),
            ConversationMessage.id > after,
        )
        .order_by(ConversationMessage.id.desc())
        .limit(HISTORY)
    )
    return list(reversed(list(rows)))


@dataclass(frozen=True)
class LeftContact:
    """How to answer a visitor who wrote out of hours."""

    name: str = ""
    email: str = ""
    phone: str = ""

    def as_details(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("name", self.name), ("email", self.email), ("phone", self.phone))
            if v
        }


def left_contact(name: str, email: str, phone: str) -> LeftContact:
    """The contact a visitor left, checked; ValidationFailed naming the field that is wrong."""
    clean_email = ""
    if email.strip():
        clean_email = normalise_email(email) or ""
        if not clean_email:
            raise ValidationFailed(
                "The email address is not valid.",
                errors=[{"field": "email", "message": "not a valid email address"}],
            )
    clean_phone = ""
    if phone.strip():
        clean_phone = normalise_phone(phone) or ""
        if not clean_phone:
            raise ValidationFailed(
                "The phone number is not valid.",
                errors=[{"field": "phone", "message": "not a valid phone number"}],
            )
    return LeftContact(" ".join(name.split())[:100], clean_email, clean_phone)


def post_message(
    session: Session,
    *,
    visitor: Visitor,
    inbox: CareInbox,
    text: str,
    client_id: str,
    contact: LeftContact | None = None,
    now: datetime | None = None,
) -> Received:
    """The visitor's message into their open conversation (or a new one). ``client_id`` is the
    widget's own id for the message: sending it again (a retry after a lost answer) stores it
    once."""
    body = (text or "").strip()
    if not body:
        raise ValidationFailed(
            "A message needs some text.", errors=[{"field": "text", "message": "empty"}]
        )
    if len(body) > MAX_TEXT:
        raise ValidationFailed(
            f"A message is at most {MAX_TEXT:,} characters.",
            errors=[{"field": "text", "message": f"at most {MAX_TEXT:,} characters"}],
        )
    client = (client_id or "").strip()
    if not 8 <= len(client) <= MAX_CLIENT_ID:
        raise ValidationFailed(
            "clientId must be 8 to 64 characters (the widget's id for the message).",
            errors=[{"field": "clientId", "message": "8 to 64 characters"}],
        )
    customer = customer_of(session, visitor)
    details = {"left_contact": contact.as_details()} if contact and contact.as_details() else {}
    received = receive_message(
        session,
        inbox=inbox,
        customer=customer,
        text=body,
        contact=f"visitor:{visitor.anonymous_id}"
        if visitor.anonymous_id
        else f"customer:{customer.id}",
        channel_message_id=f"chat:{customer.id}:{client}",
        details=details,
        now=now,
    )
    assert received is not None  # a visitor's message is never automatic
    return received
