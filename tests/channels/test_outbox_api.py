"""The outbox REST API: the list (filters, cursor pages, no bodies, one workspace only), retry
of a failed message that then really goes out over SMTP (a local aiosmtpd server), refusals
that keep a message from being sent twice, cancel, roles, and problem+json for bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.channels import outbox, outbox_api
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.pagination import encode_cursor
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.models import AuditEntry, Workspace
from cxloop.models.channels import MESSAGE_CHANNELS, MESSAGE_STATUSES
from tests.factories import Tenant, make_customer, make_workspace, unique
from tests.helpers.outbox import add_message, reload
from tests.helpers.smtp import SmtpInbox


def audit_of(session: Session, workspace: Workspace, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == workspace.id, AuditEntry.action == action
            )
        )
    )


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- the list ----------------------------------------------------------------------------------


def test_the_list_is_newest_first_in_cursor_pages_without_bodies(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given five messages created a minute apart
    start = utcnow() - timedelta(hours=1)
    made = [
        add_message(session, tenant.workspace, created_at=start + timedelta(minutes=i))
        for i in range(5)
    ]

    # when the client pages through two at a time
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/outbox", params=params, headers=tenant.api)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # then every message came once, newest first, and no body was in any reply
    assert seen == [m.id for m in reversed(made)]
    assert pages == 3
    first = client.get("/api/v1/outbox", params={"limit": 1}, headers=tenant.api)
    [item] = first.json()["items"]
    assert set(item) == {
        "id",
        "channel",
        "purpose",
        "recipient",
        "subject",
        "status",
        "attempts",
        "last_error",
        "customer_id",
        "user_id",
        "send_after",
        "created_at",
        "sent_at",
        "reported_at",
    }
    assert (item["id"], item["subject"], item["status"]) == (
        made[-1].id,
        "[가나다 쇼핑] 주문은 만족스러우셨나요?",
        "queued",
    )
    assert "secret-token" not in first.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"status": "failed"}, ["failed"], id="status"),
        pytest.param({"status": "sent"}, ["sent"], id="other-status"),
        pytest.param({"channel": "email"}, ["failed", "sent", "queued"], id="channel"),
        pytest.param({"channel": "sms"}, [], id="channel-without-messages"),
        pytest.param({"recipient": "MINJI"}, ["queued"], id="recipient-ignores-case"),
        pytest.param({"recipient": "%"}, [], id="recipient-wildcard-is-literal"),
        pytest.param({"recipient": "shop.example", "status": "failed"}, ["failed"], id="both"),
    ],
)
def test_filters(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    params: dict[str, str],
    expected: list[str],
) -> None:
    add_message(session, tenant.workspace, recipient="minji.kim@example.com")
    add_message(session, tenant.workspace, recipient="jun@shop.example", status="sent")
    add_message(
        session,
        tenant.workspace,
        recipient="seoyeon@shop.example",
        status="failed",
        last_error="SMTP 550: No such user here",
    )

    response = client.get("/api/v1/outbox", params=params, headers=tenant.api)

    assert response.status_code == 200, response.text
    assert [item["status"] for item in response.json()["items"]] == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"status": "lost"}, "query.status", id="unknown-status"),
        pytest.param({"channel": "fax"}, "query.channel", id="unknown-channel"),
        pytest.param({"limit": "0"}, "query.limit", id="limit-too-small"),
        pytest.param({"limit": "201"}, "query.limit", id="limit-too-large"),
        pytest.param({"recipient": "a" * 321}, "query.recipient", id="search-too-long"),
    ],
)
def test_bad_filters_are_422_problems_naming_the_field(
    client: TestClient, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/outbox", params=params, headers=tenant.api)

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage"),
        pytest.param(encode_cursor(["not a time", 1]), id="not-a-time"),
        pytest.param(encode_cursor(["2025-01-01T00:00:00+00:00", 2**63]), id="huge-id"),
        pytest.param(encode_cursor([1, 2, 3]), id="wrong-shape"),
    ],
)
def test_a_forged_cursor_is_a_422_problem(
    client: TestClient, session: Session, tenant: Tenant, cursor: str
) -> None:
    add_message(session, tenant.workspace)

    response = client.get("/api/v1/outbox", params={"cursor": cursor}, headers=tenant.api)

    body = assert_problem(response, 422)
    assert body["detail"] == "The cursor is not one this server handed out."


def test_a_search_no_database_can_hold_is_a_422_problem(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    add_message(session, tenant.workspace)

    response = client.get("/api/v1/outbox", params={"recipient": "min\x00ji"}, headers=tenant.api)

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["recipient"]


def test_another_workspaces_messages_are_never_listed_nor_touched(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given a failed and a queued message in another workspace
    other = make_workspace(session)
    failed = add_message(session, other, status="failed", last_error="SMTP 550")
    queued = add_message(session, other, recipient="other-tenant@example.com")
    mine = add_message(session, tenant.workspace)

    # then the list shows only this workspace's, whatever the search
    listed = client.get("/api/v1/outbox", headers=tenant.api).json()["items"]
    assert [item["id"] for item in listed] == [mine.id]
    searched = client.get(
        "/api/v1/outbox", params={"recipient": "other-tenant"}, headers=tenant.api
    ).json()["items"]
    assert searched == []

    # and acting on their ids answers 404, changing nothing
    for path in (f"/api/v1/outbox/{failed.id}/retry", f"/api/v1/outbox/{queued.id}/cancel"):
        body = assert_problem(client.post(path, headers=tenant.api), 404)
        assert "in this workspace" in body["detail"]
    assert reload(session, failed).status == "failed"
    assert reload(session, queued).status == "queued"
    assert audit_of(session, tenant.workspace, "outbox.retry") == []


def test_an_unknown_or_out_of_range_id_is_404_or_422_never_500(
    client: TestClient, tenant: Tenant
) -> None:
    assert_problem(client.post("/api/v1/outbox/987654321/retry", headers=tenant.api), 404)
    assert_problem(client.post("/api/v1/outbox/0/cancel", headers=tenant.api), 422)
    assert_problem(client.post(f"/api/v1/outbox/{2**63}/retry", headers=tenant.api), 422)


# --- retry and cancel --------------------------------------------------------------------------


def test_a_retried_failed_message_goes_out_once_through_the_sender(
    client: TestClient,
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
) -> None:
    # given a message the SMTP server refused for good, so the sender failed it
    tenant = Tenant(session)
    to = f"{unique('minji')}@example.com"
    inbox.refuse.add(to)
    message = add_message(session, tenant.workspace, recipient=to)
    session.commit()
    smtp = inbox.settings(settings)
    channel_tasks.deliver_outbox(tx_database, settings=smtp)
    failed = reload(session, message)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "550" in failed.last_error

    # when the mailbox is fixed and the operator retries it
    inbox.refuse.discard(to)
    response = client.post(f"/api/v1/outbox/{message.id}/retry", headers=tenant.api)

    # then it is queued again, due now, with its full attempts, and the retry is audited
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["attempts"]) == (message.id, "queued", 0)
    assert "body_text" not in body and "secret-token" not in response.text
    [entry] = audit_of(session, tenant.workspace, "outbox.retry")
    assert (entry.target_type, entry.target_id, entry.actor_key_id) == (
        "outbound_message",
        str(message.id),
        tenant.api_key.id,
    )
    # the log names the customer, never the address (it outlives an erasure)
    assert entry.detail == {"customer_id": message.customer_id} and to not in str(entry.detail)

    # and the sender delivers it exactly once, however often it runs
    first = channel_tasks.deliver_outbox(tx_database, settings=smtp)
    channel_tasks.deliver_outbox(tx_database, settings=smtp, now=utcnow() + timedelta(hours=1))
    assert first.sent == 1
    [received] = inbox.to(to)
    assert received["Message-ID"].startswith(f"<cxloop-{message.id}@")
    sent = reload(session, message)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, "")

    # and retrying the now sent message is refused: it is not sent twice
    again = client.post(f"/api/v1/outbox/{message.id}/retry", headers=tenant.api)
    problem = assert_problem(again, 409)
    assert problem["detail"] == "This message was already sent; retrying it would send it twice."
    channel_tasks.deliver_outbox(tx_database, settings=smtp, now=utcnow() + timedelta(hours=2))
    assert len(inbox.to(to)) == 1
    assert reload(session, message).status == "sent"
    assert len(audit_of(session, tenant.workspace, "outbox.retry")) == 1


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        pytest.param(
            "sent", "This message was already sent; retrying it would send it twice.", id="sent"
        ),
        pytest.param(
            "queued", "Only a failed message can be retried; this one is queued.", id="queued"
        ),
        pytest.param(
            "sending", "Only a failed message can be retried; this one is sending.", id="sending"
        ),
        pytest.param(
            "cancelled",
            "Only a failed message can be retried; this one is cancelled.",
            id="cancelled",
        ),
    ],
)
def test_only_a_failed_message_can_be_retried(
    client: TestClient, session: Session, tenant: Tenant, status: str, detail: str
) -> None:
    message = add_message(session, tenant.workspace, status=status, attempts=1)

    response = client.post(f"/api/v1/outbox/{message.id}/retry", headers=tenant.api)

    assert assert_problem(response, 409)["detail"] == detail
    stored = reload(session, message)
    assert (stored.status, stored.attempts) == (status, 1)
    assert audit_of(session, tenant.workspace, "outbox.retry") == []


def test_a_message_interrupted_while_sending_is_not_retried(
    client: TestClient,
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
) -> None:
    # given a sender claimed a message and stopped before recording the outcome (the server
    # may have accepted it), and the next sender failed it after the lease
    tenant = Tenant(session)
    to = f"{unique('crash')}@example.com"
    message = add_message(session, tenant.workspace, recipient=to)
    session.commit()
    with tx_database.session() as worker:
        outbox.claim_due(worker, limit=500)
    later = utcnow() + outbox.SENDING_LEASE + timedelta(minutes=1)
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings), now=later)
    assert reload(session, message).status == "failed"

    # when the operator asks to retry it
    response = client.post(f"/api/v1/outbox/{message.id}/retry", headers=tenant.api)

    # then it is refused and stays failed, so it can never go out a second time
    assert "may have been delivered" in assert_problem(response, 409)["detail"]
    channel_tasks.deliver_outbox(
        tx_database, settings=inbox.settings(settings), now=later + timedelta(hours=1)
    )
    assert reload(session, message).status == "failed"
    assert inbox.to(to) == []


def test_a_cancelled_message_is_never_sent(
    client: TestClient,
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
) -> None:
    tenant = Tenant(session)
    to = f"{unique('cancel')}@example.com"
    message = add_message(session, tenant.workspace, recipient=to)
    session.commit()

    response = client.post(f"/api/v1/outbox/{message.id}/cancel", headers=tenant.api)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))
    assert inbox.to(to) == []
    assert reload(session, message).status == "cancelled"
    [entry] = audit_of(session, tenant.workspace, "outbox.cancel")
    assert (entry.target_type, entry.target_id) == ("outbound_message", str(message.id))
    # a second cancel is refused and not audited again
    again = client.post(f"/api/v1/outbox/{message.id}/cancel", headers=tenant.api)
    assert assert_problem(again, 409)["detail"] == (
        "Only a queued message can be cancelled; this one is cancelled."
    )
    assert len(audit_of(session, tenant.workspace, "outbox.cancel")) == 1


@pytest.mark.parametrize("status", ["sent", "failed", "sending"])
def test_only_a_queued_message_can_be_cancelled(
    client: TestClient, session: Session, tenant: Tenant, status: str
) -> None:
    message = add_message(session, tenant.workspace, status=status)

    response = client.post(f"/api/v1/outbox/{message.id}/cancel", headers=tenant.api)

    assert assert_problem(response, 409)["detail"] == (
        f"Only a queued message can be cancelled; this one is {status}."
    )
    assert reload(session, message).status == status


def test_a_message_to_a_customer_names_the_customer(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, email="minji@example.com")
    add_message(session, tenant.workspace, recipient="minji@example.com", customer_id=customer.id)

    [item] = client.get("/api/v1/outbox", headers=tenant.api).json()["items"]

    assert (item["customer_id"], item["recipient"]) == (customer.id, "minji@example.com")


# --- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "agent", "marketer", "analyst"])
def test_roles_below_admin_are_refused(
    client: TestClient, session: Session, tenant: Tenant, role: str
) -> None:
    failed = add_message(session, tenant.workspace, status="failed")
    queued = add_message(session, tenant.workspace)
    headers = tenant.key(role)

    assert_problem(client.get("/api/v1/outbox", headers=headers), 403)
    assert_problem(client.post(f"/api/v1/outbox/{failed.id}/retry", headers=headers), 403)
    assert_problem(client.post(f"/api/v1/outbox/{queued.id}/cancel", headers=headers), 403)
    assert reload(session, failed).status == "failed"
    assert reload(session, queued).status == "queued"


def test_an_admin_key_may_and_no_key_may_not(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    failed = add_message(session, tenant.workspace, status="failed")

    assert client.get("/api/v1/outbox", headers=tenant.key("admin")).status_code == 200
    assert_problem(client.get("/api/v1/outbox"), 401)
    response = client.post(f"/api/v1/outbox/{failed.id}/retry", headers=tenant.key("admin"))
    assert response.status_code == 200, response.text
    assert reload(session, failed).status == "queued"


def test_the_api_filters_name_every_status_and_channel_the_model_has() -> None:
    # the query parameters are Literals (for the OpenAPI schema); they must not drift
    assert get_args(outbox_api.MessageStatus) == MESSAGE_STATUSES
    assert get_args(outbox_api.MessageChannel) == MESSAGE_CHANNELS


# --- erasure -----------------------------------------------------------------------------------


def test_erasing_a_customer_cancels_and_blanks_their_mail_and_it_is_never_retried(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    who = make_customer(session, workspace=tenant.workspace, email=f"{unique('gone')}@example.com")
    other = make_customer(session, workspace=tenant.workspace)
    waiting = add_message(session, tenant.workspace, customer_id=who.id)
    failed = add_message(session, tenant.workspace, customer_id=who.id, status="failed")
    kept = add_message(session, tenant.workspace, customer_id=other.id)

    erased = client.post(f"/api/v1/customers/{who.id}/erase", headers=tenant.api)

    assert erased.status_code == 200, erased.text
    session.expire_all()
    assert (reload(session, waiting).status, reload(session, failed).status) == (
        "cancelled",
        "failed",
    )
    for message in (reload(session, waiting), reload(session, failed)):
        assert (message.recipient, message.subject, message.body_text, message.body_html) == (
            "",
            "",
            "",
            "",
        )
    assert reload(session, kept).recipient != "" and reload(session, kept).status == "queued"
    retried = client.post(f"/api/v1/outbox/{failed.id}/retry", headers=tenant.api)
    assert retried.status_code == 409
    assert "erased" in retried.json()["detail"]
