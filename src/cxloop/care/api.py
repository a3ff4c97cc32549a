"""REST API of care: inboxes (admins), conversations and their messages, replies, notes and
changes (agents); and the inbound email webhook an inbox's provider calls with raw mail."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Query, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import assignment, bulk, service, sla, views
from cxloop.care.attachments import attachments_by_message
from cxloop.care.inbound_mail import MAIL_SPOOL, accept_mail, mail_receipt
from cxloop.care.mail import new_text
from cxloop.care.replies_api import AttachmentOut, attachment_out
from cxloop.care.webhooks import webhook_path
from cxloop.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.ratelimit import RateLimiter
from cxloop.core.settings import Settings
from cxloop.core.spool import handle_now
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    CareInbox,
    CareTeamHours,
    Conversation,
    ConversationAttachment,
    ConversationMessage,
    SlaPolicy,
)

router = APIRouter(prefix="/api/v1/care", tags=["care"])
hooks = APIRouter(prefix="/hooks", tags=["care"])

ConversationId = Annotated[int, FastPath(ge=1, le=2**53, description="Conversation id")]
Status = Literal["open", "pending", "snoozed", "resolved", "bot"]  # "bot": the help bot answers
Priority = Literal["urgent", "high", "normal", "low"]
INBOUND_LIMIT = "600/minute"


class InboxIn(BaseModel):
    name: str = Field(max_length=200)
    channel: Literal["email", "talktalk", "social", "review", "phone"] = "email"
    address: str = Field(default="", max_length=320, description="The support address shown")
    team: str = Field(default="", max_length=64)
    reopen_days: int = Field(default=7, ge=0, le=365)


class InboxOut(BaseModel):
    id: int
    name: str
    channel: str
    address: str
    team: str
    reopen_days: int
    active: bool
    created_at: datetime
    csat_enabled: bool = Field(description="A CSAT survey goes out after an agent resolves")
    csat_survey_id: int | None


class NewInboxOut(InboxOut):
    webhook_path: str = Field(
        description="Where the channel posts (raw mail, TalkTalk events, signed social items); "
        "shown only this once; empty for a phone inbox"
    )


class ConversationOut(BaseModel):
    id: int
    inbox_id: int
    customer_id: int | None
    channel: str
    status: str
    priority: str
    subject: str
    team: str
    assignee_id: int | None
    tags: list[str]
    snoozed_until: datetime | None
    last_message_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    first_response_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla: dict[str, str] = Field(
        description="Each SLA target's state: active, at_risk, met or missed"
    )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    id: int
    direction: str = Field(description="in (the customer), out (a reply) or note (private)")
    author: str
    author_user_id: int | None
    subject: str
    text: str = Field(description="What its author wrote, without the quoted history")
    full_text: str
    html: str = Field(description="Sanitised HTML, when the message had any")
    automatic: bool
    problem: str = Field(description="Why the message could not be read whole; empty if it was")
    delivery: str | None = Field(description="The outbox status of a reply")
    created_at: datetime
    attachments: list[AttachmentOut] = Field(default_factory=list)
    mentions: list[int] = Field(default_factory=list, description="Members a note names")


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class TextIn(BaseModel):
    text: str = Field(max_length=50_000)
    attachment_ids: list[int] = Field(
        default_factory=list,
        max_length=200,
        description="Files uploaded to this conversation (POST …/attachments) to carry",
    )


class ConversationPatch(BaseModel):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: int | None = Field(default=None, description="A member's user id; null unassigns")
    snoozed_until: datetime | None = None
    tags: list[str] | None = Field(default=None, max_length=20)


def _inbox_out(inbox: CareInbox) -> dict[str, object]:
    return {name: getattr(inbox, name) for name in InboxOut.model_fields}


def _conversation_out(conversation: Conversation, warn: timedelta | None = None) -> ConversationOut:
    fields = {
        name: getattr(conversation, name) for name in ConversationOut.model_fields if name != "sla"
    }
    return ConversationOut(
        **fields, sla=sla.states(conversation, warn=warn or timedelta(minutes=30))
    )


def _messages_out(session: Session, messages: list[ConversationMessage]) -> list[MessageOut]:
    """The messages as the API shows them, each reply with its outbox status (one query)."""
    if not messages:
        return []
    delivery = views.delivery_statuses(
        session, workspace_id=messages[0].workspace_id, messages=messages
    )
    files = attachments_by_message(
        session, workspace_id=messages[0].workspace_id, message_ids=[m.id for m in messages]
    )
    return [_message_out(m, delivery.get(m.id), files.get(m.id, [])) for m in messages]


def _message_out(
    message: ConversationMessage, delivery: str | None, files: list[ConversationAttachment]
) -> MessageOut:
    return MessageOut(
        id=message.id,
        direction=message.direction,
        author=message.author,
        author_user_id=message.author_user_id,
        subject=message.subject,
        text=new_text(message.body_text) if message.direction == "in" else message.body_text,
        full_text=message.body_text or message.raw,
        html=message.body_html,
        automatic=message.automatic,
        problem=message.problem,
        delivery=delivery,
        created_at=message.created_at,
        attachments=[attachment_out(a) for a in files],
        mentions=list((message.details or {}).get("mentions", [])),
    )


def _conversation(session: Session, principal: Principal, conversation_id: int) -> Conversation:
    return service.get_conversation(
        session, workspace_id=principal.workspace_id, conversation_id=conversation_id
    )


def _detail(session: Session, conversation: Conversation) -> ConversationDetail:
    messages = service.messages_of(session, conversation=conversation, limit=500)
    return ConversationDetail(
        **_conversation_out(conversation).model_dump(),
        messages=_messages_out(session, messages),
    )


@router.post("/inboxes", response_model=NewInboxOut, status_code=201)
def create_inbox(body: InboxIn, principal: ApiPrincipal, session: DbSession) -> NewInboxOut:
    """Create an inbox; the reply holds its webhook path with the secret token, once."""
    require(principal, "care:manage")
    made = service.create_inbox(
        session,
        principal=principal,
        name=body.name,
        channel=body.channel,
        address=body.address,
        team=body.team,
        reopen_days=body.reopen_days,
    )
    return NewInboxOut(
        **_inbox_out(made.inbox), webhook_path=webhook_path(made.inbox.channel, made.token)
    )


@router.get("/inboxes", response_model=list[InboxOut])
def list_inboxes(principal: ApiPrincipal, session: DbSession) -> list[InboxOut]:
    """The workspace's inboxes (never their tokens)."""
    require(principal, "care:work")
    return [
        InboxOut(**_inbox_out(i))
        for i in service.list_inboxes(session, workspace_id=principal.workspace_id)
    ]


