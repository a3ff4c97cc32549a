"""Segment-compatible HTTP Tracking API under /v1: identify, track, page, screen, group,
alias and batch, authenticated by a write key (Basic auth, else ``writeKey`` in the body).

A body is read as JSON whatever its Content-Type: analytics.js in a browser sends it as
``text/plain``, with the write key in the body; its CORS headers come from ``events.cors``.

Write keys are public (they sit in every page that loads analytics.js), so the calls are rate
limited: each write key by the events it sends, and each client address by its calls without a
valid write key. Over a limit the call gets 429 and nothing of it is stored; the SDKs retry."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import (
    ApiPrincipal,
    DbSession,
    workspace_for_write_key,
    write_key_from,
)
from cxloop.core.db import run_transaction
from cxloop.core.errors import AuthenticationFailed, ContentTooLarge, CxloopError, ValidationFailed
from cxloop.core.http import JSONBytesResponse, client_address, database_of
from cxloop.core.jsonutil import TooDeep, load_json
from cxloop.core.ratelimit import RateLimited, RateLimiter, allowance
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.events import service
from cxloop.events.schemas import EventOut, EventPage, OrderOut, OrderPage
from cxloop.events.segment import MAX_BATCH_BYTES, MAX_EVENT_BYTES, parse_message, too_deep
from cxloop.profiles.service import get_customer

EventType = Literal["identify", "track", "page", "screen", "group", "alias"]

router = APIRouter(prefix="/v1", tags=["ingestion"])

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Segment Tracking API message (userId or anonymousId required).",
    "properties": {
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "messageId": {"type": "string", "maxLength": 128},
        "event": {"type": "string", "description": "track: the event name"},
        "name": {"type": "string", "description": "page/screen: the page name"},
        "groupId": {"type": "string"},
        "previousId": {"type": "string"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
        "originalTimestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
    },
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": {**_EVENT_SCHEMA, "required": ["type"]}},
        "context": {"type": "object"},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Accepted and stored",
        "content": {"application/json": {"example": {"success": True}}},
    },
    400: {
        "description": "Invalid JSON or an invalid event (problem+json naming the event and why)"
    },
    401: {"description": "Missing, unknown or revoked write key"},
    413: {
        "description": "The body is over 32 KB a call or 500 KB a batch (once inflated), or "
        "a batch has more events than its write key may send in a whole window"
    },
    429: {
        "description": "Over the write key's limit of events, or too many calls without a "
        "valid write key from this address; nothing of the call is stored. Retry-After (and "
        "X-RateLimit-Reset, which analytics.js reads) says in how many seconds to try again"
    },
}

# The limiter's names of what is counted: a write key's events, an address's calls without a
# valid write key.
_WRITE_KEY_EVENTS = "ingest-write-key"
_BAD_KEY_CALLS = "ingest-bad-key"


class Rejected(CxloopError):
    status = 400
    title = "Event rejected"
    type_slug = "event-rejected"


class IngestionRateLimited(RateLimited):
    """A 429 of the ingestion calls, which also says when to try again as X-RateLimit-Reset:
    analytics.js reads that header (as seconds to wait), not Retry-After, and without it waits
    a fixed 5 seconds."""

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "X-RateLimit-Reset": str(self.retry_after)}


async def _read_json(request: Request, limit: int) -> Any:
    body = await _read_body(request, limit)
    try:
        return load_json(body)
    except TooDeep as exc:
        failure = too_deep(exc)
        raise Rejected(failure.detail, errors=failure.errors) from None
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"The body is not valid JSON: {exc}.") from None


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, inflated if gzip or deflate, read as it streams in: refused as soon as it
    passes ``limit`` bytes (inflated), so no more than the limit is ever held."""
    encoding = request.headers.get("content-encoding", "").lower()
    inflater = (
        zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        if encoding in ("gzip", "deflate")
        else None
    )
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if inflater is not None:
            try:
                # At most one byte past the limit is inflated: a gzip bomb stops there.
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error:
                raise Rejected("The body is not valid gzip.") from None
        size += len(chunk)
        if size > limit:
            raise ContentTooLarge(f"The body is larger than {limit // 1024} KB.")
        parts.append(chunk)
    if inflater is not None and not inflater.eof:
        raise Rejected("The body is not valid gzip.")  # cut short
    return b"".join(parts)


def _store(request: Request, payload: Any, type_: str | None) -> dict[str, bool]:
    """Store a call; a call without a valid write key counts against the client address, which
    past its allowance gets 429 instead of 401. A valid key is never refused for its address:
    many shops' visitors may share one (a carrier's or an office's), and a 256-bit key is not
    found by trying."""
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        return _store_with_key(request, payload, type_, settings=settings, limiter=limiter)
    except AuthenticationFailed:
        address = client_address(request)
        if not limiter.allow(settings.ingest_bad_key_limit, _BAD_KEY_CALLS, address):
            wait = limiter.retry_after(settings.ingest_bad_key_limit, _BAD_KEY_CALLS, address)
            raise IngestionRateLimited(
                "Too many calls without a valid write key from this address; "
                f"try again in {wait} seconds.",
                retry_after=wait,
            ) from None
        raise


