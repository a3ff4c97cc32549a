"""Request size limits, through a real server: a body over its route's limit is refused with a
413 problem before it is read (from Content-Length) or as soon as it passes the limit (chunked),
before authentication and without touching the database; bodies under the limit still work. And
`cxloop serve` refuses a request line or headers over 64 KB with 431."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxloop.core.bodylimit import FormFieldCounter
from cxloop.core.db import Database
from cxloop.core.serving import MAX_HEAD_BYTES
from cxloop.core.settings import Settings
from cxloop.models import Event
from tests.conftest import free_port, running_server
from tests.factories import basic_auth, make_key, make_workspace, unique

pytestmark = pytest.mark.live

PROBLEM = "application/problem+json"
KB = 1024
MB = 1024 * KB
# What the server may read past a limit: the message that crosses it. uvicorn hands the
# application what arrived since the last read, and stops reading the socket past 64 KB.
SLACK = 512 * KB
CHUNK = 64 * KB


class BodyMeter:
    """Counts the body bytes the server hands to the application: what it actually read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.consumed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.consumed += len(message.get("body", b""))
            return message

        await self.app(scope, counted if scope["type"] == "http" else receive, send)


@dataclass
class Server:
    url: str
    meter: BodyMeter
    statements: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.meter.consumed = 0
        self.statements.clear()


@pytest.fixture(scope="module")
def server(settings: Settings, database: Database) -> Iterator[Server]:
    """The real application on a local port (no background work, so every SQL statement seen
    comes from a request)."""
    from cxloop.app import create_app

    app = create_app(settings, database=database)
    meter = BodyMeter(app)
    with running_server(meter, free_port()) as url:
        served = Server(url=url, meter=meter)

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            served.statements.append(statement)

        event.listen(database.engine, "before_cursor_execute", record)
        try:
            yield served
        finally:
            event.remove(database.engine, "before_cursor_execute", record)


@pytest.fixture
def live(server: Server) -> Server:
    server.reset()
    return server


@pytest.fixture
def write_key(database: Database) -> tuple[int, str]:
    """A committed workspace and the secret of its write key."""
    with database.session() as s:
        workspace = make_workspace(s, slug=unique("limits-"))
        _key, secret = make_key(s, workspace=workspace, kind="write")
        return workspace.id, secret