@router.get("/conversations", response_model=ConversationPage)
def list_conversations(
    principal: ApiPrincipal,
    session: DbSession,
    status: Status | None = None,
    inbox_id: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    assignee: Annotated[
        str | None, Query(max_length=20, description="me, none, or a member's user id")
    ] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    priority: Annotated[str | None, Query(max_length=16)] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    sla: Annotated[
        str | None, Query(max_length=16, description="missed, due_soon (within the hour), running")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words in the subject, a message, or the customer"),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationPage:
    """Conversations, the latest message first, with cursor pagination."""
    require(principal, "care:work")
    assignee_id: int | None = None
    if assignee == "me":
        if principal.user_id is None:
            raise ValidationFailed(
                "assignee=me needs a signed-in member; an API key is nobody's.",
                errors=[{"field": "assignee", "message": "no member behind an API key"}],
            )
        assignee_id = principal.user_id
    elif assignee not in (None, "none"):
        if not assignee.isascii() or not assignee.isdigit() or int(assignee) > 2**53:
            raise ValidationFailed(
                "assignee is me, none, or a member's user id.",
                errors=[{"field": "assignee", "message": "me, none or a user id"}],
            )
        assignee_id = int(assignee)
    filters = service.ConversationFilter(
        status=status,
        inbox_id=inbox_id,
        unassigned=assignee == "none",
        assignee_id=assignee_id,
        customer_id=customer_id,
        channel=channel,
        priority=priority,
        language=language,
        tag=tag,
        teams=(team,) if team is not None else None,
        sla=sla,
        search=q,
    )
    rows, next_cursor = service.list_conversations(
        session, workspace_id=principal.workspace_id, filters=filters, cursor=cursor, limit=limit
    )
    return ConversationPage(items=[_conversation_out(c) for c in rows], next_cursor=next_cursor)


class BulkIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**53)]] = Field(
        min_length=1, max_length=bulk.MAX_SELECTION
    )
    status: Literal["open", "pending", "resolved"] | None = None
    priority: Literal["urgent", "high", "normal", "low"] | None = None
    assignee: str | None = Field(
        default=None,
        max_length=20,
        description="me, none, or a member's user id; leave out to keep",
    )
    add_tag: str = Field(default="", max_length=64)
    remove_tag: str = Field(default="", max_length=64)


