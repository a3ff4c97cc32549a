"""How ``cxloop serve`` speaks HTTP: uvicorn's httptools protocol, with a limit on the request
head (request line and headers), which uvicorn leaves unbounded with httptools.

Without it, a client could send a request line or a header of a gigabyte: it is gathered in
memory piece by piece (a 256 MiB header took 130 s of CPU and 500 MB that stayed held) before
the application, and its body limits, ever see the request.
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cxloop.core.errors import problem

# nginx reads heads of up to 32 KB, Node.js 16 KB; a session cookie and a long query fit.
MAX_HEAD_BYTES = 64 * 1024


class LimitedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that refuses, with 431, a request head over
    ``MAX_HEAD_BYTES`` and closes the connection, before gathering more of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after all of ``data``: every byte counted belongs to it.
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next is the head of the next request

    def _refuse_head(self) -> None:
        body = orjson.dumps(
            problem(
                431,
                "Request header fields too large",
                f"The request line and headers are larger than {MAX_HEAD_BYTES // 1024} KB.",
                type_slug="head-too-large",
            )
        )
        head = [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
