"""Ingestion from browsers, as analytics.js sends: CORS on the ingestion calls (and nowhere
else), the JSON body as ``text/plain``, the write key in the body, the one-letter paths, and
every refusal as before (401, 413 before the body is parsed) with the CORS headers on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import Event
from tests.factories import Tenant, basic_auth

PROBLEM = "application/problem+json"
SITE = "http://shop.example"
TEXT = {"Content-Type": "text/plain", "Origin": SITE}


def events_of(session: Session, workspace_id: int) -> list[Event]:
    session.expire_all()
    return list(
        session.scalars(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id))
    )


def preflight(client: TestClient, path: str, *, method: str = "POST") -> Any:
    return client.options(
        path,
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/track",
        "/v1/identify",
        "/v1/page",
        "/v1/screen",
        "/v1/group",
        "/v1/alias",
        "/v1/batch",
        "/v1/t",
        "/v1/b",
    ],
)
def test_a_preflight_of_an_ingestion_call_lets_any_origin_post_without_credentials(
    client: TestClient, path: str
) -> None:
    response = preflight(client, path)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == (
        "authorization,content-type,x-retry-count"
    )
    assert response.headers["access-control-max-age"] == "86400"
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_for_another_method_is_refused(client: TestClient) -> None:
    response = preflight(client, "/v1/track", method="DELETE")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/customers", "/api/v1/customers/1/events", "/login", "/v1/unknown"]
)
def test_no_other_path_gets_cors(client: TestClient, path: str) -> None:
    # the session-authenticated UI and the REST API stay closed to other origins
    assert "access-control-allow-origin" not in preflight(client, path, method="GET").headers
    assert "access-control-allow-origin" not in client.get(path, headers={"Origin": SITE}).headers


def test_a_text_plain_body_with_the_write_key_in_it_is_stored(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a call as analytics.js posts it: JSON as text/plain, the write key in the body
    body = {
        "type": "track",
        "event": "Added To Cart",
        "anonymousId": "a-1",
        "properties": {"sku": "P-7", "price": 19500},
        "writeKey": tenant.write_secret,
        "context": {"library": {"name": "analytics.js", "version": "npm:next-1.84.3"}},
    }
    # when it is posted cross-origin to the one-letter path, without an Authorization header
    response = client.post("/v1/t", content=orjson.dumps(body), headers=TEXT)
    # then it is stored, and the browser may read the answer
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "Retry-After, X-RateLimit-Reset"
    [event] = events_of(session, tenant.id)
    assert (event.type, event.name, event.properties, event.channel, event.anonymous_id) == (
        "track",
        "Added To Cart",
        {"sku": "P-7", "price": 19500},
        "web",
        "a-1",
    )


@pytest.mark.parametrize(
    ("path", "body", "kind", "name"),
    [
        pytest.param(
            "/v1/i", {"userId": "u1", "traits": {"name": "김민지"}}, "identify", None, id="i"
        ),
        pytest.param("/v1/p", {"anonymousId": "a1", "name": "Home"}, "page", "Home", id="p"),
        pytest.param("/v1/s", {"userId": "u1", "name": "Cart"}, "screen", "Cart", id="s"),
        pytest.param("/v1/g", {"userId": "u1", "groupId": "g1"}, "group", None, id="g"),
        pytest.param("/v1/a", {"userId": "u1", "previousId": "a9"}, "alias", None, id="a"),
        pytest.param(
            "/v1/b",
            {"batch": [{"type": "track", "userId": "u1", "event": "Clicked"}]},
            "track",
            "Clicked",
            id="b",
        ),
    ],
)
def test_each_one_letter_path_is_its_call(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    path: str,
    body: dict[str, Any],
    kind: str,
    name: str | None,
) -> None:
    body = {**body, "writeKey": tenant.write_secret}
    response = client.post(path, content=orjson.dumps(body), headers=TEXT)
    assert response.json() == {"success": True}
    assert [(e.type, e.name) for e in events_of(session, tenant.id)] == [(kind, name)]


@pytest.mark.parametrize(
    "key", ["cxw_" + "x" * 43, "", 12345], ids=["unknown", "empty", "not-a-string"]
)
def test_a_wrong_write_key_in_the_body_is_a_401_problem_the_browser_can_read(
    client: TestClient, tenant: Tenant, session: Session, key: object
) -> None:
    body = {"type": "track", "userId": "u1", "event": "E", "writeKey": key}
    response = client.post("/v1/track", content=orjson.dumps(body), headers=TEXT)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["access-control-allow-origin"] == "*"
    assert events_of(session, tenant.id) == []


def test_the_authorization_header_wins_over_the_body(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a valid write key in the body but an unknown one in Basic auth
    body = {"userId": "u1", "event": "E", "writeKey": tenant.write_secret}
    headers = {**TEXT, **basic_auth("cxw_" + "y" * 43)}
    response = client.post("/v1/track", content=orjson.dumps(body), headers=headers)
    assert response.status_code == 401
    assert events_of(session, tenant.id) == []


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


@pytest.mark.parametrize("how", ["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "size", "detail"),
    [
        (
            "/v1/t",
            33 * 1024,
            "The request body is larger than 32 KB, the most this address accepts.",
        ),
        (
            "/v1/b",
            501 * 1024,
            "The request body is larger than 500 KB, the most this address accepts.",
        ),
    ],
    ids=["call", "batch"],
)
def test_an_oversize_text_plain_body_is_a_413_before_it_is_parsed(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    path: str,
    size: int,
    detail: str,
    how: str,
) -> None:
    # given a body over the limit that is not even JSON and carries a good write key: were it
    # parsed it would be a 400, were its key looked up first it could not be refused by size
    start = b'{"writeKey": "' + tenant.write_secret.encode() + b'", "x": "'
    body = start + b"x" * (size - len(start))
    content: bytes | Iterator[bytes] = body if how == "content-length" else _chunks(body)
    response = client.post(path, content=content, headers=TEXT)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == detail
    assert response.headers["access-control-allow-origin"] == "*"
    assert events_of(session, tenant.id) == []


def test_a_call_without_an_origin_gets_no_cors_headers(client: TestClient, tenant: Tenant) -> None:
    # server SDKs are answered as before
    response = client.post("/v1/track", json={"userId": "u1", "event": "E"}, headers=tenant.write)
    assert response.json() == {"success": True}
    assert "access-control-allow-origin" not in response.headers
