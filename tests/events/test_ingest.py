"""Segment-compatible ingestion under /v1: wire format, auth, limits, dedupe, clock skew,
channels, commerce events and durability."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.core.db import Database, make_engine
from cxloop.events.segment import parse_message
from cxloop.models import Customer, Event, Order, OrderItem, Product
from tests.factories import Tenant, basic_auth, bearer, make_key, make_workspace, unique

PROBLEM = "application/problem+json"


def events_of(session: Session, workspace_id: int) -> list[Event]:
    session.expire_all()
    return list(
        session.scalars(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id))
    )


def count(session: Session, model: type, workspace_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(model).where(model.workspace_id == workspace_id)  # type: ignore[attr-defined]
    )


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- the six calls and batch ---

CALLS = [
    pytest.param("identify", {"userId": "u1", "traits": {"name": "김민지"}}, None, id="identify"),
    pytest.param("track", {"userId": "u1", "event": "Signed Up"}, "Signed Up", id="track"),
    pytest.param("page", {"anonymousId": "a1", "name": "Home"}, "Home", id="page"),
    pytest.param("screen", {"userId": "u1", "name": "Cart"}, "Cart", id="screen"),
    pytest.param("group", {"userId": "u1", "groupId": "g1"}, None, id="group"),
    pytest.param("alias", {"userId": "u1", "previousId": "a9"}, None, id="alias"),
]


@pytest.mark.parametrize(("kind", "body", "name"), CALLS)
def test_each_call_is_accepted_and_stored_with_its_type(
    client: TestClient, tenant: Tenant, session: Session, kind: str, body: dict[str, Any], name: str
) -> None:
    # when one call of each type is posted to its endpoint
    response = client.post(f"/v1/{kind}", json=body, headers=tenant.write)
    # then Segment's exact success body comes back and one event of that type is stored
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [event] = events_of(session, tenant.id)
    assert (event.type, event.name) == (kind, name)


def test_a_write_key_records_when_it_was_last_used(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    assert tenant.write_key.last_used_at is None
    client.post("/v1/track", json={"userId": "u1", "event": "Used"}, headers=tenant.write)
    session.refresh(tenant.write_key)
    first = tenant.write_key.last_used_at
    assert first is not None
    # within the minute it is not rewritten on every call
    client.post("/v1/track", json={"userId": "u1", "event": "Again"}, headers=tenant.write)
    session.refresh(tenant.write_key)
    assert tenant.write_key.last_used_at == first


def test_nul_characters_are_stored_as_replacement_characters(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a track whose property key, value and name carry NUL (valid JSON as \u0000,
    # but not storable in PostgreSQL text)
    body = (
        b'{"userId": "u-nul", "event": "Sea\\u0000rch", "properties": {"q\\u0000": ["a\\u0000b"]}}'
    )
    response = client.post(
        "/v1/track", content=body, headers={**tenant.write, "Content-Type": "application/json"}
    )
    # then it is accepted and kept, NUL replaced by U+FFFD on every database
    assert response.json() == {"success": True}
    [event] = events_of(session, tenant.id)
    assert event.name == "Sea\ufffdrch"
    assert event.properties == {"q\ufffd": ["a\ufffdb"]}


def test_batch_stores_every_event_in_order(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    batch = [
        {"type": "identify", "userId": "u1", "messageId": "m1"},
        {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "m2"},
        {"type": "page", "anonymousId": "a1", "messageId": "m3"},
        {"type": "screen", "userId": "u1", "name": "Home", "messageId": "m4"},
        {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "m5"},
        {"type": "alias", "userId": "u1", "previousId": "a1", "messageId": "m6"},
    ]
    response = client.post("/v1/batch", json={"batch": batch}, headers=tenant.write)
    assert response.json() == {"success": True}
    assert [(e.message_id, e.type) for e in events_of(session, tenant.id)] == [
        ("m1", "identify"),
        ("m2", "track"),
        ("m3", "page"),
        ("m4", "screen"),
        ("m5", "group"),
        ("m6", "alias"),
    ]


def test_analytics_js_short_batch_path_is_accepted(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    body = {"batch": [{"type": "track", "anonymousId": "a1", "event": "Clicked"}]}
    assert client.post("/v1/b", json=body, headers=tenant.write).json() == {"success": True}
    assert len(events_of(session, tenant.id)) == 1


# --- authentication ---


@pytest.mark.parametrize(
    "how",
    ["basic-empty-password", "basic-without-colon", "writeKey-in-body"],
)
def test_write_key_is_taken_from_basic_auth_or_the_body(
    client: TestClient, tenant: Tenant, session: Session, how: str
) -> None:
    body: dict[str, Any] = {"userId": "u1", "event": "Signed Up"}
    headers: dict[str, str] = {}
    if how == "basic-empty-password":
        headers = basic_auth(tenant.write_secret)
    elif how == "basic-without-colon":
        import base64

        headers = {
            "Authorization": "Basic " + base64.b64encode(tenant.write_secret.encode()).decode()
        }
    else:
        body["writeKey"] = tenant.write_secret
    response = client.post("/v1/track", json=body, headers=headers)
    assert response.json() == {"success": True}
    assert len(events_of(session, tenant.id)) == 1


@pytest.mark.parametrize("case", ["missing", "unknown", "revoked", "api-key", "not-base64"])
def test_ingestion_without_a_live_write_key_is_401(
    client: TestClient, tenant: Tenant, session: Session, case: str
) -> None:
    headers: dict[str, str] = {}
    if case == "unknown":
        headers = basic_auth("cxw_" + "x" * 43)
    elif case == "revoked":
        accounts.revoke_key(session, workspace_id=tenant.id, key_id=tenant.write_key.id)
        session.flush()
        headers = tenant.write
    elif case == "api-key":
        headers = basic_auth(tenant.api_secret)
    elif case == "not-base64":
        headers = {"Authorization": "Basic !!!"}
    response = client.post("/v1/track", json={"userId": "u1", "event": "E"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 401
    assert events_of(session, tenant.id) == []


# --- bad input ---

BIG = "x" * (33 * 1024)
BAD = [
    pytest.param("/v1/track", b"{not json", "The body is not valid JSON", id="bad-json"),
    pytest.param("/v1/track", b"[1, 2]", "event: must be a JSON object", id="array-body"),
    pytest.param(
        "/v1/batch",
        b'"hello"',
        "The body must be a JSON object with a 'batch' array.",
        id="batch-not-object",
    ),
    pytest.param(
        "/v1/batch", b'{"batch": {}}', "'batch' must be an array of events.", id="batch-not-array"
    ),
    pytest.param("/v1/batch", b'{"batch": []}', "'batch' is empty.", id="batch-empty"),
    pytest.param(
        "/v1/identify",
        orjson.dumps({"traits": {"name": "x"}}),
        "event (identify): needs a 'userId' or an 'anonymousId'",
        id="no-user-or-anonymous-id",
    ),
    pytest.param(
        "/v1/track",
        orjson.dumps({"userId": "u1"}),
        "event (track): 'event' (the event name) is required",
        id="track-without-event",
    ),
    pytest.param(
        "/v1/group",
        orjson.dumps({"userId": "u1"}),
        "event (group): 'groupId' is required",
        id="group-without-groupId",
    ),
    pytest.param(
        "/v1/alias",
        orjson.dumps({"userId": "u1"}),
        "event (alias): 'previousId' and 'userId' are required",
        id="alias-without-previousId",
    ),
    pytest.param(
        "/v1/track",
        orjson.dumps({"userId": "u1", "event": "E", "timestamp": "yesterday"}),
        "event (track): 'timestamp' is not an ISO-8601 timestamp: 'yesterday'",
        id="bad-timestamp",
    ),
    pytest.param(
        "/v1/track",
        orjson.dumps({"userId": "u1", "event": "E", "properties": [1]}),
        "event (track): 'properties' must be an object",
        id="properties-not-object",
    ),
    pytest.param(
        "/v1/batch",
        orjson.dumps(
            {
                "batch": [
                    {"type": "track", "userId": "u1", "event": "ok"},
                    {"type": "track", "userId": "u1", "event": "big", "properties": {"b": BIG}},
                ]
            }
        ),
        "event 1 (track): larger than 32 KB",
        id="event-over-32KB-in-batch",
    ),
    pytest.param(
        "/v1/batch",
        orjson.dumps({"batch": [{"type": "wat", "userId": "u1"}]}),
        "event 0: 'type' must be one of identify, track, page, screen, group, alias",
        id="unknown-type-in-batch",
    ),
]


@pytest.mark.parametrize(("path", "body", "detail"), BAD)
def test_bad_input_is_a_400_problem_and_stores_nothing(
    client: TestClient, tenant: Tenant, session: Session, path: str, body: bytes, detail: str
) -> None:
    response = client.post(
        path, content=body, headers={**tenant.write, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 400
    assert problem["detail"].startswith(detail)
    assert events_of(session, tenant.id) == []


TOO_LARGE = [
    pytest.param(
        "/v1/track",
        orjson.dumps({"userId": "u1", "event": "big", "properties": {"b": BIG}}),
        "The request body is larger than 32 KB, the most this address accepts.",
        id="single-call-over-32KB",
    ),
    pytest.param(
        "/v1/batch",
        orjson.dumps(
            {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u1",
                        "event": "e",
                        "properties": {"b": "y" * 30_000},
                    }
                    for _ in range(18)
                ]
            }
        ),
        "The request body is larger than 500 KB, the most this address accepts.",
        id="batch-over-500KB",
    ),
]


@pytest.mark.parametrize(("path", "body", "detail"), TOO_LARGE)
def test_a_body_over_the_limit_is_a_413_problem_and_stores_nothing(
    client: TestClient, tenant: Tenant, session: Session, path: str, body: bytes, detail: str
) -> None:
    response = client.post(
        path, content=body, headers={**tenant.write, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "https://cxloop.dev/problems/content-too-large"
    assert response.json()["detail"] == detail
    assert events_of(session, tenant.id) == []


def test_batch_error_names_the_event_index_and_field(client: TestClient, tenant: Tenant) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "fine"},
        {"type": "track", "userId": "u1", "event": "fine"},
        {"type": "group", "userId": "u1"},
    ]
    problem = client.post("/v1/batch", json={"batch": batch}, headers=tenant.write).json()
    assert problem["title"] == "Event rejected"
    assert problem["detail"] == "event 2 (group): 'groupId' is required"
    assert problem["errors"] == [
        {"index": 2, "field": "groupId", "message": "'groupId' is required"}
    ]


def test_a_batch_with_one_bad_event_stores_nothing(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a batch whose first events are valid (a new profile, an order) and the last is not
    batch = [
        {"type": "identify", "userId": "new-user", "traits": {"email": "new@example.com"}},
        {
            "type": "track",
            "userId": "new-user",
            "event": "Order Completed",
            "properties": {"order_id": "O-1", "total": 1000},
        },
        {"type": "track", "userId": "new-user"},
    ]
    # when it is posted
    response = client.post("/v1/batch", json={"batch": batch}, headers=tenant.write)
    # then it is refused and not a single row of it was written
    assert response.status_code == 400
    session.expire_all()
    assert (
        count(session, Event, tenant.id),
        count(session, Customer, tenant.id),
        count(session, Order, tenant.id),
        count(session, Product, tenant.id),
    ) == (0, 0, 0, 0)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_accepted(
    client: TestClient, tenant: Tenant, session: Session, encoding: str
) -> None:
    raw = orjson.dumps({"batch": [{"type": "track", "userId": "u1", "event": "Zipped"}]})
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    response = client.post(
        "/v1/batch",
        content=body,
        headers={**tenant.write, "Content-Encoding": encoding, "Content-Type": "application/json"},
    )
    assert response.json() == {"success": True}
    assert [e.name for e in events_of(session, tenant.id)] == ["Zipped"]


def test_a_gzip_bomb_is_refused_by_its_inflated_size(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # 600 KB of JSON that compresses to almost nothing
    raw = orjson.dumps(
        {
            "batch": [
                {"type": "track", "userId": "u1", "event": "e", "properties": {"p": "0" * 600_000}}
            ]
        }
    )
    response = client.post(
        "/v1/batch",
        content=gzip.compress(raw),
        headers={**tenant.write, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The body is larger than 500 KB."
    assert events_of(session, tenant.id) == []


def test_invalid_gzip_is_a_400(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/v1/batch",
        content=b"not gzip at all",
        headers={**tenant.write, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The body is not valid gzip."


# --- context, dedupe, clock skew, time zones, channels ---


def test_batch_context_merges_into_each_event_and_the_event_wins(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    body = {
        "context": {"library": {"name": "analytics.js"}, "locale": "ko-KR"},
        "batch": [
            {"type": "track", "userId": "u1", "event": "A", "context": {"ip": "10.0.0.1"}},
            {
                "type": "track",
                "userId": "u1",
                "event": "B",
                "context": {"library": {"name": "analytics-ios"}},
            },
        ],
    }
    client.post("/v1/batch", json=body, headers=tenant.write)
    stored = [(e.name, e.context, e.channel) for e in events_of(session, tenant.id)]
    assert stored == [
        ("A", {"library": {"name": "analytics.js"}, "locale": "ko-KR", "ip": "10.0.0.1"}, "web"),
        ("B", {"library": {"name": "analytics-ios"}, "locale": "ko-KR"}, "ios"),
    ]


def test_a_message_id_is_stored_once_within_a_batch_and_across_requests(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    message = {"type": "track", "userId": "u1", "event": "Paid", "messageId": "dup-1"}
    first = client.post("/v1/batch", json={"batch": [message, message]}, headers=tenant.write)
    again = client.post("/v1/track", json=message, headers=tenant.write)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"success": True}
    assert [e.message_id for e in events_of(session, tenant.id)] == ["dup-1"]


def test_the_same_message_id_in_two_workspaces_is_two_events(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    other = Tenant(session)
    message = {"userId": "u1", "event": "Paid", "messageId": "shared-id"}
    client.post("/v1/track", json=message, headers=tenant.write)
    client.post("/v1/track", json=message, headers=other.write)
    assert len(events_of(session, tenant.id)) == 1
    assert len(events_of(session, other.id)) == 1


@pytest.mark.parametrize("where", ["on-the-event", "on-the-batch"])
def test_clock_skew_is_corrected_from_sent_at(
    client: TestClient, tenant: Tenant, session: Session, where: str
) -> None:
    # given a device whose clock runs one hour fast: it sent the event 5 s after it happened
    device_now = datetime.now(UTC) + timedelta(hours=1)
    event: dict[str, Any] = {
        "type": "track",
        "userId": "u1",
        "event": "Skewed",
        "originalTimestamp": iso(device_now - timedelta(seconds=5)),
    }
    body: dict[str, Any] = {"batch": [event]}
    if where == "on-the-event":
        event["sentAt"] = iso(device_now)
    else:
        body["sentAt"] = iso(device_now)
    before = datetime.now(UTC)
    client.post("/v1/batch", json=body, headers=tenant.write)
    [stored] = events_of(session, tenant.id)
    # then timestamp = receivedAt − (sentAt − originalTimestamp), in UTC
    assert before <= stored.received_at <= datetime.now(UTC)
    assert stored.timestamp == stored.received_at - timedelta(seconds=5)
    assert stored.timestamp.utcoffset() == timedelta(0)


def test_the_sdk_timestamp_field_is_skew_corrected_too(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # analytics-python and analytics.js send "timestamp" (not originalTimestamp) with sentAt
    device_now = datetime.now(UTC) - timedelta(minutes=30)
    body = {
        "sentAt": iso(device_now),
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "Slow clock",
                "timestamp": iso(device_now - timedelta(seconds=2)),
            }
        ],
    }
    client.post("/v1/batch", json=body, headers=tenant.write)
    [stored] = events_of(session, tenant.id)
    assert stored.timestamp == stored.received_at - timedelta(seconds=2)


def test_clock_skew_unit() -> None:
    received = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    message = parse_message(
        {
            "userId": "u1",
            "event": "E",
            "originalTimestamp": "2026-05-01T22:59:50+09:00",
            "sentAt": "2026-05-01T23:00:00+09:00",
        },
        type_="track",
        index=None,
        received_at=received,
    )
    assert message.timestamp == datetime(2026, 5, 1, 11, 59, 50, tzinfo=UTC)


def test_timestamps_without_sent_at_are_kept_and_stored_in_utc(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post(
        "/v1/track",
        json={"userId": "u1", "event": "KST", "timestamp": "2026-03-01T09:00:00+09:00"},
        headers=tenant.write,
    )
    [stored] = events_of(session, tenant.id)
    assert stored.timestamp == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    # and the column itself holds UTC (SQLite keeps no offset: it must be the UTC wall time)
    raw = session.execute(
        text("SELECT timestamp FROM events WHERE id = :id"), {"id": stored.id}
    ).scalar_one()
    if isinstance(raw, str):
        assert raw.startswith("2026-03-01 00:00:00")
    else:
        assert raw == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_an_event_without_a_timestamp_happened_when_received(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post("/v1/track", json={"userId": "u1", "event": "Now"}, headers=tenant.write)
    [stored] = events_of(session, tenant.id)
    assert stored.timestamp == stored.received_at


@pytest.mark.parametrize(
    ("context", "channel"),
    [
        pytest.param(
            {"library": {"name": "analytics.js", "version": "2.1"}}, "web", id="analytics.js"
        ),
        pytest.param({"library": {"name": "@segment/analytics-next"}}, "web", id="analytics-next"),
        pytest.param({"library": {"name": "analytics-ios"}}, "ios", id="ios"),
        pytest.param({"library": {"name": "analytics-swift"}}, "ios", id="swift"),
        pytest.param({"library": {"name": "analytics-android"}}, "android", id="android"),
        pytest.param({"library": {"name": "analytics-kotlin"}}, "android", id="kotlin"),
        pytest.param({"library": {"name": "analytics-react-native"}}, "mobile", id="react-native"),
        pytest.param({"library": {"name": "analytics-python"}}, "server", id="python"),
        pytest.param({}, "server", id="no-library"),
        pytest.param({"channel": "Browser"}, "web", id="explicit-browser"),
        pytest.param({"channel": "kakao"}, "kakao", id="explicit-channel"),
    ],
)
def test_channel_is_derived_from_the_context(
    client: TestClient, tenant: Tenant, session: Session, context: dict[str, Any], channel: str
) -> None:
    client.post(
        "/v1/track", json={"userId": "u1", "event": "E", "context": context}, headers=tenant.write
    )
    assert [e.channel for e in events_of(session, tenant.id)] == [channel]


def test_stored_event_is_readable_through_the_rest_api(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post(
        "/v1/track",
        json={
            "userId": "u1",
            "event": "Coupon Used",
            "messageId": "m-1",
            "properties": {"coupon": "WELCOME"},
            "timestamp": "2026-03-01T09:00:00+09:00",
            "context": {"library": {"name": "analytics.js"}},
        },
        headers=tenant.write,
    )
    [event] = events_of(session, tenant.id)
    page = client.get(f"/api/v1/customers/{event.customer_id}/events", headers=tenant.api).json()
    [item] = page["items"]
    assert {
        k: item[k] for k in ("message_id", "type", "name", "channel", "user_id", "timestamp")
    } == {
        "message_id": "m-1",
        "type": "track",
        "name": "Coupon Used",
        "channel": "web",
        "user_id": "u1",
        "timestamp": "2026-03-01T00:00:00Z",
    }
    assert item["properties"] == {"coupon": "WELCOME"}


# --- commerce ---


def order_completed(order_id: str, message_id: str, **props: Any) -> dict[str, Any]:
    return {
        "userId": "buyer-1",
        "event": "Order Completed",
        "messageId": message_id,
        "timestamp": "2026-04-02T10:00:00+09:00",
        "properties": {
            "order_id": order_id,
            "total": "39,000.4",
            "currency": "KRW",
            "coupon": "SPRING",
            "products": [
                {
                    "product_id": "P-1",
                    "sku": "SKU-1",
                    "name": "유기농 녹차",
                    "price": 12900,
                    "quantity": 2,
                    "category": "tea",
                },
                {"product_id": "P-2", "name": "찻잔", "price": "13200.6"},
            ],
            **props,
        },
    }


def test_order_completed_keeps_the_order_its_items_and_products(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post("/v1/track", json=order_completed("A-1001", "m-1"), headers=tenant.write)
    session.expire_all()
    order = session.scalars(select(Order).where(Order.workspace_id == tenant.id)).one()
    items = session.execute(
        select(OrderItem.external_product_id, OrderItem.name, OrderItem.price, OrderItem.quantity)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.id)
    ).all()
    products = session.execute(
        select(Product.external_id, Product.sku, Product.name, Product.category, Product.price)
        .where(Product.workspace_id == tenant.id)
        .order_by(Product.external_id)
    ).all()
    # KRW has no minor unit: amounts are whole won
    assert (order.external_id, order.status, order.total, order.currency, order.coupon) == (
        "A-1001",
        "completed",
        Decimal("39000"),
        "KRW",
        "SPRING",
    )
    assert order.placed_at == datetime(2026, 4, 2, 1, 0, tzinfo=UTC)
    assert items == [
        ("P-1", "유기농 녹차", Decimal("12900"), 2),
        ("P-2", "찻잔", Decimal("13201"), 1),
    ]
    assert products == [
        ("P-1", "SKU-1", "유기농 녹차", "tea", Decimal("12900")),
        ("P-2", None, "찻잔", None, Decimal("13201")),
    ]


def test_order_amounts_keep_cents_in_currencies_that_have_them(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    body = order_completed("US-1", "m-1", currency="usd", total=19.999)
    client.post("/v1/track", json=body, headers=tenant.write)
    session.expire_all()
    order = session.scalars(select(Order).where(Order.workspace_id == tenant.id)).one()
    assert (order.total, order.currency) == (Decimal("20.00"), "USD")


def test_the_same_order_under_another_message_id_is_one_order(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post("/v1/track", json=order_completed("A-1", "m-1"), headers=tenant.write)
    client.post("/v1/track", json=order_completed("A-1", "m-2"), headers=tenant.write)
    session.expire_all()
    assert count(session, Event, tenant.id) == 2
    assert count(session, Order, tenant.id) == 1


def test_order_refunded_changes_the_order_status(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    client.post("/v1/track", json=order_completed("A-1", "m-1"), headers=tenant.write)
    client.post(
        "/v1/track",
        json={"userId": "buyer-1", "event": "Order Refunded", "properties": {"order_id": "A-1"}},
        headers=tenant.write,
    )
    [first, _refund] = events_of(session, tenant.id)
    orders = client.get(f"/api/v1/customers/{first.customer_id}/orders", headers=tenant.api).json()[
        "items"
    ]
    assert [(o["external_id"], o["status"], o["total"]) for o in orders] == [
        ("A-1", "refunded", "39000.00")
    ]
    assert [i["external_product_id"] for i in orders[0]["items"]] == ["P-1", "P-2"]


# --- durability ---


@pytest.mark.live
def test_an_accepted_event_is_committed_before_the_200(
    live_server: str, database: Database
) -> None:
    # given a committed workspace with a write key
    with database.session() as s:
        workspace = make_workspace(s, slug=unique("durable-"))
        _key, secret = make_key(s, workspace=workspace, kind="write")
        workspace_id = workspace.id
    # when an event is sent to the real server
    response = httpx.post(
        f"{live_server}/v1/track",
        json={"userId": "u1", "event": "Durable", "messageId": "durable-1"},
        headers=basic_auth(secret),
    )
    assert response.json() == {"success": True}
    # then a brand-new connection sees it at once
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(Event.name, Event.message_id).where(Event.workspace_id == workspace_id)
            ).all()
    finally:
        engine.dispose()
    assert row == [("Durable", "durable-1")]


@pytest.mark.live
def test_a_live_server_answers_bearer_and_problem_json(live_server: str) -> None:
    response = httpx.get(f"{live_server}/api/v1/customers", headers=bearer("cxk_nope"))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
