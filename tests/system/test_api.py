"""The REST API under /api/v1: keys and roles, workspace scoping, customers, consent,
data-subject rights, events and orders, keys and members administration, errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cxloop.accounts import invitations
from cxloop.accounts import service as accounts
from cxloop.models import ApiKey, AuditEntry, Customer, Event, Identity, MemberInvitation
from tests.factories import Tenant, bearer, make_customer, make_user, make_workspace

PROBLEM = "application/problem+json"


def create(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/customers", json=body, headers=tenant.api)
    assert response.status_code == 201, response.text
    return response.json()


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=tenant.write)
    assert response.json() == {"success": True}, response.text


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://cxloop.dev/problems/")
    return body


# --- authentication and roles ---


@pytest.mark.parametrize("case", ["missing", "unknown", "revoked", "write-key", "basic-scheme"])
def test_requests_without_a_live_api_key_are_401(
    client: TestClient, tenant: Tenant, session: Session, case: str
) -> None:
    headers = {
        "missing": {},
        "unknown": bearer("cxk_" + "n" * 43),
        "revoked": tenant.api,
        "write-key": bearer(tenant.write_secret),
        "basic-scheme": {"Authorization": "Basic Zm9vOmJhcg=="},
    }[case]
    if case == "revoked":
        accounts.revoke_key(session, workspace_id=tenant.id, key_id=tenant.api_key.id)
        session.flush()
    response = client.get("/api/v1/customers", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


FORBIDDEN_TO_VIEWERS = [
    pytest.param(
        "POST",
        "/api/v1/customers",
        {"identities": [{"kind": "user_id", "value": "x"}]},
        "customers write",
        id="create",
    ),
    pytest.param(
        "PATCH", "/api/v1/customers/{id}", {"display_name": "x"}, "customers write", id="update"
    ),
    pytest.param(
        "POST", "/api/v1/customers/{id}/merge", {"other_id": 1}, "customers merge", id="merge"
    ),
    pytest.param(
        "POST",
        "/api/v1/customers/{id}/consent",
        {"purpose": "marketing", "channel": "sms", "granted": True, "source": "x"},
        "consent write",
        id="consent",
    ),
    pytest.param("GET", "/api/v1/customers/{id}/export", None, "customers export", id="export"),
    pytest.param("POST", "/api/v1/customers/{id}/erase", None, "customers erase", id="erase"),
    pytest.param("GET", "/api/v1/keys", None, "keys manage", id="list-keys"),
    pytest.param("POST", "/api/v1/keys", {"kind": "write"}, "keys manage", id="create-key"),
    pytest.param("DELETE", "/api/v1/keys/{key}", None, "keys manage", id="revoke-key"),
    pytest.param("GET", "/api/v1/members", None, "members manage", id="list-members"),
    pytest.param(
        "POST",
        "/api/v1/invitations",
        {"email": "a@example.com", "role": "viewer"},
        "members manage",
        id="invite-member",
    ),
    pytest.param("GET", "/api/v1/audit", None, "audit read", id="audit"),
]


@pytest.mark.parametrize("role", ["viewer", "analyst"])
@pytest.mark.parametrize(("method", "path", "body", "permission"), FORBIDDEN_TO_VIEWERS)
def test_read_only_roles_cannot_change_anything(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    permission: str,
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, email="pii@example.com")
    session.flush()
    url = path.format(id=customer.id, key=tenant.write_key.id)
    response = client.request(method, url, json=body, headers=tenant.key(role))
    problem = assert_problem(response, 403)
    assert problem["detail"] == f"Your role ({role}) does not allow {permission}."
    # and nothing changed
    session.expire_all()
    assert session.get(Customer, customer.id).email == "pii@example.com"  # type: ignore[union-attr]
    assert session.get(ApiKey, tenant.write_key.id).revoked_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers",
        "/api/v1/customers/{id}",
        "/api/v1/customers/{id}/events",
        "/api/v1/customers/{id}/orders",
        "/api/v1/customers/{id}/consent/history",
    ],
)
def test_analysts_can_read(client: TestClient, tenant: Tenant, session: Session, path: str) -> None:
    customer = make_customer(session, workspace=tenant.workspace)
    session.flush()
    response = client.get(path.format(id=customer.id), headers=tenant.key("analyst"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/api/v1/customers/{b}", None, id="get"),
        pytest.param("PATCH", "/api/v1/customers/{b}", {"display_name": "hacked"}, id="update"),
        pytest.param("GET", "/api/v1/customers/{b}/events", None, id="events"),
        pytest.param("GET", "/api/v1/customers/{b}/orders", None, id="orders"),
        pytest.param("GET", "/api/v1/customers/{b}/export", None, id="export"),
        pytest.param("POST", "/api/v1/customers/{b}/erase", None, id="erase"),
        pytest.param("POST", "/api/v1/customers/{a}/merge", {"other_id": "{b}"}, id="merge-in"),
        pytest.param(
            "POST",
            "/api/v1/customers/{b}/consent",
            {"purpose": "service", "channel": "email", "granted": False, "source": "x"},
            id="consent",
        ),
        pytest.param("DELETE", "/api/v1/keys/{b_key}", None, id="revoke-key"),
    ],
)
def test_a_key_never_reaches_another_workspace(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    # given a customer in workspace A and one in workspace B
    other = Tenant(session)
    a = make_customer(session, workspace=tenant.workspace, user_id="a-1")
    b = make_customer(session, workspace=other.workspace, user_id="b-1", traits={"name": "B"})
    session.flush()
    ids = {"a": a.id, "b": b.id, "b_key": other.write_key.id}
    if body is not None and "other_id" in body:
        body = {"other_id": b.id}
    # when A's owner key asks for B's data
    response = client.request(method, path.format(**ids), json=body, headers=tenant.api)
    # then it does not exist for A, and B is untouched
    assert_problem(response, 404)
    session.expire_all()
    unchanged = session.get(Customer, b.id)
    assert unchanged is not None
    assert (unchanged.display_name, unchanged.merged_into_id, unchanged.erased_at) == (
        "B",
        None,
        None,
    )
    assert session.get(ApiKey, other.write_key.id).revoked_at is None  # type: ignore[union-attr]


def test_listing_shows_only_the_keys_workspace(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    other = Tenant(session)
    mine = make_customer(session, workspace=tenant.workspace, user_id="same-id")
    make_customer(session, workspace=other.workspace, user_id="same-id")
    session.flush()
    listed = client.get("/api/v1/customers", headers=tenant.api).json()
    assert [c["id"] for c in listed["items"]] == [mine.id]
    found = client.get("/api/v1/customers", params={"q": "same-id"}, headers=tenant.api).json()
    assert [c["id"] for c in found["items"]] == [mine.id]


# --- customers: search, filters, pagination ---


@pytest.fixture
def people(client: TestClient, tenant: Tenant) -> dict[str, int]:
    rows = {
        "kim": create(
            client,
            tenant,
            display_name="김민지",
            email="Minji.Kim@Example.com",
            phone="010-1234-5678",
            identities=[{"kind": "user_id", "value": "m-1"}],
        ),
        "lee": create(
            client,
            tenant,
            display_name="Lee Jun",
            email="jun@example.org",
            phone="+82 10 9876 5432",
        ),
        "park": create(
            client,
            tenant,
            display_name="박서준",
            identities=[{"kind": "kakao", "value": "kakao-777"}],
        ),
    }
    return {name: row["id"] for name, row in rows.items()}


@pytest.mark.parametrize(
    ("q", "who"),
    [
        pytest.param("민지", ["kim"], id="korean-name-part"),
        pytest.param("lee j", ["lee"], id="name-case-insensitive"),
        pytest.param("minji.kim@example.com", ["kim"], id="email"),
        pytest.param("MINJI", ["kim"], id="email-part-upper-case"),
        pytest.param("010-1234-5678", ["kim"], id="phone-010-form"),
        pytest.param("01098765432", ["lee"], id="phone-digits"),
        pytest.param("5678", ["kim"], id="phone-last-digits"),
        pytest.param("m-1", ["kim"], id="user-id"),
        pytest.param("kakao-777", ["park"], id="channel-id"),
        pytest.param("nobody", [], id="no-match"),
        pytest.param("99999999999999999999999", [], id="huge-number"),
        pytest.param("²", [], id="unicode-digit"),
    ],
)
def test_search_by_name_email_phone_or_identity(
    client: TestClient, tenant: Tenant, people: dict[str, int], q: str, who: list[str]
) -> None:
    response = client.get("/api/v1/customers", params={"q": q}, headers=tenant.api)
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["items"]] == [people[w] for w in who]


def test_created_customers_show_normalised_contact_details(
    client: TestClient, tenant: Tenant, people: dict[str, int]
) -> None:
    kim = client.get(f"/api/v1/customers/{people['kim']}", headers=tenant.api).json()
    assert (kim["email"], kim["phone"], kim["lifecycle_stage"]) == (
        "minji.kim@example.com",
        "+821012345678",
        "lead",
    )
    assert sorted((i["kind"], i["value"]) for i in kim["identities"]) == [
        ("email", "minji.kim@example.com"),
        ("phone", "+821012345678"),
        ("user_id", "m-1"),
    ]


def test_creating_with_a_known_identity_returns_that_customer(
    client: TestClient, tenant: Tenant, people: dict[str, int], session: Session
) -> None:
    again = create(
        client, tenant, identities=[{"kind": "user_id", "value": "m-1"}], traits={"tier": "vip"}
    )
    assert again["id"] == people["kim"]
    assert again["traits"] == {"tier": "vip"}
    assert len(client.get("/api/v1/customers", headers=tenant.api).json()["items"]) == 3


def test_filters_by_stage_orders_and_last_seen(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    now = datetime.now(UTC)
    buyer = make_customer(session, workspace=tenant.workspace, user_id="buyer")
    buyer.lifecycle_stage, buyer.order_count, buyer.last_seen_at = "customer", 1, now
    lurker = make_customer(session, workspace=tenant.workspace, user_id="lurker")
    lurker.last_seen_at = now - timedelta(days=40)
    session.flush()

    def ids(**params: Any) -> list[int]:
        response = client.get("/api/v1/customers", params=params, headers=tenant.api)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids(stage="customer") == [buyer.id]
    assert ids(stage="lead") == [lurker.id]
    assert ids(has_orders="true") == [buyer.id]
    assert ids(has_orders="false") == [lurker.id]
    assert ids(seen_after=(now - timedelta(days=1)).isoformat()) == [buyer.id]
    assert ids(seen_before=(now - timedelta(days=30)).isoformat()) == [lurker.id]
    assert_problem(client.get("/api/v1/customers?stage=vip", headers=tenant.api), 422)


@pytest.mark.parametrize("sort", ["recent", "created", "name"])
def test_cursor_pagination_walks_every_customer_once(
    client: TestClient, tenant: Tenant, session: Session, sort: str
) -> None:
    # given customers with ties on every sort key and some never seen
    seen = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    names = ["가", "가", "나", None, "Bob", "Bob", "Ann"]
    created = []
    for i, name in enumerate(names):
        c = make_customer(session, workspace=tenant.workspace, user_id=f"p-{i}")
        c.display_name = name
        c.last_seen_at = None if i % 3 == 0 else seen + timedelta(hours=i % 2)
        created.append(c.id)
    session.flush()
    # when the list is read two at a time
    walked: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"sort": sort, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/customers", params=params, headers=tenant.api).json()
        walked += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # then every customer comes exactly once
    assert sorted(walked) == sorted(created)
    assert len(walked) == len(set(walked))


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage"),
        pytest.param("WzEsMl0", id="numbers-only"),  # [1,2]
        pytest.param("WyJ4IiwieSJd", id="strings-only"),  # ["x","y"]
        pytest.param("WyJ4IiwxXQ", id="bad-time"),  # ["x",1]
        pytest.param("WyIyMDI2LTAxLTAxIiw5OTk5OTk5OTk5OTk5OTk5OTk5OV0", id="id-past-64-bits"),
    ],
)
@pytest.mark.parametrize("sort", ["recent", "created", "name"])
def test_a_forged_cursor_is_a_422_not_a_500(
    client: TestClient, tenant: Tenant, session: Session, cursor: str, sort: str
) -> None:
    customer = make_customer(session, workspace=tenant.workspace)
    session.flush()
    for url in (
        f"/api/v1/customers?sort={sort}&cursor={cursor}",
        f"/api/v1/customers/{customer.id}/events?cursor={cursor}",
        f"/api/v1/customers/{customer.id}/orders?cursor={cursor}",
    ):
        response = client.get(url, headers=tenant.api)
        if response.status_code == 200:  # e.g. a name cursor of two strings: still a 2xx page
            continue
        problem = assert_problem(response, 422)
        assert problem["detail"] == "The cursor is not one this server handed out."


# --- create, update, merge, consent ---


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"identities": [{"kind": "fax", "value": "1"}]},
            "identities.0.kind",
            id="unknown-identity-kind",
        ),
        pytest.param(
            {"identities": [{"kind": "user_id", "value": ""}]},
            "identities.0.value",
            id="empty-identity",
        ),
        pytest.param({"nickname": "x"}, "nickname", id="unknown-field"),
        pytest.param({"display_name": "x" * 201}, "display_name", id="name-too-long"),
        pytest.param({"traits": []}, "traits", id="traits-not-object"),
    ],
)
def test_invalid_bodies_are_422_with_field_errors(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.post("/api/v1/customers", json=body, headers=tenant.api), 422)
    assert field in [e["field"] for e in problem["errors"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
        pytest.param({"phone": "12"}, "phone", id="bad-phone"),
    ],
)
def test_invalid_contact_details_are_422(
    client: TestClient, tenant: Tenant, session: Session, body: dict[str, Any], field: str
) -> None:
    customer = make_customer(session, workspace=tenant.workspace)
    session.flush()
    problem = assert_problem(
        client.patch(f"/api/v1/customers/{customer.id}", json=body, headers=tenant.api), 422
    )
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_customer_needs_an_identity(client: TestClient, tenant: Tenant) -> None:
    problem = assert_problem(
        client.post("/api/v1/customers", json={"display_name": "Nobody"}, headers=tenant.api), 422
    )
    assert problem["detail"] == (
        "A customer needs at least one identity (user_id, email, phone, …)."
    )


def test_update_merges_traits_and_adds_contact_identities(
    client: TestClient, tenant: Tenant
) -> None:
    customer = create(
        client, tenant, identities=[{"kind": "user_id", "value": "u1"}], traits={"a": 1, "b": 2}
    )
    response = client.patch(
        f"/api/v1/customers/{customer['id']}",
        json={
            "traits": {"b": 3},
            "phone": "010-5555-6666",
            "display_name": "  최유리 ",
            "locale": "ko-KR",
        },
        headers=tenant.api,
    )
    body = response.json()
    assert (body["traits"], body["phone"], body["display_name"], body["locale"]) == (
        {"a": 1, "b": 3},
        "+821055556666",
        "최유리",
        "ko-KR",
    )
    assert ("phone", "+821055556666") in {(i["kind"], i["value"]) for i in body["identities"]}


def test_manual_merge_keeps_the_older_and_is_audited(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    older = create(client, tenant, identities=[{"kind": "user_id", "value": "old"}])
    newer = create(
        client, tenant, identities=[{"kind": "user_id", "value": "new"}], email="n@example.com"
    )
    # merged from the newer's side: the older still survives
    response = client.post(
        f"/api/v1/customers/{newer['id']}/merge", json={"other_id": older["id"]}, headers=tenant.api
    )
    body = response.json()
    assert (response.status_code, body["id"], body["email"]) == (200, older["id"], "n@example.com")
    assert sorted(i["value"] for i in body["identities"]) == ["n@example.com", "new", "old"]
    audit = client.get("/api/v1/audit", headers=tenant.api).json()["items"]
    assert (audit[0]["action"], audit[0]["target_id"], audit[0]["detail"]) == (
        "customer.merge",
        str(older["id"]),
        {"merged_id": newer["id"]},
    )
    # a second merge of the same pair is a conflict
    again = client.post(
        f"/api/v1/customers/{older['id']}/merge", json={"other_id": newer["id"]}, headers=tenant.api
    )
    assert_problem(again, 409)


def test_merging_a_customer_with_itself_is_a_conflict(client: TestClient, tenant: Tenant) -> None:
    one = create(client, tenant, identities=[{"kind": "user_id", "value": "x"}])
    response = client.post(
        f"/api/v1/customers/{one['id']}/merge", json={"other_id": one["id"]}, headers=tenant.api
    )
    assert_problem(response, 409)


def test_consent_ledger_keeps_history_and_shows_the_state_in_force(
    client: TestClient, tenant: Tenant
) -> None:
    customer = create(client, tenant, identities=[{"kind": "user_id", "value": "c1"}])
    url = f"/api/v1/customers/{customer['id']}/consent"
    for granted, source in ((True, "signup"), (False, "unsubscribe-link")):
        response = client.post(
            url,
            json={"purpose": "marketing", "channel": "kakao", "granted": granted, "source": source},
            headers=tenant.api,
        )
        assert response.status_code == 201
    client.post(
        url,
        json={"purpose": "service", "channel": "email", "granted": True, "source": "terms"},
        headers=tenant.api,
    )
    detail = client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.api).json()
    history = client.get(f"{url}/history", headers=tenant.api).json()
    assert sorted((c["purpose"], c["channel"], c["granted"]) for c in detail["consent"]) == [
        ("marketing", "kakao", False),
        ("service", "email", True),
    ]
    assert [(h["source"], h["granted"]) for h in history] == [
        ("signup", True),
        ("unsubscribe-link", False),
        ("terms", True),
    ]
    bad = client.post(
        url,
        json={"purpose": "spam", "channel": "kakao", "granted": True, "source": "x"},
        headers=tenant.api,
    )
    assert [e["field"] for e in assert_problem(bad, 422)["errors"]] == ["purpose"]


# --- events and orders of a customer ---


def test_events_and_orders_of_a_customer_page_newest_first(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    base = datetime(2026, 6, 1, tzinfo=UTC)
    events = [
        {
            "type": "track",
            "userId": "u1",
            "event": "Order Completed",
            "messageId": f"o-{i}",
            "timestamp": (base + timedelta(days=i)).isoformat(),
            "properties": {"order_id": f"O-{i}", "total": 1000 * (i + 1)},
        }
        for i in range(3)
    ] + [
        {
            "type": "page",
            "userId": "u1",
            "name": "Home",
            "messageId": f"p-{i}",
            "timestamp": (base + timedelta(days=i)).isoformat(),
            "context": {"library": {"name": "analytics.js"}},
        }
        for i in range(2)
    ]
    send(client, tenant, *events)
    customer_id = session.scalars(select(Event.customer_id).where(Event.message_id == "o-0")).one()

    def walk(path: str, **params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get(path, params=query, headers=tenant.api).json()
            seen += [i.get("message_id") or i.get("external_id") for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen

    events_path = f"/api/v1/customers/{customer_id}/events"
    assert walk(events_path) == ["o-2", "p-1", "o-1", "p-0", "o-0"]
    assert walk(events_path, type="page") == ["p-1", "p-0"]
    assert walk(events_path, channel="web") == ["p-1", "p-0"]
    assert walk(f"/api/v1/customers/{customer_id}/orders") == ["O-2", "O-1", "O-0"]
    assert_problem(client.get(f"{events_path}?type=purchase", headers=tenant.api), 422)


def test_unknown_customer_is_404(client: TestClient, tenant: Tenant) -> None:
    problem = assert_problem(client.get("/api/v1/customers/999999", headers=tenant.api), 404)
    assert problem["detail"] == "No customer with id 999999."


# --- data-subject export and erasure ---


def test_export_holds_everything_about_the_customer_and_is_audited(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"name": "정하늘", "email": "h@example.com"},
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Order Completed",
            "properties": {"order_id": "X-1", "total": 15000, "products": [{"product_id": "P"}]},
        },
    )
    customer_id = session.scalars(
        select(Event.customer_id).where(Event.workspace_id == tenant.id, Event.user_id == "u1")
    ).first()
    response = client.get(f"/api/v1/customers/{customer_id}/export", headers=tenant.api)
    data = response.json()
    assert response.status_code == 200
    assert (data["customer"]["display_name"], data["customer"]["email"]) == (
        "정하늘",
        "h@example.com",
    )
    assert sorted(i["value"] for i in data["identities"]) == ["h@example.com", "u1"]
    assert [e["type"] for e in data["events"]] == ["identify", "track"]
    assert [(o["order_id"], o["total"]) for o in data["orders"]] == [("X-1", "15000.00")]
    audit = client.get("/api/v1/audit", headers=tenant.api).json()["items"]
    assert [(a["action"], a["target_id"]) for a in audit][:1] == [
        ("customer.export", str(customer_id))
    ]


def test_erase_removes_personal_data_but_keeps_counts_and_is_audited(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a customer with traits, identities, consent, events with personal properties
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "u-erase",
            "anonymousId": "dev-1",
            "traits": {"name": "한지민", "email": "jimin@example.com", "phone": "010-2222-3333"},
            "context": {"ip": "203.0.113.9"},
        },
        {
            "type": "track",
            "userId": "u-erase",
            "event": "Order Completed",
            "properties": {
                "order_id": "E-1",
                "total": 20000,
                "email": "jimin@example.com",
                "shipping_address": "서울시 강남구",
            },
        },
    )
    customer_id = session.scalars(
        select(Event.customer_id).where(Event.workspace_id == tenant.id, Event.user_id == "u-erase")
    ).first()
    client.post(
        f"/api/v1/customers/{customer_id}/consent",
        json={"purpose": "marketing", "channel": "sms", "granted": True, "source": "form"},
        headers=tenant.api,
    )
    from cxloop.events import bus

    bus.drain(client.app.state.database)  # type: ignore[attr-defined]
    # when they are erased
    response = client.post(f"/api/v1/customers/{customer_id}/erase", headers=tenant.api)
    assert response.json() == {
        "customer_id": customer_id,
        "removed": {
            "identities": 4,
            "consent_records": 1,
            "events_scrubbed": 2,
            "orders_scrubbed": 1,
            "survey_responses_scrubbed": 0,
            "text_analyses_scrubbed": 0,
            "outbound_messages_cancelled": 0,
            "outbound_messages_scrubbed": 0,
            "conversations_scrubbed": 0,
            "conversation_messages_scrubbed": 0,
        },
    }
    # then no personal data is left, but the counts and amounts are
    detail = client.get(f"/api/v1/customers/{customer_id}", headers=tenant.api).json()
    assert (detail["display_name"], detail["email"], detail["phone"], detail["traits"]) == (
        None,
        None,
        None,
        {},
    )
    assert (detail["identities"], detail["consent"]) == ([], [])
    assert (detail["event_count"], detail["order_count"], detail["total_revenue"]) == (
        2,
        1,
        "20000.00",
    )
    assert detail["erased_at"] is not None
    events = client.get(f"/api/v1/customers/{customer_id}/events", headers=tenant.api).json()
    assert [(e["user_id"], e["anonymous_id"]) for e in events["items"]] == [(None, None)] * 2
    order_event = next(e for e in events["items"] if e["type"] == "track")
    assert order_event["properties"] == {"order_id": "E-1", "total": 20000}
    identify = next(e for e in events["items"] if e["type"] == "identify")
    assert (identify["properties"], identify["context"]) == ({}, {})
    audit = client.get("/api/v1/audit", headers=tenant.api).json()["items"]
    assert (audit[0]["action"], audit[0]["target_id"]) == ("customer.erase", str(customer_id))
    # and erasing again removes nothing more
    again = client.post(f"/api/v1/customers/{customer_id}/erase", headers=tenant.api).json()
    assert again == {"customer_id": customer_id, "removed": {}}


def test_erase_after_a_merge_leaves_no_personal_data_on_the_merged_profile(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    older = create(client, tenant, identities=[{"kind": "user_id", "value": "old"}])
    newer = create(
        client,
        tenant,
        identities=[{"kind": "user_id", "value": "new"}],
        display_name="Secret Name",
        email="secret@example.com",
        phone="010-7777-8888",
    )
    client.post(
        f"/api/v1/customers/{older['id']}/merge", json={"other_id": newer["id"]}, headers=tenant.api
    )
    client.post(f"/api/v1/customers/{older['id']}/erase", headers=tenant.api)
    session.expire_all()
    rows = session.execute(
        text("SELECT display_name, email, phone FROM customers WHERE workspace_id = :w"),
        {"w": tenant.id},
    ).all()
    assert rows and all(tuple(r) == (None, None, None) for r in rows)
    identities = session.scalars(select(Identity.value).where(Identity.workspace_id == tenant.id))
    assert list(identities) == []


# --- keys ---


def test_a_key_secret_is_shown_once_and_stored_only_as_a_hash(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    response = client.post(
        "/api/v1/keys", json={"kind": "api", "role": "analyst", "name": "BI"}, headers=tenant.api
    )
    created = response.json()
    secret = created["secret"]
    assert (response.status_code, created["kind"], created["role"], created["name"]) == (
        201,
        "api",
        "analyst",
        "BI",
    )
    assert secret.startswith("cxk_") and created["prefix"] == secret[:12]
    # the list never shows it again
    listed = client.get("/api/v1/keys", headers=tenant.api).json()["items"]
    assert all("secret" not in k for k in listed)
    assert created["id"] in [k["id"] for k in listed]
    # the database holds its SHA-256, never the secret
    row = (
        session.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": created["id"]})
        .mappings()
        .one()
    )
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.values())
    audit_rows = session.execute(text("SELECT detail FROM audit_log")).scalars().all()
    assert all(secret not in str(detail) for detail in audit_rows)
    # and it works with its role
    assert client.get("/api/v1/customers", headers=bearer(secret)).status_code == 200
    assert client.get("/api/v1/keys", headers=bearer(secret)).status_code == 403


def test_a_revoked_key_stops_working_at_once(client: TestClient, tenant: Tenant) -> None:
    created = client.post(
        "/api/v1/keys", json={"kind": "api", "role": "admin"}, headers=tenant.api
    ).json()
    assert client.get("/api/v1/customers", headers=bearer(created["secret"])).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{created['id']}", headers=tenant.api).json()
    assert revoked["revoked_at"] is not None
    assert_problem(client.get("/api/v1/customers", headers=bearer(created["secret"])), 401)
    assert_problem(client.delete("/api/v1/keys/999999", headers=tenant.api), 404)


def test_a_revoked_write_key_stops_ingestion(client: TestClient, tenant: Tenant) -> None:
    client.delete(f"/api/v1/keys/{tenant.write_key.id}", headers=tenant.api)
    response = client.post("/v1/track", json={"userId": "u", "event": "E"}, headers=tenant.write)
    assert_problem(response, 401)


def test_only_an_owner_creates_owner_keys(client: TestClient, tenant: Tenant) -> None:
    admin = tenant.key("admin")
    response = client.post("/api/v1/keys", json={"kind": "api", "role": "owner"}, headers=admin)
    assert assert_problem(response, 422)["detail"] == "Only an owner can create an owner key."
    ok = client.post("/api/v1/keys", json={"kind": "api", "role": "agent"}, headers=admin)
    assert ok.status_code == 201


# --- members ---


def test_members_are_added_changed_and_removed(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    session.flush()
    invited = client.post(
        "/api/v1/invitations",
        json={"email": "New.Agent@Example.com", "role": "agent"},
        headers=tenant.api,
    )
    assert invited.status_code == 202
    assert (invited.json()["email"], invited.json()["status"]) == (
        "new.agent@example.com",
        "pending",
    )
    # they accept (here through the service, as the accept page does)
    agent_user = make_user(
        session, workspace=make_workspace(session), email="new.agent@example.com"
    )
    invitation = session.get(MemberInvitation, invited.json()["id"])
    assert invitation is not None
    token = "accept-token-" + "x" * 30
    invitation.token_hash = hashlib.sha256(token.encode()).hexdigest()
    invitations.accept(session, token=token, user=agent_user)
    session.flush()
    changed = client.patch(
        f"/api/v1/members/{agent_user.id}", json={"role": "admin"}, headers=tenant.api
    )
    assert changed.json()["role"] == "admin"
    listed = client.get("/api/v1/members", headers=tenant.api).json()["items"]
    assert sorted((m["email"], m["role"]) for m in listed) == sorted(
        [(owner.email, "owner"), ("new.agent@example.com", "admin")]
    )
    removed = client.delete(f"/api/v1/members/{agent_user.id}", headers=tenant.api)
    assert removed.status_code == 204
    listed = client.get("/api/v1/members", headers=tenant.api).json()["items"]
    assert [m["email"] for m in listed] == [owner.email]
    actions = [a["action"] for a in client.get("/api/v1/audit", headers=tenant.api).json()["items"]]
    assert actions[:4] == ["member.remove", "member.role", "invitation.accept", "invitation.create"]


def test_the_last_owner_cannot_be_demoted_or_removed(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    session.flush()
    demote = client.patch(f"/api/v1/members/{owner.id}", json={"role": "admin"}, headers=tenant.api)
    remove = client.delete(f"/api/v1/members/{owner.id}", headers=tenant.api)
    for response in (demote, remove):
        assert assert_problem(response, 409)["detail"] == (
            "A workspace needs at least one owner; make someone else owner first."
        )
    # with a second owner the first one can go
    second = make_user(session, workspace=tenant.workspace, role="owner")
    session.flush()
    assert client.delete(f"/api/v1/members/{owner.id}", headers=tenant.api).status_code == 204
    assert accounts.role_in(session, user_id=second.id, workspace_id=tenant.id) == "owner"


def test_member_errors(client: TestClient, tenant: Tenant, session: Session) -> None:
    with_password = client.post(
        "/api/v1/invitations",
        json={"email": "fresh@example.com", "role": "viewer", "password": "a-long-password-1"},
        headers=tenant.api,
    )
    assert [e["field"] for e in assert_problem(with_password, 422)["errors"]] == ["password"]
    bad_role = client.post(
        "/api/v1/invitations", json={"email": "x@example.com", "role": "god"}, headers=tenant.api
    )
    assert [e["field"] for e in assert_problem(bad_role, 422)["errors"]] == ["role"]
    assert_problem(
        client.patch("/api/v1/members/999999", json={"role": "viewer"}, headers=tenant.api), 404
    )
    assert_problem(client.delete("/api/v1/members/999999", headers=tenant.api), 404)
    admin_makes_owner = client.post(
        "/api/v1/invitations",
        json={"email": "o@example.com", "role": "owner"},
        headers=tenant.key("admin"),
    )
    assert assert_problem(admin_makes_owner, 403)["detail"] == (
        "Only an owner can make someone an owner."
    )


# --- errors ---


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/api/v1/nothing-here", 404, id="unknown-route"),
        pytest.param("PUT", "/api/v1/customers", 405, id="wrong-method"),
        pytest.param("GET", "/api/v1/customers?limit=0", 422, id="limit-too-small"),
        pytest.param("GET", "/api/v1/customers?limit=abc", 422, id="limit-not-a-number"),
        pytest.param("GET", "/api/v1/customers/0", 422, id="id-out-of-range"),
        pytest.param("GET", "/api/v1/customers?sort=random", 422, id="unknown-sort"),
    ],
)
def test_errors_are_problem_json(
    client: TestClient, tenant: Tenant, method: str, path: str, status: int
) -> None:
    assert_problem(client.request(method, path, headers=tenant.api), status)


def test_a_body_that_is_not_json_is_a_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/api/v1/customers",
        content=b"{nope",
        headers={**tenant.api, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


def test_openapi_documents_bearer_auth_and_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/identify",
        "/v1/track",
        "/v1/page",
        "/v1/screen",
        "/v1/group",
        "/v1/alias",
        "/v1/batch",
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/merge",
        "/api/v1/customers/{customer_id}/consent",
        "/api/v1/customers/{customer_id}/export",
        "/api/v1/customers/{customer_id}/erase",
        "/api/v1/customers/{customer_id}/events",
        "/api/v1/customers/{customer_id}/orders",
        "/api/v1/keys",
        "/api/v1/keys/{key_id}",
        "/api/v1/members",
        "/api/v1/members/{user_id}",
        "/api/v1/members/{user_id}/sign-out",
        "/api/v1/invitations",
        "/api/v1/invitations/{invitation_id}",
        "/api/v1/invitations/{invitation_id}/resend",
        "/api/v1/audit",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_audit_pages_newest_first(client: TestClient, tenant: Tenant, session: Session) -> None:
    for i in range(5):
        accounts.record_audit(session, principal=None, action=f"test.{i}", workspace_id=tenant.id)
    session.flush()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/audit", params=params, headers=tenant.api).json()
        seen += [a["action"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["test.4", "test.3", "test.2", "test.1", "test.0"]
    entries = session.scalars(
        select(AuditEntry.actor_label).where(AuditEntry.workspace_id == tenant.id)
    )
    assert set(entries) == {"system"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "lone@example.com", "traits": {"k": "\\udfff"}}',
        b'{"email": "lone@example.com", "traits": {"\\ud800": 1}}',
    ],
)
def test_a_lone_surrogate_in_a_body_is_a_422_problem(
    client: TestClient, tenant: Tenant, body: bytes
) -> None:
    response = client.post(
        "/api/v1/customers",
        content=body,
        headers={**tenant.api, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "surrogate" in response.json()["detail"]


def test_an_escaped_emoji_is_valid_text(client: TestClient, tenant: Tenant) -> None:
    body = b'{"email": "emoji@example.com", "traits": {"mood": "\\ud83d\\ude00"}}'
    response = client.post(
        "/api/v1/customers",
        content=body,
        headers={**tenant.api, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["traits"] == {"mood": "😀"}