class Sent:
    """A request body that streams ``total`` bytes of ``pattern`` and counts what was taken."""

    def __init__(self, total: int, pattern: bytes = b"x", *, head: bytes = b"") -> None:
        self.total = total
        self.head = head
        self.chunk = (pattern * (CHUNK // len(pattern) + 1))[:CHUNK]
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            self.taken += len(self.head)
            yield self.head
        while self.taken < self.total:
            self.taken += len(self.chunk)
            yield self.chunk


def chunked_post(url: str, body: Sent, headers: dict[str, str]) -> httpx.Response:
    """POST ``body`` without a Content-Length (Transfer-Encoding: chunked)."""
    with httpx.Client(timeout=30) as client:
        return client.post(url, content=iter(body), headers=headers)


def declared_post(url: str, path: str, length: int, headers: dict[str, str]) -> bytes:
    """Send only the head of a request that declares a ``length``-byte body; the answer."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def assert_refused(response: httpx.Response, path: str, limit_text: str) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "https://cxloop.dev/problems/content-too-large",
        "title": "Content too large",
        "status": 413,
        "detail": f"The request body is larger than {limit_text}, the most this address accepts.",
        "instance": path,
    }


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# (path, the route's limit, how the detail says it, headers): one of each class of route.
LIMITS = [
    pytest.param("/v1/batch", 500 * KB, "500 KB", JSON, id="ingestion-batch"),
    pytest.param("/v1/track", 32 * KB, "32 KB", JSON, id="ingestion-call"),
    pytest.param("/api/v1/customers", 2 * MB, "2 MB", JSON, id="json-api"),
    pytest.param("/login", 2 * MB, "2 MB", FORM, id="sign-in-form"),
    pytest.param(
        "/api/v1/surveys/1/responses/import", 20 * MB, "20 MB", JSON, id="response-import"
    ),
    pytest.param("/s/abcdefghijkl", 512 * KB, "512 KB", FORM, id="survey-page"),
    pytest.param("/widget/v1/notices/1/seen", 512 * KB, "512 KB", JSON, id="widget"),
]


@pytest.mark.parametrize(("path", "limit", "limit_text", "headers"), LIMITS)
def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
    live: Server, path: str, limit: int, limit_text: str, headers: dict[str, str]
) -> None:
    reply = declared_post(live.url, path, 1024 * MB, headers)

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert orjson.loads(body)["detail"] == (
        f"The request body is larger than {limit_text}, the most this address accepts."
    )
    assert live.meter.consumed == 0
    assert live.statements == []


@pytest.mark.parametrize(("path", "limit", "limit_text", "headers"), LIMITS)
def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    live: Server, path: str, limit: int, limit_text: str, headers: dict[str, str]
) -> None:
    body = Sent(limit + 256 * MB)

    response = chunked_post(live.url + path, body, headers)

    assert_refused(response, path, limit_text)
    assert limit < live.meter.consumed <= limit + SLACK
    # The client could send no more than the server read plus what the sockets buffer.
    assert body.taken < limit + 64 * MB
    assert live.statements == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_unauthenticated_gigabyte_is_a_413_not_a_401_and_touches_no_database(
    live: Server, chunked: bool
) -> None:
    body = Sent(1024 * MB)
    headers = JSON if chunked else {**JSON, "Content-Length": str(body.total)}

    with httpx.Client(timeout=30) as client:
        response = client.post(live.url + "/api/v1/customers", content=iter(body), headers=headers)

    assert_refused(response, "/api/v1/customers", "2 MB")
    assert "www-authenticate" not in response.headers
    # from Content-Length, nothing is read; chunked, no more than the limit and a piece
    assert live.meter.consumed <= (2 * MB + SLACK if chunked else 0)
    assert body.taken < 2 * MB + 64 * MB
    assert live.statements == []


def test_the_same_request_under_the_limit_reaches_authentication(live: Server) -> None:
    response = httpx.post(live.url + "/api/v1/customers", content=b"{}" + b" " * MB, headers=JSON)

    assert response.status_code == 401
    assert live.meter.consumed == MB + 2


def test_a_half_gigabyte_sign_in_form_is_refused_at_its_limit(live: Server) -> None:
    body = Sent(512 * MB, b"a", head=b"email=a%40b.c&password=")

    response = chunked_post(live.url + "/login", body, FORM)

    assert_refused(response, "/login", "2 MB")
    assert live.meter.consumed <= 2 * MB + SLACK
    assert live.statements == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(FORM["Content-Type"], b"a=1&" * 500_000, id="url-encoded"),
        pytest.param(
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n' * 20_000
            + b"--xyz--\r\n",
            id="multipart",
        ),
    ],
)
def test_a_form_of_too_many_fields_is_refused_after_reading_few(
    live: Server, content_type: str, body: bytes
) -> None:
    assert len(body) < 2 * MB  # small enough in bytes: the fields are what is too many

    response = httpx.post(live.url + "/login", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == (
        "The form has more than 2,000 fields, the most this address accepts."
    )
    assert live.meter.consumed <= SLACK
    assert live.statements == []


@pytest.mark.parametrize(
    ("content_type", "part", "end"),
    [
        pytest.param(FORM["Content-Type"], b"a=1&", b"z=1", id="url-encoded"),
        pytest.param(
            "multipart/form-data; boundary=----b0undary",
            b'------b0undary\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n',
            b"------b0undary--\r\n",
            id="multipart",
        ),
    ],
)
@pytest.mark.parametrize("piece", [1, 3, 7, 4096], ids=lambda n: f"{n}-byte-chunks")
def test_form_fields_are_counted_however_the_body_is_cut(
    content_type: str, part: bytes, end: bytes, piece: int
) -> None:
    def over(fields: int) -> bool:
        counter = FormFieldCounter.for_content_type(content_type, 5)
        assert counter is not None
        body = part * (fields - 1) + (end if b"=" in end else part + end)
        return any(counter.feed(body[i : i + piece]) for i in range(0, len(body), piece))

    assert not over(5)
    assert over(6)


def test_a_form_of_as_many_fields_as_the_editor_posts_is_read(live: Server) -> None:
    body = b"&".join(b"f%d=1" % i for i in range(1_500))

    response = httpx.post(live.url + "/login", content=body, headers=FORM)

    assert response.status_code != 413  # read, then refused for its missing CSRF token
    assert live.meter.consumed == len(body)


def test_an_import_takes_more_than_other_apis(live: Server) -> None:
    body = b'{"rows": []}' + b" " * (3 * MB)

    imported = httpx.post(live.url + "/api/v1/surveys/1/responses/import", content=body)
    other = httpx.post(live.url + "/api/v1/surveys/1/responses", content=body)

    assert imported.status_code == 401  # read, then refused for the missing key
    assert other.status_code == 413


def test_chunked_batches_under_the_limit_are_stored(
    live: Server, database: Database, write_key: tuple[int, str]
) -> None:
    workspace_id, secret = write_key
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": f"e{i}", "properties": {"p": "y" * 20_000}}
            for i in range(24)
        ]
    }
    raw = orjson.dumps(batch)
    assert 400 * KB < len(raw) < 500 * KB
    headers = {**basic_auth(secret), **JSON}

    def pieces(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    plain = httpx.post(live.url + "/v1/batch", content=pieces(raw), headers=headers)
    zipped = httpx.post(
        live.url + "/v1/batch",
        content=pieces(
            gzip.compress(orjson.dumps({"batch": [{**batch["batch"][0], "event": "z"}]}))
        ),
        headers={**headers, "Content-Encoding": "gzip"},
    )

    assert (plain.status_code, plain.json()) == (200, {"success": True})
    assert (zipped.status_code, zipped.json()) == (200, {"success": True})
    with database.session() as s:
        stored = s.scalar(
            select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)
        )
    assert stored == 25


def test_a_gzip_bomb_is_inflated_no_further_than_the_limit(
    live: Server, write_key: tuple[int, str]
) -> None:
    _workspace_id, secret = write_key
    # 64 MB of JSON that compresses to 64 KB: inflated at once, it would be held whole.
    head = b'{"batch":[{"type":"track","userId":"u1","event":"e","properties":{"p":"'
    bomb = gzip.compress(head + b"0" * (64 * MB))
    assert len(bomb) < 500 * KB

    response = httpx.post(
        live.url + "/v1/batch",
        content=bomb,
        headers={**basic_auth(secret), **JSON, "Content-Encoding": "gzip"},
    )

    assert response.status_code == 413
    assert response.json()["detail"] == "The body is larger than 500 KB."


def test_the_limits_are_settings(settings: Settings, database: Database) -> None:
    from cxloop.app import create_app

    small = settings.model_copy(
        update={"max_body_bytes": 4 * KB, "max_public_body_bytes": 2 * KB, "max_form_fields": 10}
    )
    with TestClient(create_app(small, database=database)) as client:
        api = client.post("/api/v1/customers", content=b"{}" + b" " * 5000, headers=JSON)
        page = client.post("/s/abcdefghijkl", content=b"x" * 3000, headers=FORM)
        form = client.post("/login", content=b"&".join([b"a=1"] * 11), headers=FORM)

    assert (api.status_code, api.json()["detail"]) == (
        413,
        "The request body is larger than 4 KB, the most this address accepts.",
    )
    assert (page.status_code, page.json()["detail"]) == (
        413,
        "The request body is larger than 2 KB, the most this address accepts.",
    )
    assert (form.status_code, form.json()["detail"]) == (
        413,
        "The form has more than 10 fields, the most this address accepts.",
    )


@pytest.fixture(scope="module")
def served(settings: Settings, database: Database) -> Iterator[str]:
    """A `cxloop serve` process, as run in production, on the test database."""
    port = free_port()
    env = {**os.environ, "CXLOOP_DATABASE_URL": settings.db_url}
    env.pop("CXLOOP_REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("cxloop serve did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def send_head(url: str, start: bytes, total: int, end: bytes) -> tuple[bytes, int]:
    """Send ``start``, then up to ``total`` bytes of a request line or header, then ``end``;
    the answer and how much of the head the server let through."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(start)
            while sent < total:
                sock.sendall(b"a" * CHUNK)
                sent += CHUNK
            sock.sendall(end)
        except OSError:
            pass  # the server closed the connection: its answer is already here
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:
            pass
    return reply, sent


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(b"GET /healthz?q=", b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", b"\r\n\r\n", id="header"),
    ],
)
def test_serve_refuses_a_request_head_over_64_kb(served: str, start: bytes, end: bytes) -> None:
    reply, sent = send_head(served, start, 256 * MB, end)

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert orjson.loads(body) == {
        "type": "https://cxloop.dev/problems/head-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": "The request line and headers are larger than 64 KB.",
    }
    # Refused at the limit: the client could send only what the sockets buffer past it.
    assert sent < MAX_HEAD_BYTES + 64 * MB


def test_serve_answers_heads_under_the_limit_on_one_connection(served: str) -> None:
    big_head = {"X-Big": "b" * 40_000}
    with httpx.Client(base_url=served) as client:
        answers = [
            client.get("/healthz", params={"q": "a" * 20_000}, headers=big_head),
            client.post("/api/v1/customers", content=b"{}" + b" " * 300_000, headers=JSON),
            client.get("/healthz", headers=big_head),
            client.post("/login", content=b"email=a&password=b", headers=FORM),
            client.get("/healthz", headers=big_head),
        ]

    assert [a.status_code for a in answers] == [200, 401, 200, 403, 200]
    # all on the connection the first one opened
    assert len({id(a.extensions["network_stream"]) for a in answers}) == 1