def _store_with_key(
    request: Request,
    payload: Any,
    type_: str | None,
    *,
    settings: Settings,
    limiter: RateLimiter,
) -> dict[str, bool]:
    """Parse the call, find its write key, count its events against the key's limit and store
    them, all or none."""
    received_at = utcnow()
    database = database_of(request)
    body_key = payload.get("writeKey") if isinstance(payload, dict) else None
    secret = write_key_from(request, body_key)
    try:
        if type_ is None:
            messages = service.parse_batch(payload, received_at=received_at)
        else:
            messages = [parse_message(payload, type_=type_, index=None, received_at=received_at)]
    except ValidationFailed as exc:
        raise Rejected(exc.detail, errors=exc.errors) from None
    counted = False

    def attempt() -> None:
        nonlocal counted
        with database.session() as session:
            key, workspace = workspace_for_write_key(session, secret)
            if not counted:
                # Once, before anything is stored: a retry after a lock conflict carries the
                # same events, and a refused batch is refused whole.
                _count_events(
                    limiter, settings.ingest_write_key_limit, key_id=key.id, events=len(messages)
                )
                counted = True
            try:
                service.ingest(
                    session, workspace=workspace, messages=messages, received_at=received_at
                )
            except ValidationFailed as exc:
                raise Rejected(exc.detail, errors=exc.errors) from None
            # Durable before the 200: the commit happens here, not after the response.
            session.commit()

    # A lock conflict with a concurrent request or the bus is retried: messageId dedupe
    # makes a second attempt store nothing twice.
    run_transaction(attempt)
    return {"success": True}


def _count_events(limiter: RateLimiter, rule: str, *, key_id: int, events: int) -> None:
    """Count a call's events against its write key's limit ``rule``: IngestionRateLimited when
    they would pass it, and ContentTooLarge when no wait would let so many through at once."""
    most = allowance(rule)
    if events > most:
        raise ContentTooLarge(
            f"The batch has {events} events; a write key may send at most {most} "
            f"({rule}). Send smaller batches."
        )
    wait = limiter.take(rule, _WRITE_KEY_EVENTS, str(key_id), cost=events)
    if wait:
        raise IngestionRateLimited(
            f"This write key is over its limit of events ({rule}); try again in {wait} seconds.",
            retry_after=wait,
        )


def _endpoint(type_: str | None, limit: int) -> Callable[[Request], Awaitable[JSONBytesResponse]]:
    async def handler(request: Request) -> JSONBytesResponse:
        payload = await _read_json(request, limit)
        result = await run_in_threadpool(_store, request, payload, type_)
        return JSONBytesResponse(result)

    return handler


for _type in ("identify", "track", "page", "screen", "group", "alias"):
    router.add_api_route(
        f"/{_type}",
        _endpoint(_type, MAX_EVENT_BYTES),
        methods=["POST"],
        name=f"segment_{_type}",
        summary=f"Segment {_type} call",
        responses=_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _EVENT_SCHEMA}},
            }
        },
    )
router.add_api_route(
    "/batch",
    _endpoint(None, MAX_BATCH_BYTES),
    methods=["POST"],
    name="segment_batch",
    summary="Segment batch call (up to 500 KB)",
    responses=_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BATCH_SCHEMA}},
        }
    },
)
# analytics.js in the browser posts to each call's first letter (/v1/t, /v1/i, /v1/p, ...)
# and batches to /v1/b, as Segment's API accepts.
for _type in ("identify", "track", "page", "screen", "group", "alias"):
    router.add_api_route(
        f"/{_type[0]}",
        _endpoint(_type, MAX_EVENT_BYTES),
        methods=["POST"],
        include_in_schema=False,
    )
router.add_api_route(
    "/b", _endpoint(None, MAX_BATCH_BYTES), methods=["POST"], include_in_schema=False
)


# --- REST: a customer's events and orders ------------------------------------------------------

rest_router = APIRouter(prefix="/api/v1", tags=["customers"])


CustomerId = Annotated[int, FastPath(ge=1, le=2**53, description="Customer id")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the last page")]


@rest_router.get("/customers/{customer_id}/events", response_model=EventPage)
def list_customer_events(
    customer_id: CustomerId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    type: Annotated[list[EventType] | None, Query(description="Only these types")] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
) -> EventPage:
    """A customer's events from every channel, newest first."""
    require(principal, "events:read")
    customer = get_customer(session, workspace_id=principal.workspace_id, customer_id=customer_id)
    rows, next_cursor = service.customer_events(
        session,
        workspace_id=principal.workspace_id,
        customer_id=customer.id,
        cursor=cursor,
        limit=limit,
        types=list(type) if type else None,
        channel=channel,
    )
    return EventPage(items=[EventOut.model_validate(e) for e in rows], next_cursor=next_cursor)


@rest_router.get("/customers/{customer_id}/orders", response_model=OrderPage)
def list_customer_orders(
    customer_id: CustomerId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """A customer's orders with their items, newest first."""
    require(principal, "customers:read")
    customer = get_customer(session, workspace_id=principal.workspace_id, customer_id=customer_id)
    rows, next_cursor = service.customer_orders(
        session,
        workspace_id=principal.workspace_id,
        customer_id=customer.id,
        cursor=cursor,
        limit=limit,
    )
    return OrderPage(items=[OrderOut.model_validate(o) for o in rows], next_cursor=next_cursor)
