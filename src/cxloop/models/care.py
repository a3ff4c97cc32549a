"""Care: inboxes that take customers' messages in, conversations with one customer on one
channel, and the messages and notes in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

# The channels an inbox takes messages from. Conversational ones (all but email) thread by the
# customer's open conversation; "social", "review" and "phone" come in by webhook or import.
INBOX_CHANNELS = ("email", "chat", "sms", "kakao", "talktalk", "social", "review", "phone")
CONVERSATION_STATUSES = ("open", "pending", "snoozed", "resolved")  # what agents set
BOT_STATUS = "bot"  # the help bot answers; the team takes over on its handover
LISTED_STATUSES = (*CONVERSATION_STATUSES, BOT_STATUS)
PRIORITIES = ("urgent", "high", "normal", "low")
MESSAGE_DIRECTIONS = ("in", "out", "note")
MESSAGE_AUTHORS = ("customer", "agent", "bot", "system")


class CareInbox(Timestamped, Base):
    """Where messages of one channel arrive: a support address, its team, and the secret token
    its inbound webhook is called with (stored hashed)."""

    __tablename__ = "care_inboxes"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    address: Mapped[str] = mapped_column(String(320), default="")
    team: Mapped[str] = mapped_column(String(64), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    # A customer writing again within this many days of a resolution reopens the conversation;
    # later, it starts a new one.
    reopen_days: Mapped[int] = mapped_column(default=7)
    active: Mapped[bool] = mapped_column(default=True)
    # CSAT after an agent resolves a conversation: the workspace's survey sent, and whether on.
    csat_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    csat_survey_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveys.id", ondelete="SET NULL")
    )
    # The help bot answers a new conversation first (status "bot"): no SLA clock runs and
    # nobody is assigned until it hands the conversation over to the team.
    bot_answers_first: Mapped[bool] = mapped_column(default=False, server_default=false())


class CareTeamHours(Base):
    """A team's business hours ("" is the workspace's default): weekly hours in its time zone,
    Korean public holidays or not, its own closed days, and a manual open/closed override."""

    __tablename__ = "care_team_hours"
    __table_args__ = (UniqueConstraint("workspace_id", "team"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    team: Mapped[str] = mapped_column(String(64), default="")
    zone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    # Seven days, Monday first, each a list of [start, end] minutes from local midnight.
    weekly: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    public_holidays: Mapped[bool] = mapped_column(default=True)
    closed_days: Mapped[list[str]] = mapped_column(PortableJSON, default=list)  # ISO dates
    override_open: Mapped[bool | None]
    override_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlaPolicy(Base):
    """Response and resolution targets for a team's conversations ("" for every team without
    its own), counted in its business hours or on the wall clock."""

    __tablename__ = "care_sla_policies"
    __table_args__ = (UniqueConstraint("workspace_id", "team"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    team: Mapped[str] = mapped_column(String(64), default="")
    first_response_minutes: Mapped[int | None]
    next_response_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    business_hours: Mapped[bool] = mapped_column(default=True)
    # Members of the team are told this long before a target is missed.
    warn_minutes: Mapped[int] = mapped_column(default=30)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conversation(Timestamped, Base):
    """One customer's thread on one channel, worked by the team."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index(
            "ix_conversations_workspace_status_last", "workspace_id", "status", "last_message_at"
        ),
        Index("ix_conversations_customer", "customer_id", "workspace_id"),
        Index("ix_conversations_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("care_inboxes.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    subject: Mapped[str] = mapped_column(String(300), default="")
    # Where a reply reaches the customer on this channel: their email address, phone number,
    # TalkTalk user or chat visitor, as they last wrote from it.
    contact: Mapped[str] = mapped_column(String(320), default="", server_default="")
    team: Mapped[str] = mapped_column(String(64), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8), default="")
    tags: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    snoozed_until: Mapped[datetime | None]
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_customer_message_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # How often a customer (or an agent) reopened it after a resolution.
    reopened_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # SLA clocks: when each target falls due (None: no target, or not running), the targets
    # missed so far, and the warnings already given (so each is given once).
    first_response_due_at: Mapped[datetime | None]
    next_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_missed: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    sla_warned: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationMessage(Timestamped, Base):
    """A message in a conversation: the customer's, an agent's reply, or a private note.
    ``channel_message_id`` is the channel's own id (an email's Message-ID), by which replies
    find their conversation and a replayed delivery is stored once."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel_message_id"),
        Index("ix_conversation_messages_conversation", "conversation_id", "id"),
        # A reply found by the id its provider gave it (threading an answer to it).
        Index("ix_conversation_messages_outbound", "outbound_message_id"),
        Index("ix_conversation_messages_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    author: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    # Sanitised before it is stored: no script, no event handler, no remote-content trick.
    body_html: Mapped[str] = mapped_column(Text, default="")
    channel_message_id: Mapped[str | None] = mapped_column(String(300))
    # Email: the ids of the messages it answers (In-Reply-To first, then References).
    thread_ids: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    outbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL")
    )
    # An automatic message (auto-reply, out-of-office): shown, but it never reopens anything.
    automatic: Mapped[bool] = mapped_column(default=False)
    # Why a message could not be read whole (it is kept raw in ``raw`` then).
    problem: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sent_at: Mapped[datetime | None]


class CareMailbox(Timestamped, Base):
    """The IMAP mailbox an email inbox polls: where it is, how to sign in (the password sealed
    with the secret key), and how far it has read (the folder's UIDVALIDITY and the last UID
    stored), with the last error and when to try again after one."""

    __tablename__ = "care_mailboxes"
    __table_args__ = (UniqueConstraint("inbox_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("care_inboxes.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    security: Mapped[str] = mapped_column(String(16), default="ssl")  # ssl, starttls or none
    username: Mapped[str] = mapped_column(String(320))
    password_sealed: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    polled_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None]
    # A poller holds the mailbox until then, so two workers never read it at once.
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
