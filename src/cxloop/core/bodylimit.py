"""Request body limits: a body over its route's limit is refused with 413 before the route
runs, so no parser, handler or authentication ever sees more than the limit.

The limit is checked first from ``Content-Length`` (nothing is read then), else while the body
streams in, because a chunked body has no length up front: the body is read here, up to the
limit, and handed on whole. Every route reads its body whole anyway; reading it first means a
route never starts (never looks up a key or a token) for a body it will not get. Forms are also
limited in fields: a url-encoded form of a million empty fields is small in bytes but costs
seconds to parse, and Starlette counts the fields of multipart forms only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxloop.core.errors import ContentTooLarge, problem
from cxloop.core.http import JSONBytesResponse

_PIECE = 64 * 1024
_URLENCODED = b"application/x-www-form-urlencoded"
_MULTIPART = b"multipart/form-data"
_BOUNDARY = re.compile(rb'boundary="?([^";,\s]{1,200})"?', re.IGNORECASE)


@dataclass(frozen=True)
class BodyRule:
    """The largest body that requests to paths matching ``pattern`` may send."""

    pattern: re.Pattern[str]
    max_bytes: int


def size_text(n: int) -> str:
    """A byte count as people write limits: 500 KB, 2 MB (1 KB = 1,024 bytes)."""
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n:,} bytes"


class BodyLimit:
    """Refuse, as a 413 problem, a request body larger than its route's limit.

    ``rules`` are tried in order, the first match by path decides; ``default`` applies to every
    other path. Bodies of url-encoded and multipart forms may also have at most ``max_fields``
    fields (parts).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: Sequence[BodyRule],
        default: int,
        max_fields: int,
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.default = default
        self.max_fields = max_fields

    def limit_for(self, path: str) -> int:
        for rule in self.rules:
            if rule.pattern.match(path):
                return rule.max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if _header(scope, b"transfer-encoding") is None and length in (None, "0"):
            await self.app(scope, receive, send)  # no body
            return
        limit = self.limit_for(scope["path"])
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, send, _over_size(limit))
            return
        counter = FormFieldCounter.for_content_type(
            _header(scope, b"content-type"), self.max_fields
        )
        # Read in pieces of at least 64 KB, however small the client's chunks: a list of a
        # million one-byte chunks would cost forty times the body.
        chunks: list[bytes] = []
        piece = bytearray()
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await self._refuse(scope, send, _over_size(limit))
                return
            if counter is not None and counter.feed(chunk):
                await self._refuse(
                    scope,
                    send,
                    f"The form has more than {self.max_fields:,} fields, the most this address "
                    "accepts.",
                )
                return
            piece += chunk
            more = message.get("more_body", False)
            if len(piece) >= _PIECE or not more:
                chunks.append(bytes(piece))
                piece.clear()
        pending = iter(chunks)
        last = len(chunks) - 1

        async def replay() -> Message:
            nonlocal last
            chunk = next(pending, None)
            if chunk is None:
                return await receive()  # after the body: the client's disconnect, if it comes
            last -= 1
            return {"type": "http.request", "body": chunk, "more_body": last >= 0}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, detail: str) -> None:
        response = JSONBytesResponse(
            problem(
                413,
                ContentTooLarge.title,
                detail,
                type_slug=ContentTooLarge.type_slug,
                instance=scope["path"],
            ),
            status_code=413,
            media_type="application/problem+json",
            # The rest of the body is never read: end the connection rather than drain it.
            headers={"Connection": "close"},
        )
        await response(scope, _no_body, send)


def _over_size(limit: int) -> str:
    return f"The request body is larger than {size_text(limit)}, the most this address accepts."


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1").strip()
    return None


class FormFieldCounter:
    """Counts the fields of a form body as it streams in, by the separators between them
    (``&`` of a url-encoded form, the boundary of a multipart one), so a form of too many
    fields is refused before a parser builds them."""

    def __init__(self, separator: bytes, max_fields: int, *, first: int) -> None:
        self.separator = separator
        self.max_fields = max_fields
        self.count = first
        self.tail = b""

    @classmethod
    def for_content_type(cls, content_type: str | None, max_fields: int) -> FormFieldCounter | None:
        if not content_type:
            return None
        value = content_type.encode("latin-1", "replace")
        kind = value.split(b";", 1)[0].strip().lower()
        if kind == _URLENCODED:
            return cls(b"&", max_fields, first=1)
        if kind == _MULTIPART:
            boundary = _BOUNDARY.search(value)
            if boundary is None:
                return None  # the form parser refuses it
            # Each part starts with the boundary; the closing one is counted too.
            return cls(b"--" + boundary.group(1), max_fields + 1, first=0)
        return None

    def feed(self, chunk: bytes) -> bool:
        """Count the separators in ``chunk``; True once there are more fields than allowed."""
        data = self.tail + chunk
        self.count += data.count(self.separator)
        # Keep the end that may hold the start of a separator split across two chunks.
        keep = len(self.separator) - 1
        self.tail = data[-keep:] if keep else b""
        return self.count > self.max_fields
