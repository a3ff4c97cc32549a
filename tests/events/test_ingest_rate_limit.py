"""Rate limits of the ingestion API (/v1), whose write keys are public: a write key is counted by
the events it sends (a batch by each of its events), a client address by its calls without a
valid write key; past a limit the call gets 429 with Retry-After, and nothing of it is stored.

Each test runs with the limiter in this process, and again on Redis when
CXLOOP_TEST_REDIS_URL is set (as CI does), where several servers share the counts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.core.ratelimit import RateLimiter
from cxloop.core.settings import Settings
from cxloop.models import Event
from tests.factories import Tenant, basic_auth, unique

REDIS_URL = os.environ.get("CXLOOP_TEST_REDIS_URL")
PROBLEM = "application/problem+json"
SITE = "https://shop.example.com"
OTHER_ADDRESS = ("198.51.100.24", 40000)


@pytest.fixture(
    params=[
        "memory",
        pytest.param(
            "redis",
            marks=pytest.mark.skipif(not REDIS_URL, reason="CXLOOP_TEST_REDIS_URL is not set"),
        ),
    ]
)
def client(request: pytest.FixtureRequest, app: FastAPI) -> Iterator[TestClient]:
    """The app's client, its limiter counting in this process or in Redis."""
    if request.param == "redis":
        app.state.rate_limiter = RateLimiter(REDIS_URL)
        app.state.rate_limiter.reset()
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
    app.state.rate_limiter.reset()


