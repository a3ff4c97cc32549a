"""Care's channel webhooks and imports: Naver TalkTalk's partner webhook and the signed social
webhook, each at an inbox's secret address; importing social posts, reviews and calls into an
inbox (admins); logging a call (agents); and a social inbox's signing secret (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as FastPath
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.accounts.service import record_audit
from cxloop.care import imports, service, social, talktalk
from cxloop.care import phone as calls
from cxloop.care.social import ItemError
from cxloop.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from cxloop.core.ratelimit import RateLimiter
from cxloop.core.settings import Settings
from cxloop.models import CareInbox, Customer, Workspace
from cxloop.profiles.consent import zone_named

router = APIRouter(tags=["care"])

Token = Annotated[str, FastPath(max_length=200, description="The inbox's webhook token")]
InboxId = Annotated[int, FastPath(ge=1, le=2**31, description="Inbox id")]
# Per inbox. A TalkTalk chat makes several events per message (send, echo, open, …), and
# TalkTalk does not send an event again once it was refused.
HOOK_LIMITS = {"talktalk": "6000/minute", "social": "600/minute", "review": "600/minute"}
# What the providers post, refused with 413 before it is read (see app.body_rules).
MAX_TALKTALK_BYTES = 64 * 1024
MAX_SOCIAL_BYTES = 1024 * 1024
RESULT_HEADER = "X-Cxloop-Result"


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _hook_inbox(
    session: Session, request: Request, token: str, channels: tuple[str, ...]
) -> CareInbox:
    """The inbox of a webhook token, if it is one of ``channels`` (401 otherwise, before
    anything is read); then the inbox's rate limit."""
    inbox = service.inbox_for_token(session, token=token)
    if inbox is None or inbox.channel not in channels:
        raise AuthenticationFailed("Unknown inbox token.")
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(
        HOOK_LIMITS[inbox.channel],
        "care-hook",
        str(inbox.id),
        detail="Too many calls for this inbox.",
    )
    return inbox


def _json(description: str) -> dict[str, object]:
    return {
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "required": True,
            "description": description,
        }
    }


@router.post(
    "/hooks/naver-talktalk/{token}",
    status_code=200,
    response_class=Response,
    openapi_extra=_json("One TalkTalk chat bot webhook event (open, send, echo, handover, …)"),
    responses={200: {"description": "Taken (the event is stored); empty body"}},
)
def talktalk_webhook(
    token: Token, request: Request, session: DbSession, payload: RawBody
) -> Response:
    """Naver TalkTalk's partner webhook for a TalkTalk inbox (enter this address as the
    chat bot API's webhook). Answers 200 with an empty body once the event is stored — an
    empty body, because TalkTalk would send a JSON answer to the user; ``X-Cxloop-Result``
    says what became of it. 401 for an address cxloop did not give out."""
    inbox = _hook_inbox(session, request, token, ("talktalk",))
    taken = talktalk.take_event(session, inbox=inbox, payload=payload)
    return Response(status_code=200, headers={RESULT_HEADER: taken.outcome})


class ItemOut(BaseModel):
    id: str
    status: Literal["stored", "duplicate", "unreadable"]
    conversation_id: int | None
    message_id: int | None
    error: str = Field(description="Why an unreadable item could not be taken")


class SocialOut(BaseModel):
    items: list[ItemOut]


def _zone_of(session: Session, workspace_id: int) -> ZoneInfo:
    workspace = session.get(Workspace, workspace_id)
    return zone_named(workspace.timezone if workspace else None)


@router.post(
    "/hooks/social/{token}",
    response_model=SocialOut,
    openapi_extra=_json("A social item, a list of them, or {items: [...]}"),
)
def social_webhook(
    token: Token, request: Request, session: DbSession, payload: RawBody
) -> SocialOut:
    """Mentions and comments (social inbox) or reviews (review inbox), signed with the inbox's
    secret: ``X-Cxloop-Timestamp`` (Unix seconds, within 5 minutes) and ``X-Cxloop-Signature:
    sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``. 401 and nothing stored for a wrong
    address or signature; an item already taken is a duplicate; one that cannot be read is
    kept raw for the agents with the reason."""
    inbox = _hook_inbox(session, request, token, ("social", "review"))
    social.verify(inbox, headers=request.headers, body=payload, settings=_settings(request))
    zone = _zone_of(session, inbox.workspace_id)
    results = social.take_webhook(session, inbox=inbox, payload=payload, zone=zone)
    return SocialOut(items=[ItemOut(**vars(r)) for r in results])


# --- admins and agents ---------------------------------------------------------------------------