class BulkOut(BaseModel):
    changed: list[int]


@router.post("/conversations/bulk", response_model=BulkOut)
def bulk_change(body: BulkIn, principal: ApiPrincipal, session: DbSession) -> BulkOut:
    """One change to many conversations (all in this workspace, or none is changed)."""
    require(principal, "care:work")
    assign = body.assignee is not None
    assignee_id: int | None = None
    if body.assignee == "me":
        assignee_id = principal.user_id
    elif body.assignee not in (None, "none"):
        if not body.assignee.isascii() or not body.assignee.isdigit() or int(body.assignee) > 2**53:
            raise ValidationFailed(
                "assignee is me, none, or a member's user id.",
                errors=[{"field": "assignee", "message": "me, none or a user id"}],
            )
        assignee_id = int(body.assignee)
    changed = bulk.apply(
        session,
        principal=principal,
        ids=body.ids,
        change=bulk.BulkChange(
            status=body.status,
            priority=body.priority,
            assign=assign,
            assignee_id=assignee_id,
            add_tag=body.add_tag,
            remove_tag=body.remove_tag,
        ),
    )
    return BulkOut(changed=[c.id for c in changed])


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def get_conversation(
    conversation_id: ConversationId, principal: ApiPrincipal, session: DbSession
) -> ConversationDetail:
    """A conversation with its messages and notes, oldest first."""
    require(principal, "care:work")
    return _detail(session, _conversation(session, principal, conversation_id))


@router.post("/conversations/{conversation_id}/replies", response_model=MessageOut, status_code=201)
def reply(
    conversation_id: ConversationId, body: TextIn, principal: ApiPrincipal, session: DbSession
) -> MessageOut:
    """Reply to the customer (by email, threaded under their latest message)."""
    require(principal, "care:work")
    conversation = _conversation(session, principal, conversation_id)
    message = service.reply(
        session,
        conversation=conversation,
        principal=principal,
        text=body.text,
        attachment_ids=body.attachment_ids,
    )
    return _messages_out(session, [message])[0]


