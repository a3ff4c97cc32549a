"""Macros: one click replies with a canned reply, changes tags, priority, team, assignee and
status, each exactly once and through the same services as by hand (the reply is queued in the
outbox once, the SLA clock sees one first response); a reply that needs values the conversation
does not know asks for them; kept by admins through the API, the settings page and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.models import (
    AuditEntry,
    Conversation,
    ConversationMessage,
    Macro,
    OutboundMessage,
    User,
)
from tests.care.test_canned import conversation_of, create, new_inbox
from tests.factories import Tenant, make_user
from tests.helpers.cli import Cli
from tests.helpers.web import flashes, get, login, post, text_of


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_inbox(client, tenant)


def macro(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/care/macros", json={"name": "환불 완료", **fields}, headers=tenant.api
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def apply(
    client: TestClient,
    tenant: Tenant,
    conversation_id: int,
    macro_id: int,
    values: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"/api/v1/care/conversations/{conversation_id}/macros/{macro_id}",
        json={"values": values or {}},
        headers=tenant.api,
    )


def replies_of(session: Session, conversation_id: int) -> list[ConversationMessage]:
    return list(
        session.scalars(
            select(ConversationMessage).where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.direction == "out",
            )
        )
    )


def test_a_macro_applies_every_action_once(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    member = make_user(session, workspace=tenant.workspace, role="agent")
    conversation_id = conversation_of(client, hook)
    tagged = client.patch(
        f"/api/v1/care/conversations/{conversation_id}",
        json={"tags": ["배송", "문의"]},
        headers=tenant.api,
    )
    assert tagged.status_code == 200
    reply = create(client, tenant, body="{{customer.name}}님, 환불을 마쳤습니다.")
    made = macro(
        client,
        tenant,
        canned_reply_id=reply["id"],
        add_tags=["환불", "배송"],
        remove_tags=["문의"],
        status="resolved",
        priority="low",
        team="billing",
        assign_mode="user",
        assignee_id=member.id,
    )

    applied = apply(client, tenant, conversation_id, made["id"])

    assert applied.status_code == 200, applied.text
    body = applied.json()
    session.expire_all()
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    [sent] = replies_of(session, conversation_id)
    assert body == {
        "conversation_id": conversation_id,
        "status": "resolved",
        "priority": "low",
        "tags": ["배송", "환불"],
        "team": "billing",
        "assignee_id": member.id,
        "snoozed_until": None,
        "reply_message_id": sent.id,
    }
    assert sent.body_text == "김민지님, 환불을 마쳤습니다."
    assert sent.details == {"macro_id": made["id"]}
    outbox = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == tenant.id,
            OutboundMessage.dedupe_key == f"care:reply:{sent.id}",
        )
    ).all()
    assert [(m.recipient, m.body_text) for m in outbox] == [
        ("minji@example.com", "김민지님, 환불을 마쳤습니다.")
    ]
    assert conversation.first_response_at == sent.created_at
    assert conversation.resolved_at is not None


def test_a_snoozing_macro_snoozes_for_its_minutes_and_assigns_whoever_applies_it(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = conversation_of(client, hook)
    made = macro(client, tenant, status="snoozed", snooze_minutes=90, assign_mode="nobody")
    mine = macro(client, tenant, name="내가 맡기", assign_mode="me")
    before = utcnow()

    applied = apply(client, tenant, conversation_id, made["id"]).json()
    by_key = apply(client, tenant, conversation_id, mine["id"])

    until = datetime.fromisoformat(applied["snoozed_until"])
    assert applied["status"] == "snoozed" and applied["assignee_id"] is None
    assert before + timedelta(minutes=90) <= until <= utcnow() + timedelta(minutes=90)
    assert replies_of(session, conversation_id) == []
    # An API key is nobody: a macro that assigns to whoever applies it is refused.
    assert by_key.status_code == 422


def test_a_reply_that_needs_unknown_values_asks_for_them_and_changes_nothing(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = conversation_of(client, hook)
    reply = create(client, tenant, body="주문 {{order.number}} 환불 완료")
    made = macro(client, tenant, canned_reply_id=reply["id"], status="resolved")

    asked = apply(client, tenant, conversation_id, made["id"])
    session.expire_all()
    untouched = session.get(Conversation, conversation_id)
    assert untouched is not None and untouched.status == "open"
    filled = apply(client, tenant, conversation_id, made["id"], {"order.number": "A-9"})

    assert asked.status_code == 422
    assert asked.json()["errors"] == [{"field": "values.order.number", "message": "missing"}]
    assert filled.status_code == 200 and filled.json()["status"] == "resolved"
    assert [m.body_text for m in replies_of(session, conversation_id)] == ["주문 A-9 환불 완료"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"status": "snoozed"}, "snooze_minutes", id="snooze-without-minutes"),
        pytest.param({"assign_mode": "user"}, "assignee_id", id="assign-nobody-named"),
        pytest.param({"assign_mode": "user", "assignee_id": 999999}, "assignee_id", id="stranger"),
        pytest.param({"name": "  "}, "name", id="blank-name"),
        pytest.param({"add_tags": ["a\u0000"]}, "add_tags", id="nul-in-a-tag"),
    ],
)
def test_a_macro_that_cannot_work_is_refused(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/care/macros", json={"name": "x", **fields}, headers=tenant.api)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_agents_apply_macros_admins_keep_them_other_workspaces_see_none(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    agent = tenant.key("agent")
    conversation_id = conversation_of(client, hook)
    made = macro(client, tenant, priority="urgent")
    second = macro(client, tenant, name="보류", status="pending")
    other = Tenant(session)
    first_page = client.get("/api/v1/care/macros?limit=1", headers=agent).json()
    next_page = client.get(
        f"/api/v1/care/macros?limit=1&cursor={first_page['next_cursor']}", headers=agent
    ).json()
    assert [m["id"] for m in first_page["items"] + next_page["items"]] == [second["id"], made["id"]]
    assert (
        client.delete(f"/api/v1/care/macros/{second['id']}", headers=tenant.api).status_code == 204
    )

    refused = client.post("/api/v1/care/macros", json={"name": "y"}, headers=agent)
    applied = apply(client, tenant, conversation_id, made["id"])
    foreign = client.post(
        f"/api/v1/care/conversations/{conversation_id}/macros/{made['id']}", headers=other.api
    )
    replaced = client.put(
        f"/api/v1/care/macros/{made['id']}",
        json={"name": "긴급", "priority": "high"},
        headers=tenant.api,
    )
    taken = client.post("/api/v1/care/macros", json={"name": "긴급"}, headers=tenant.api)
    deleted = client.delete(f"/api/v1/care/macros/{made['id']}", headers=tenant.api)

    assert refused.status_code == 403
    assert applied.json()["priority"] == "urgent"
    assert foreign.status_code == 404
    assert replaced.json()["name"] == "긴급" and replaced.json()["priority"] == "high"
    assert taken.status_code == 409
    assert deleted.status_code == 204
    assert client.get("/api/v1/care/macros", headers=tenant.api).json() == {
        "items": [],
        "next_cursor": None,
    }
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.workspace_id == tenant.id, AuditEntry.action.like("care.macro_%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "care.macro_create",
        "care.macro_create",
        "care.macro_delete",
        "care.macro_update",
        "care.macro_delete",
    ]


# --- pages and CLI -------------------------------------------------------------------------------


@pytest.fixture
def admin(client: TestClient, session: Session, tenant: Tenant) -> User:
    user = make_user(session, workspace=tenant.workspace, role="admin", locale="ko")
    user.display_name = "박관리"
    session.flush()
    assert login(client, user.email).status_code == 303
    return user


def test_the_conversation_pane_applies_a_macro_and_asks_for_missing_values(
    client: TestClient, session: Session, tenant: Tenant, hook: str, admin: User
) -> None:
    conversation_id = conversation_of(client, hook)
    reply = create(client, tenant, body="{{order.number}} 확인 - {{agent.name}}")
    made = macro(client, tenant, canned_reply_id=reply["id"], add_tags=["확인"], assign_mode="me")
    page = get(client, f"/inbox/{conversation_id}")

    asked = post(
        client,
        f"/inbox/{conversation_id}/macros/{made['id']}",
        {"next": f"/inbox/{conversation_id}"},
    )
    done = post(
        client,
        f"/inbox/{conversation_id}/macros/{made['id']}",
        {"next": f"/inbox/{conversation_id}", "var.order.number": "A-1"},
    )

    assert f'id="macro-{made["id"]}"' in page.text and "환불 완료" in text_of(page)
    assert asked.status_code == 200
    assert 'id="macro-prompt"' in asked.text and 'name="var.order.number"' in asked.text
    assert 'name="var.agent.name"' not in asked.text
    assert done.status_code == 303 and done.headers["location"] == f"/inbox/{conversation_id}"
    assert flashes(get(client, f"/inbox/{conversation_id}")) == [
        ("success", "매크로 '환불 완료'을(를) 적용했습니다.")
    ]
    session.expire_all()
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    assert (conversation.assignee_id, conversation.tags) == (admin.id, ["확인"])
    assert [m.body_text for m in replies_of(session, conversation_id)] == ["A-1 확인 - 박관리"]


def test_the_settings_page_keeps_macros_and_deletes_after_confirming(
    client: TestClient, session: Session, tenant: Tenant, admin: User
) -> None:
    created = post(
        client,
        "/settings/macros",
        {"name": "미루기", "status": "snoozed", "snooze_minutes": "60", "add_tags": "보류, 확인"},
    )
    refused = post(client, "/settings/macros", {"name": "잘못", "status": "snoozed"})
    made = session.scalars(select(Macro).where(Macro.workspace_id == tenant.id)).one()
    edited = post(
        client,
        f"/settings/macros/{made.id}",
        {"name": "미루기", "priority": "high", "assign": "me"},
    )
    confirm = get(client, f"/settings/macros/{made.id}/delete")
    deleted = post(client, f"/settings/macros/{made.id}/delete")

    assert created.status_code == 303
    assert refused.status_code == 422 and 'id="macro-error"' in refused.text
    assert edited.status_code == 303
    assert confirm.status_code == 200 and "매크로 '미루기'을(를) 삭제할까요?" in text_of(confirm)
    assert deleted.status_code == 303
    count = session.scalar(
        select(func.count()).select_from(Macro).where(Macro.workspace_id == tenant.id)
    )
    assert count == 0


def test_the_cli_creates_lists_and_deletes_macros(cli: Cli, slug: str) -> None:
    made = cli(
        "care",
        "macro",
        "create",
        "-w",
        slug,
        "--name",
        "해결",
        "--status",
        "resolved",
        "--add-tag",
        "완료",
        "--assign",
        "nobody",
    )
    listed = cli("care", "macro", "list", "-w", slug)
    macro_id = made.out.split()[1]
    deleted = cli("care", "macro", "delete", macro_id, "-w", slug, "--yes")
    after = cli("care", "macro", "list", "-w", slug)

    assert made.code == 0, made.err
    assert "해결" in listed.out and "+완료" in listed.out and "resolved" in listed.out
    assert deleted.code == 0 and "해결" not in after.out