@pytest.fixture
def limits(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Small limits: 10 events a minute per write key, 3 calls a minute per address without a
    valid write key."""
    monkeypatch.setattr(settings, "ingest_write_key_limit", "10 per minute")
    monkeypatch.setattr(settings, "ingest_bad_key_limit", "3 per minute")
    return settings


def stored(session: Session, workspace_id: int) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)
    )


def track(n: int = 0) -> dict[str, Any]:
    return {"userId": "u-1", "event": "Product Viewed", "messageId": unique(f"m{n}-")}


def batch(size: int) -> dict[str, Any]:
    return {"batch": [{"type": "track", **track(i)} for i in range(size)]}


def assert_refused(response: Any, status: int = 429) -> None:
    """A problem+json refusal; a 429 also says, in both headers the SDKs read, when to retry."""
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    if status == 429:
        assert response.json()["type"] == "https://cxloop.dev/problems/too-many-requests"
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= 60
        assert response.headers["x-ratelimit-reset"] == str(wait)


@pytest.mark.usefixtures("limits")
def test_events_under_the_limit_are_all_stored(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # when a write key sends 4 calls and a batch of 6: exactly its 10 events a minute
    calls = [client.post("/v1/track", json=track(), headers=tenant.write) for _ in range(4)]
    calls.append(client.post("/v1/batch", json=batch(6), headers=tenant.write))
    # then every one is accepted and stored
    assert [c.status_code for c in calls] == [200] * 5
    assert stored(session, tenant.id) == 10


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/track", track(), id="track"),
        pytest.param("/v1/identify", {"userId": "u-2", "traits": {"plan": "gold"}}, id="identify"),
        pytest.param("/v1/batch", batch(1), id="batch"),
    ],
)
def test_the_call_that_passes_the_limit_gets_429_and_stores_nothing(
    client: TestClient, tenant: Tenant, session: Session, path: str, body: dict[str, Any]
) -> None:
    # given a write key that has sent its 10 events this minute
    assert client.post("/v1/batch", json=batch(10), headers=tenant.write).status_code == 200
    # when it sends one more
    response = client.post(path, json=body, headers=tenant.write)
    # then it is refused with a problem naming the limit, and nothing of it is stored
    assert_refused(response)
    assert "10 per minute" in response.json()["detail"]
    assert stored(session, tenant.id) == 10


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize("path", ["/v1/t", "/v1/i", "/v1/b"])
def test_a_browser_reads_the_429_of_a_one_letter_path(
    client: TestClient, tenant: Tenant, session: Session, path: str
) -> None:
    # given a write key that has sent its 10 events this minute
    assert client.post("/v1/batch", json=batch(10), headers=tenant.write).status_code == 200
    # when analytics.js on another site posts one more (text/plain, the key in the body)
    body = {"batch": [{"type": "track", **track()}]} if path == "/v1/b" else track()
    response = client.post(
        path,
        content=orjson.dumps({**body, "writeKey": tenant.write_secret}),
        headers={"Origin": SITE, "Content-Type": "text/plain"},
    )
    # then the 429 carries the CORS headers that let the page's script read it and its wait
    assert_refused(response)
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = response.headers["access-control-expose-headers"].split(",")
    assert {h.strip().lower() for h in exposed} == {"retry-after", "x-ratelimit-reset"}
    assert stored(session, tenant.id) == 10


@pytest.mark.usefixtures("limits")
def test_a_batch_counts_each_of_its_events_and_is_refused_whole(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given one batch of 8 events: one call, eight of the ten a minute
    assert client.post("/v1/batch", json=batch(8), headers=tenant.write).status_code == 200
    # when a batch of 3 would pass the limit, it is refused and none of its events is stored
    assert_refused(client.post("/v1/batch", json=batch(3), headers=tenant.write))
    assert stored(session, tenant.id) == 8
    # and the refused batch used none of the allowance: a batch of 2 still fits
    assert client.post("/v1/batch", json=batch(2), headers=tenant.write).status_code == 200
    assert stored(session, tenant.id) == 10


@pytest.mark.usefixtures("limits")
def test_a_batch_larger_than_a_whole_window_is_refused_as_too_large(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # when a batch has more events than the key may send in a minute (waiting would not help)
    response = client.post("/v1/batch", json=batch(11), headers=tenant.write)
    # then it is 413, not 429, and nothing is stored or counted
    assert_refused(response, status=413)
    assert "11 events" in response.json()["detail"]
    assert stored(session, tenant.id) == 0
    assert client.post("/v1/batch", json=batch(10), headers=tenant.write).status_code == 200


@pytest.mark.usefixtures("limits")
def test_one_keys_flood_does_not_limit_another_key(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a second write key of the same workspace and another workspace's key
    _key, same_workspace = accounts.create_key(session, workspace_id=tenant.id, kind="write")
    other = Tenant(session)
    # when the first key floods until it is refused
    replies = [client.post("/v1/track", json=track(), headers=tenant.write) for _ in range(15)]
    assert [r.status_code for r in replies] == [200] * 10 + [429] * 5
    # then the other keys still send their own ten events each
    for headers in (basic_auth(same_workspace), other.write):
        assert client.post("/v1/batch", json=batch(10), headers=headers).status_code == 200
    assert stored(session, tenant.id) == 20
    assert stored(session, other.id) == 10


BAD_KEYS = [
    pytest.param(lambda tenant, session: basic_auth("cxw_" + "x" * 43), id="unknown"),
    pytest.param(lambda tenant, session: basic_auth("not-a-write-key"), id="not-a-key"),
    pytest.param(lambda tenant, session: basic_auth(tenant.api_secret), id="api-key"),
    pytest.param(lambda tenant, session: {}, id="missing"),
    pytest.param(lambda tenant, session: {"Authorization": "Basic %%%"}, id="not-basic"),
    pytest.param(
        lambda tenant, session: basic_auth(revoked_write_key(session, tenant)), id="revoked"
    ),
]


def revoked_write_key(session: Session, tenant: Tenant) -> str:
    key, secret = accounts.create_key(session, workspace_id=tenant.id, kind="write")
    accounts.revoke_key(session, workspace_id=tenant.id, key_id=key.id)
    session.flush()
    return secret


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize("bad_key", BAD_KEYS)
def test_calls_without_a_valid_key_are_throttled_per_address(
    app: FastAPI, client: TestClient, tenant: Tenant, session: Session, bad_key: Any
) -> None:
    headers = bad_key(tenant, session)
    # when one address sends 3 calls without a valid write key, each is refused as such
    replies = [client.post("/v1/track", json=track(), headers=headers) for _ in range(3)]
    assert [r.status_code for r in replies] == [401] * 3
    # then its next such calls get 429 and store nothing, while a valid key from the same
    # address (another shop's visitor behind the same carrier) is still taken
    assert_refused(client.post("/v1/track", json=track(), headers=headers))
    refused = client.post("/v1/t", json=track(), headers={**headers, "Origin": SITE})
    assert_refused(refused)
    assert refused.headers["access-control-allow-origin"] == "*"
    assert stored(session, tenant.id) == 0
    taken = client.post("/v1/t", json=track(), headers={**tenant.write, "Origin": SITE})
    assert taken.status_code == 200
    assert stored(session, tenant.id) == 1
    # while another address is not held back, and its own wrong key is still only a 401
    with TestClient(app, client=OTHER_ADDRESS) as other:
        assert other.post("/v1/track", json=track(), headers=tenant.write).status_code == 200
        assert other.post("/v1/track", json=track(), headers=headers).status_code == 401
    assert stored(session, tenant.id) == 2


@pytest.mark.usefixtures("limits")
def test_calls_with_a_valid_key_do_not_count_against_the_address(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given an address that sent 10 good events and then 2 calls with an unknown key
    assert client.post("/v1/batch", json=batch(10), headers=tenant.write).status_code == 200
    unknown = basic_auth("cxw_" + "y" * 43)
    replies = [client.post("/v1/t", json=track(), headers=unknown) for _ in range(2)]
    assert [r.status_code for r in replies] == [401] * 2
    # when the key, now over its own limit, is refused: that is not a wrong key either
    assert client.post("/v1/track", json=track(), headers=tenant.write).status_code == 429
    # then the address still has its third try of an unknown key before it is held back
    assert client.post("/v1/t", json=track(), headers=unknown).status_code == 401
    assert client.post("/v1/t", json=track(), headers=unknown).status_code == 429


@pytest.mark.parametrize("field", ["ingest_write_key_limit", "ingest_bad_key_limit"])
@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("lots", id="words"),
        pytest.param("60000", id="no-window"),
        pytest.param("100 per fortnight", id="unknown-unit"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_limit_is_refused_at_start(field: str, rule: str) -> None:
    with pytest.raises(ValidationError, match="is not a rate limit such as"):
        Settings(**{field: rule})