@router.post("/conversations/{conversation_id}/notes", response_model=MessageOut, status_code=201)
def add_note(
    conversation_id: ConversationId, body: TextIn, principal: ApiPrincipal, session: DbSession
) -> MessageOut:
    """A private note for the team."""
    require(principal, "care:work")
    conversation = _conversation(session, principal, conversation_id)
    note = service.add_note(
        session,
        conversation=conversation,
        principal=principal,
        text=body.text,
        attachment_ids=body.attachment_ids,
    )
    return _messages_out(session, [note])[0]


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
def update_conversation(
    conversation_id: ConversationId,
    body: ConversationPatch,
    principal: ApiPrincipal,
    session: DbSession,
) -> ConversationOut:
    """Change status (snoozed needs snoozed_until), priority, assignee or tags."""
    require(principal, "care:work")
    conversation = _conversation(session, principal, conversation_id)
    changes = body.model_dump(exclude_unset=True)
    before = conversation.assignee_id
    service.update_conversation(
        session,
        conversation=conversation,
        status=changes.get("status"),
        priority=changes.get("priority"),
        snoozed_until=changes.get("snoozed_until"),
        tags=changes.get("tags"),
        actor_id=principal.user_id,
        **({"assignee_id": changes["assignee_id"]} if "assignee_id" in changes else {}),
    )
    if conversation.assignee_id != before:
        assignment.tell_assigned(
            session,
            conversation=conversation,
            assignee_id=conversation.assignee_id,
            by_user_id=principal.user_id,
        )
    return _conversation_out(conversation)


class InboundOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    id: str = Field(description="The name the message is kept under until it is taken in")


@hooks.post(
    "/email/{token}",
    response_model=InboundOut,
    status_code=202,
    openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}}}},
)
def inbound_email(
    token: Annotated[str, FastPath(max_length=200)],
    request: Request,
    background: BackgroundTasks,
    payload: Annotated[bytes, Body(media_type="message/rfc822")] = b"",
) -> InboundOut:
    """Accept one raw RFC 822 message for the inbox whose secret token is in the path (what mail
    providers' inbound webhooks send). A wrong token is 401 and nothing is kept. The message is
    kept on the disk and taken in right after the answer: a person's message joins its
    conversation, a message that cannot be read is kept raw with the reason, never dropped,
    and a delivery status report updates the outbox instead."""
    limiter: RateLimiter = request.app.state.rate_limiter
    database = database_of(request)
    settings: Settings = request.app.state.settings
    # Only read: the answer never waits for another request's write (SQLite's lock).
    inbox_id = service.inbox_id_for_token(database, token=token)
    if inbox_id is None:
        raise AuthenticationFailed("Unknown inbox token.")
    limiter.check(
        INBOUND_LIMIT, "care-inbound", str(inbox_id), detail="Too much mail for this inbox."
    )
    name = accept_mail(settings, inbox_id=inbox_id, raw=payload)
    background.add_task(handle_now, database, settings, MAIL_SPOOL, name)
    return InboundOut(id=name)


class ReceiptOut(BaseModel):
    id: str
    status: Literal[
        "waiting", "stored", "duplicate", "delivery_report", "automatic", "unreadable"
    ] = Field(description="waiting: accepted, not taken in yet; else what became of the mail")
    conversation_id: int | None = None
    message_id: int | None = None


@hooks.get("/email/{token}/{name}", response_model=ReceiptOut)
def inbound_email_receipt(
    token: Annotated[str, FastPath(max_length=200)],
    name: Annotated[str, FastPath(max_length=96)],
    request: Request,
) -> ReceiptOut:
    """What became of a mail this inbox's webhook accepted (its answer's ``id``), for a month."""
    database = database_of(request)
    with database.read_session() as session:
        inbox = service.inbox_for_token(session, token=token)
        if inbox is None:
            raise AuthenticationFailed("Unknown inbox token.")
        inbox_id = inbox.id
    receipt = mail_receipt(database, request.app.state.settings, inbox_id=inbox_id, name=name)
    if receipt is None:
        raise NotFound("This inbox accepted no mail by that id (receipts are kept a month).")
    if receipt == "waiting":
        return ReceiptOut(id=name, status="waiting")
    return ReceiptOut(
        id=name,
        status=receipt.status,
        conversation_id=receipt.conversation_id,
        message_id=receipt.message_id,
    )


# --- SLA policies and business hours (admins) -----------------------------------------------------

TeamQuery = Annotated[str, Query(max_length=64, description='The team; "" for the default')]


