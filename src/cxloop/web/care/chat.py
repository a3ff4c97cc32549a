"""The chat widget's script (``/chat/widget.js``) and the calls it makes, open to every origin:

- ``POST /chat/v1/session`` — start or resume a visitor's chat (write key, chat inbox, the
  anonymous id of the analytics snippet, the shop's signed user id if any): a visitor token,
  whether the team is at work, and the latest conversation's messages;
- ``GET /chat/v1/messages?after=ID`` and ``POST /chat/v1/messages`` — read and write (the
  visitor token as ``Authorization: Bearer``);
- ``POST /chat/v1/typing`` — the visitor is typing;
- ``POST /chat/v1/read`` — the visitor has seen the team's messages up to ``upTo``;
- ``GET /chat/v1/stream?token=…`` — server-sent events: agents' replies and typing, live.

Embed: ``<script src="https://cxloop.example/chat/widget.js" data-write-key="WK"
data-inbox="ID" async></script>`` (optional ``data-user-id`` with ``data-user-hash``).

Every call counts against the client address's limit, and messages also against the
visitor's own; sizes are checked before anything is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.dependencies import workspace_for_write_key
from cxloop.care import chat, chat_receipts
from cxloop.care import live as care_live
from cxloop.core import live
from cxloop.core.errors import AuthenticationFailed, CxloopError, ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.i18n import gettext, normalise_locale
from cxloop.core.ratelimit import RateLimiter
from cxloop.core.settings import Settings
from cxloop.models import ConversationMessage
from cxloop.web.widgets import (
    CORS,
    limit_client,
    script_response,
    verified_user_id,
    widget_answer,
    widget_body,
    widget_problem,
)

router = APIRouter(include_in_schema=False)

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "chat-widget.js"
CLIENT_LIMIT = "240 per minute"  # every call of one client address
MESSAGE_LIMIT = "30 per minute"  # messages of one visitor
TYPING_LIMIT = "30 per minute"
READ_LIMIT = "30 per minute"
MAX_JSON = 16_384  # bytes of a call's body
STREAM_WAIT = 15.0  # seconds between keep-alive comments on a quiet stream
LABELS = (
    "title",
    "placeholder",
    "send",
    "open",
    "closed",
    "offline_intro",
    "name",
    "email",
    "phone",
    "typing",
    "you",
    "team",
    "failed",
    "close",
    "launcher",
)


class SessionIn(BaseModel):
    write_key: str = Field(alias="writeKey", min_length=1, max_length=200)
    inbox: int = Field(ge=1, lt=2**53)
    anonymous_id: str | None = Field(default=None, alias="anonymousId", max_length=320)
    user_id: str | None = Field(default=None, alias="userId", max_length=320)
    user_hash: str | None = Field(default=None, alias="userHash", max_length=200)
    token: str | None = Field(default=None, max_length=600)
    locale: str | None = Field(default=None, max_length=35)


class ReadIn(BaseModel):
    up_to: int = Field(alias="upTo", ge=1, lt=2**53)


class MessageIn(BaseModel):
    text: str = Field(max_length=chat.MAX_TEXT * 2)
    client_id: str = Field(alias="clientId", max_length=chat.MAX_CLIENT_ID)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=40)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    return await widget_body(request, model, limit=MAX_JSON, what="chat")


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query_params.get("token", "")


def _visitor(request: Request) -> chat.Visitor:
    settings: Settings = request.app.state.settings
    return chat.read_visitor_token(_token(request), settings=settings)


def _messages(rows: list[ConversationMessage]) -> list[dict[str, Any]]:
    return [care_live.visitor_message(m) for m in rows]


@router.get("/chat/widget.js")
def chat_script() -> Response:
    return script_response(SCRIPT.read_bytes())


@router.options("/chat/v1/{path:path}")
def preflight(path: str) -> Response:
    """CORS preflight: write keys are public, so any origin may call."""
    return Response(status_code=204, headers=CORS)


async def _answer(request: Request, work: Any, status: int = 200) -> Response:
    return await widget_answer(request, work, rule=CLIENT_LIMIT, name="chat-client", status=status)


@router.post("/chat/v1/session")
async def start_session(request: Request) -> Response:
    """Start or resume the visitor's chat."""
    settings: Settings = request.app.state.settings
    database = database_of(request)
    try:
        body: SessionIn = await _body(request, SessionIn)
    except CxloopError as exc:
        return widget_problem(request, exc)

    def work() -> dict[str, Any]:
        resume = None
        if body.token:
            try:
                resume = chat.read_visitor_token(body.token, settings=settings)
            except AuthenticationFailed:
                resume = None  # an old session: start a new one
        with database.session() as session:
            _key, workspace = workspace_for_write_key(session, body.write_key)
            inbox = chat.chat_inbox(session, workspace_id=workspace.id, inbox_id=body.inbox)
            user_id = verified_user_id(request, workspace, body.user_id, body.user_hash)
            visitor = chat.open_visitor(
                session,
                workspace=workspace,
                inbox=inbox,
                anonymous_id=body.anonymous_id,
                verified_user_id=user_id,
                resume=resume,
            )
            customer = chat.customer_of(session, visitor)
            conversation = chat.latest_conversation(session, inbox, customer)
            lang = normalise_locale(body.locale or customer.locale)
            return {
                "token": chat.visitor_token(visitor, settings=settings),
                "verified": user_id is not None,
                "open": chat.is_open(session, inbox),
                "conversation": conversation.id if conversation else None,
                "messages": _messages(chat.visible_messages(session, conversation)),
                "lang": lang,
                "labels": {k: gettext(lang, f"chat.widget.{k}") for k in LABELS},
                "inbox": inbox.name,
            }

    return await _answer(request, work)


