"""HTTP plumbing shared by every router: the request's database session and the client IP."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxloop.core.db import Database
from cxloop.core.errors import Conflict, ValidationFailed, problem
from cxloop.core.jsonutil import TooDeep, check_depth, dump_json, path_text


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def db_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on error.

    Used with ``scope="function"`` so the commit happens before the response is sent: a
    client never gets a 2xx for a change that did not reach the database.
    """
    # A GET only reads (or writes a little, late): on SQLite it takes the write lock, which
    # ingestion waits for, only if and when it writes.
    reads = request.method in ("GET", "HEAD")
    try:
        with database_of(request).session(write_on_demand=reads) as session:
            yield session
    except IntegrityError:
        raise Conflict(
            "The change conflicts with data saved at the same moment; please retry."
        ) from None
    except DataError as exc:
        # The database refused a value the validation let through (a NUL character, a number
        # out of a column's range): the request's fault, and nothing of it was saved.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value cannot be stored"
        raise ValidationFailed(f"A value in the request cannot be stored: {reason}.") from None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def client_address(request: Request) -> str:
    """The address of the client that sent ``request``, for rate limits and records.

    The connection's own address, unless it comes from a proxy listed in
    ``CXLOOP_TRUSTED_PROXIES``: then ``X-Forwarded-For`` is read from the right (each proxy
    appends the address it was reached from), skipping trusted proxies, and the first address
    no trusted proxy owns is the client. A client cannot forge its way past this: whatever it
    writes into the header itself stands left of what the trusted proxies appended.
    """
    peer = request.client.host if request.client else ""
    settings = getattr(request.app.state, "settings", None)
    proxies = _trusted_networks(getattr(settings, "trusted_proxies", "") or "")
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: nothing further left can be believed
        client = hop
        if not _is_trusted(hop, proxies):
            break
    return client


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted_networks(setting: str) -> tuple[Network, ...]:
    networks = []
    for item in setting.split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return tuple(networks)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class JSONBytesResponse(JSONResponse):
    """JSON rendered by orjson (datetimes as ISO-8601, non-string keys allowed)."""

    def render(self, content: object) -> bytes:
        return dump_json(content, default=_fallback)


def _fallback(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class UnicodeGuard:
    """Refuse, as a 422 problem, JSON bodies whose text is not valid Unicode or that nest
    deeper than ``jsonutil.MAX_DEPTH`` levels.

    JSON may spell a lone UTF-16 surrogate (``"\\ud800"``); Python's parser accepts it, but no
    database or JSON encoder can store or send it back, so it would fail deep inside a handler.
    Only bodies that contain such an escape are parsed here (by orjson, which refuses lone
    surrogates). Likewise a body nested hundreds of levels deep breaks Python's parser or, past
    254 levels, every encoder; only bodies with more brackets than the limit are measured.
    Every other request passes untouched.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/api/",)) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _SURROGATE_ESCAPE.search(body):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                if "surrogate" in str(exc):
                    response = JSONBytesResponse(
                        problem(
                            422,
                            "Validation failed",
                            "The body contains a lone UTF-16 surrogate (\\ud800–\\udfff "
                            "without its pair), which is not valid Unicode text.",
                            type_slug="validation-failed",
                        ),
                        status_code=422,
                        media_type="application/problem+json",
                    )
                    await response(scope, receive, send)
                    return
        try:
            check_depth(body)
        except TooDeep as exc:
            field = path_text(exc.path)
            response = JSONBytesResponse(
                problem(
                    422,
                    "Validation failed",
                    f"The body is {exc}.",
                    type_slug="validation-failed",
                    errors=[{"field": field, "message": f"nested deeper than {exc.limit} levels"}],
                ),
                status_code=422,
                media_type="application/problem+json",
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
