"""Driving the server-rendered pages over HTTP: sign in, GET and POST forms with the session's CSRF
token, read a page's text and flash messages."""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import orjson
from fastapi.testclient import TestClient
from httpx import Response

from cxloop.web import session as web_session
from tests.factories import PASSWORD

HTML = {"Accept": "text/html,application/xhtml+xml"}


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The CSRF token the page at ``path`` carries in its forms."""
    page = client.get(path, headers=HTML)
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return html.unescape(match.group(1))


def login(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Response:
    """Sign in through the login form (without following the redirect)."""
    token = csrf_of(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, **extra},
        headers=HTML,
        follow_redirects=False,
    )


def session_token(client: TestClient) -> str:
    """The CSRF token held in the (signed, readable) session cookie: the one every form of
    the session carries. Read from the cookie so no page is rendered (a render shows, and so
    consumes, the pending flash messages)."""
    cookie = client.cookies.get(web_session.SESSION_COOKIE)
    if not cookie:
        return csrf_of(client, "/login")
    payload = cookie.split(".")[0]
    data = orjson.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    token = data.get("csrf")
    return token if isinstance(token, str) else csrf_of(client, "/login")


def post(client: TestClient, path: str, data: dict[str, str] | None = None, **kw: Any) -> Response:
    """POST a form from a signed-in page, with the session's CSRF token."""
    token = session_token(client)
    return client.post(
        path, data={**(data or {}), "csrf_token": token}, headers=HTML, follow_redirects=False, **kw
    )


def get(client: TestClient, path: str) -> Response:
    return client.get(path, headers=HTML)


def text_of(response: Response) -> str:
    """The page's visible text, tags dropped and whitespace collapsed (for exact phrases)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.text, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def flashes(response: Response) -> list[tuple[str, str]]:
    found = re.findall(r'<div class="flash (\w+)" role="\w+">(.*?)</div>', response.text, re.S)
    return [(kind, html.unescape(text).strip()) for kind, text in found]