@router.get("/chat/v1/messages")
async def read_messages(request: Request) -> Response:
    """The visitor's latest conversation's messages after ``after`` (to catch up after a
    reconnect)."""
    database = database_of(request)
    after = request.query_params.get("after", "0")

    def work() -> dict[str, Any]:
        if not after.isdigit() or len(after) > 16:
            raise ValidationFailed(
                "after must be a message id.", errors=[{"field": "after", "message": "not an id"}]
            )
        visitor = _visitor(request)
        with database.session(write_on_demand=True) as session:
            inbox = chat.chat_inbox(
                session, workspace_id=visitor.workspace_id, inbox_id=visitor.inbox_id
            )
            customer = chat.customer_of(session, visitor)
            conversation = chat.latest_conversation(session, inbox, customer)
            rows = chat.visible_messages(session, conversation, after=int(after))
            return {
                "conversation": conversation.id if conversation else None,
                "messages": _messages(rows),
            }

    return await _answer(request, work)


@router.post("/chat/v1/messages")
async def send_message(request: Request) -> Response:
    """The visitor's message (with a way to answer them, out of hours)."""
    database = database_of(request)
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        body: MessageIn = await _body(request, MessageIn)
    except CxloopError as exc:
        return widget_problem(request, exc)

    def work() -> dict[str, Any]:
        visitor = _visitor(request)
        limiter.check(
            MESSAGE_LIMIT,
            "chat-visitor",
            str(visitor.customer_id),
            detail="Too many messages; wait a moment.",
        )
        contact = chat.left_contact(body.name, body.email, body.phone)
        with database.session() as session:
            inbox = chat.chat_inbox(
                session, workspace_id=visitor.workspace_id, inbox_id=visitor.inbox_id
            )
            received = chat.post_message(
                session,
                visitor=visitor,
                inbox=inbox,
                text=body.text,
                client_id=body.client_id,
                contact=contact,
            )
            if received.conversation.customer_id != chat.customer_of(session, visitor).id:
                raise ValidationFailed("clientId is taken; send a new one.")
            return {
                "conversation": received.conversation.id,
                "message": care_live.visitor_message(received.message),
                "duplicate": not received.created,
            }

    return await _answer(request, work, status=201)


@router.post("/chat/v1/typing")
async def visitor_typing(request: Request) -> Response:
    """The visitor is typing: agents who have the conversation open see it."""
    database = database_of(request)
    limiter: RateLimiter = request.app.state.rate_limiter

    def work() -> dict[str, Any]:
        visitor = _visitor(request)
        if not limiter.allow(TYPING_LIMIT, "chat-typing", str(visitor.customer_id)):
            return {"success": False}
        with database.session(write_on_demand=True) as session:
            inbox = chat.chat_inbox(
                session, workspace_id=visitor.workspace_id, inbox_id=visitor.inbox_id
            )
            customer = chat.customer_of(session, visitor)
            conversation = chat.latest_conversation(session, inbox, customer)
            if conversation is not None:
                care_live.typing(
                    workspace_id=visitor.workspace_id,
                    conversation=conversation,
                    who="visitor",
                    name=customer.display_name or "",
                    user_id=None,
                )
        return {"success": conversation is not None}

    return await _answer(request, work)


@router.post("/chat/v1/read")
async def visitor_read(request: Request) -> Response:
    """The visitor has seen the team's messages up to ``upTo``: agents see them as read."""
    database = database_of(request)
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        body: ReadIn = await _body(request, ReadIn)
    except CxloopError as exc:
        return widget_problem(request, exc)

    def work() -> dict[str, Any]:
        visitor = _visitor(request)
        if not limiter.allow(READ_LIMIT, "chat-read", str(visitor.customer_id)):
            return {"success": False, "marked": 0}
        with database.session(write_on_demand=True) as session:
            inbox = chat.chat_inbox(
                session, workspace_id=visitor.workspace_id, inbox_id=visitor.inbox_id
            )
            marked = chat_receipts.mark_read(
                session, visitor=visitor, inbox=inbox, up_to=body.up_to
            )
        return {"success": True, "marked": marked}

    return await _answer(request, work)


@router.get("/chat/v1/stream")
async def stream(request: Request) -> Response:
    """Agents' replies and typing in the visitor's conversations, as they happen."""
    database = database_of(request)

    def check() -> chat.Visitor:
        limit_client(request, CLIENT_LIMIT, "chat-client")
        visitor = _visitor(request)
        with database.session(write_on_demand=True) as session:
            chat.chat_inbox(session, workspace_id=visitor.workspace_id, inbox_id=visitor.inbox_id)
            customer = chat.customer_of(session, visitor)
            return chat.Visitor(
                visitor.workspace_id, visitor.inbox_id, customer.id, visitor.anonymous_id
            )

    try:
        visitor = await run_in_threadpool(check)
    except CxloopError as exc:
        return widget_problem(request, exc)
    topic = care_live.chat_topic(visitor.inbox_id, visitor.customer_id)
    headers = {**CORS, "X-Accel-Buffering": "no"}
    return StreamingResponse(
        events(request, topic), media_type="text/event-stream", headers=headers
    )


async def events(request: Request, *topics: str) -> AsyncIterator[bytes]:
    """Server-sent events of ``topics`` until the client goes away; a comment keeps a quiet
    stream open through proxies."""
    hub = live.hub(request.app.state.settings)
    async with hub.subscribe(*topics) as subscription:
        yield b"retry: 3000\n\n"
        while True:
            try:
                data = await subscription.next(STREAM_WAIT)
            except asyncio.CancelledError:
                return
            if data is None:
                if await request.is_disconnected():
                    return
                yield live.PING
                continue
            data.pop("topic", None)
            yield live.encode(data)