class PolicyIn(BaseModel):
    first_response_minutes: int | None = Field(default=None, ge=1, le=sla.MAX_TARGET_MINUTES)
    next_response_minutes: int | None = Field(default=None, ge=1, le=sla.MAX_TARGET_MINUTES)
    resolution_minutes: int | None = Field(default=None, ge=1, le=sla.MAX_TARGET_MINUTES)
    business_hours: bool = Field(default=True, description="Count business hours, not the clock")
    warn_minutes: int = Field(default=30, ge=0, le=1440)


class PolicyOut(PolicyIn):
    team: str


class HoursIn(BaseModel):
    zone: str = Field(default="Asia/Seoul", max_length=64)
    weekly: list[list[list[int]]] = Field(
        description="Seven days, Monday first: [[start, end], …] minutes from local midnight",
        min_length=7,
        max_length=7,
    )
    public_holidays: bool = Field(default=True, description="Closed on Korean public holidays")
    closed_days: list[date] = Field(default_factory=list, max_length=366)


class HoursOut(HoursIn):
    team: str
    open_now: bool
    override_open: bool | None
    override_until: datetime | None


class OverrideIn(BaseModel):
    open: bool | None = Field(description="true: open now, false: closed now, null: as scheduled")


def _policy_out(policy: SlaPolicy) -> PolicyOut:
    return PolicyOut(**{name: getattr(policy, name) for name in PolicyOut.model_fields})


def _hours_out(hours: CareTeamHours) -> HoursOut:
    calendar = sla.calendar_of(hours)
    return HoursOut(
        team=hours.team,
        zone=hours.zone,
        weekly=hours.weekly,
        public_holidays=hours.public_holidays,
        closed_days=[date.fromisoformat(d) for d in hours.closed_days],
        open_now=calendar.is_open(utcnow()),
        override_open=hours.override_open,
        override_until=calendar.override_until(),
    )


@router.put("/sla", response_model=PolicyOut)
def set_policy(
    body: PolicyIn, principal: ApiPrincipal, session: DbSession, team: TeamQuery = ""
) -> PolicyOut:
    """Set a team's SLA targets (the default policy with team ""); conversations started from
    now on run to them."""
    require(principal, "care:manage")
    policy = sla.set_policy(
        session,
        workspace_id=principal.workspace_id,
        team=team,
        principal=principal,
        **body.model_dump(),
    )
    return _policy_out(policy)


@router.put("/business-hours", response_model=HoursOut)
def set_hours(
    body: HoursIn, principal: ApiPrincipal, session: DbSession, team: TeamQuery = ""
) -> HoursOut:
    """Set a team's business hours (the default with team "")."""
    require(principal, "care:manage")
    hours = sla.set_hours(
        session,
        workspace_id=principal.workspace_id,
        team=team,
        principal=principal,
        **body.model_dump(),
    )
    return _hours_out(hours)


@router.get("/business-hours", response_model=HoursOut)
def get_hours(principal: ApiPrincipal, session: DbSession, team: TeamQuery = "") -> HoursOut:
    """A team's business hours (or the default's), whether it is open now and any override."""
    require(principal, "care:work")
    hours = sla.hours_for(session, workspace_id=principal.workspace_id, team=team)
    if hours is None:  # the defaults, not stored
        hours = CareTeamHours(
            team="",
            zone="Asia/Seoul",
            weekly=sla.OFFICE_WEEK,
            public_holidays=True,
            closed_days=[],
            override_open=None,
        )
    return _hours_out(hours)


@router.post("/business-hours/override", response_model=HoursOut)
def override_hours(
    body: OverrideIn, principal: ApiPrincipal, session: DbSession, team: TeamQuery = ""
) -> HoursOut:
    """Open or close a team now, until its schedule next changes (null lifts it)."""
    require(principal, "care:manage")
    hours = sla.set_override(
        session,
        workspace_id=principal.workspace_id,
        team=team,
        open_now=body.open,
        principal=principal,
    )
    return _hours_out(hours)