def _inbox(session: Session, workspace_id: int, inbox_id: int) -> CareInbox:
    inbox = session.get(CareInbox, inbox_id)
    if inbox is None or inbox.workspace_id != workspace_id:
        raise NotFound(f"No inbox with id {inbox_id} in this workspace.")
    return inbox


class RowErrorOut(BaseModel):
    line: int = Field(description="The CSV line, or the item's position in a JSON list")
    reason: str


class ImportOut(BaseModel):
    rows: int
    created: int
    duplicates: int = Field(description="Items taken before (matched by their id)")
    errors: list[RowErrorOut] = Field(description="Rows not taken (the first 200)")


@router.post(
    "/api/v1/care/inboxes/{inbox_id}/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
            "required": True,
        }
    },
)
def import_items(
    inbox_id: InboxId,
    request: Request,
    principal: ApiPrincipal,
    session: DbSession,
    payload: RawBody,
) -> ImportOut:
    """Import social posts and reviews (social or review inbox) or calls (phone inbox) from
    the CSV or JSON body (see the README for the columns); each row alone, a bad one reported
    with its line and reason, an item already taken counted as a duplicate. At most 10,000
    rows. Audited."""
    require(principal, "care:manage")
    inbox = _inbox(session, principal.workspace_id, inbox_id)
    fmt = imports.format_of("", request.headers.get("content-type", ""))
    rows = imports.read_rows(payload, fmt=fmt)
    report = imports.import_rows(session, inbox=inbox, rows=rows)
    imports.record_import(session, principal=principal, inbox=inbox, report=report, source="api")
    return ImportOut.model_validate(imports.report_json(report))


class CallIn(BaseModel):
    inbox_id: int = Field(ge=1, le=2**31, description="A phone inbox")
    customer_id: int | None = Field(default=None, ge=1, le=2**53, description="Else by phone")
    call_id: str = Field(min_length=1, max_length=200, description="Logged once per call id")
    phone: str = Field(default="", max_length=40)
    started_at: datetime
    duration: int = Field(ge=0, le=calls.MAX_DURATION, description="Seconds")
    direction: Literal["in", "out"] = "in"
    notes: str = Field(default="", max_length=calls.MAX_NOTES)
    outcome: Literal["resolved", "follow_up", "no_answer", "voicemail"] = "follow_up"


class CallOut(BaseModel):
    status: Literal["stored", "duplicate"]
    conversation_id: int
    message_id: int


@router.post("/api/v1/care/calls", response_model=CallOut, status_code=201)
def log_call(body: CallIn, principal: ApiPrincipal, session: DbSession) -> CallOut:
    """Log a call with a customer (by id, or found by the phone number) in a phone inbox,
    taken or placed by the member calling the API."""
    require(principal, "care:work")
    inbox = _inbox(session, principal.workspace_id, body.inbox_id)
    customer = None
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.workspace_id != principal.workspace_id:
            raise NotFound(f"No customer with id {body.customer_id} in this workspace.")
    raw = body.model_dump(mode="json", exclude={"inbox_id", "customer_id"})
    try:
        call = calls.parse_call(
            {**raw, "duration": str(body.duration)},
            zone=_zone_of(session, principal.workspace_id),
            phone_required=customer is None,
        )
        received = calls.log_call(
            session, inbox=inbox, call=call, customer=customer, agent_id=principal.user_id
        )
    except ItemError as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "body", "message": str(exc)}]) from None
    return CallOut(
        status="stored" if received.created else "duplicate",
        conversation_id=received.conversation.id,
        message_id=received.message.id,
    )


class SigningSecretOut(BaseModel):
    webhook: str = Field(description="The path the webhook posts to (without its token)")
    signing_secret: str


@router.get("/api/v1/care/inboxes/{inbox_id}/signing-secret", response_model=SigningSecretOut)
def signing_secret(
    inbox_id: InboxId, request: Request, principal: ApiPrincipal, session: DbSession
) -> SigningSecretOut:
    """The secret a social or review inbox's webhook calls are signed with (it changes with
    the inbox's token and the server's secret key). Audited."""
    require(principal, "care:manage")
    inbox = _inbox(session, principal.workspace_id, inbox_id)
    if inbox.channel not in social.INBOX_KINDS:
        raise NotFound("Only social and review inboxes have a signing secret.")
    record_audit(
        session,
        principal=principal,
        action="care.signing_secret_view",
        target_type="care_inbox",
        target_id=inbox.id,
    )
    return SigningSecretOut(
        webhook="/hooks/social/{token}",
        signing_secret=social.signing_secret(inbox, _settings(request)),
    )
