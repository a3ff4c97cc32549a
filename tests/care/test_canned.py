"""Canned replies: variables filled from the conversation (customer, latest order, agent), the
ones a conversation does not know named so the agent is asked for them, nothing in a body ever
evaluated; kept through the API (admins), the settings page (with a confirmation before delete)
and the CLI; picked in the inbox's composer without JavaScript."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care.canned import VARIABLES, render_text
from cxloop.models import AuditEntry, CannedReply, Conversation, Order, User
from tests.care.test_email_conversations import mail
from tests.factories import Tenant, make_user
from tests.helpers.care_mail import deliver_mail
from tests.helpers.cli import Cli
from tests.helpers.web import flashes, get, login, post, text_of

BODY = (
    "안녕하세요 {{customer.name}} 고객님, 주문 {{order.number}}은 내일 도착합니다. - {{agent.name}}"
)


def new_inbox(client: TestClient, tenant: Tenant) -> str:
    """An email inbox's webhook path (with its secret token)."""
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": "고객센터", "address": "help@shop.example", "team": "support"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    path: str = made.json()["webhook_path"]
    return path


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_inbox(client, tenant)


def conversation_of(client: TestClient, hook: str, body: bytes | None = None) -> int:
    conversation_id: int = deliver_mail(client, hook, body or mail())["conversation_id"]
    return conversation_id


def add_order(session: Session, conversation_id: int, number: str, day: int) -> None:
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None and conversation.customer_id is not None
    session.add(
        Order(
            workspace_id=conversation.workspace_id,
            customer_id=conversation.customer_id,
            external_id=number,
            total=Decimal(39000),
            currency="KRW",
            placed_at=datetime(2026, 12, day, 3, 0, tzinfo=UTC),
        )
    )
    session.flush()


def create(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": "배송 안내", "shortcut": "/배송", "language": "ko", "body": BODY, **fields}
    response = client.post("/api/v1/care/canned-replies", json=body, headers=tenant.api)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def render(
    client: TestClient,
    tenant: Tenant,
    conversation_id: int,
    canned_id: int,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/care/conversations/{conversation_id}/canned/{canned_id}/render",
        json={"values": values or {}},
        headers=tenant.api,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- rendering ---------------------------------------------------------------------------------


def test_the_latest_order_fills_the_order_variables(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = conversation_of(client, hook)
    add_order(session, conversation_id, "20261101-0007", day=1)
    add_order(session, conversation_id, "20261205-0042", day=5)
    made = create(client, tenant, body="{{customer.name}}님 {{order.number}} ({{order.total}})")

    result = render(client, tenant, conversation_id, made["id"])

    assert result == {"text": "김민지님 20261205-0042 (₩39,000)", "missing": []}


def test_without_an_order_the_agent_is_asked_for_it_and_their_value_is_used(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = conversation_of(client, hook)
    made = create(client, tenant)

    asked = render(client, tenant, conversation_id, made["id"])
    filled = render(
        client,
        tenant,
        conversation_id,
        made["id"],
        {"order.number": "A-77", "agent.name": "이상담", "no.such": "x"},
    )

    # An API key is nobody: the agent's name is asked for too.
    assert asked == {
        "text": "안녕하세요 김민지 고객님, 주문 {{order.number}}은 내일 도착합니다. "
        "- {{agent.name}}",
        "missing": ["order.number", "agent.name"],
    }
    assert filled == {
        "text": "안녕하세요 김민지 고객님, 주문 A-77은 내일 도착합니다. - 이상담",
        "missing": [],
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{{ ''.__class__ }}", id="python-attribute"),
        pytest.param("{{ 7*7 }}", id="arithmetic"),
        pytest.param("{{ customer.__init__ }}", id="dunder-on-a-variable"),
        pytest.param("{% for x in range(3) %}x{% endfor %} {{ customer.secret }}", id="unknown"),
        pytest.param("{{customer.name", id="unclosed"),
        pytest.param("a\u0000b", id="nul"),
    ],
)
def test_a_body_with_anything_but_the_variables_is_refused(
    client: TestClient, tenant: Tenant, body: str
) -> None:
    response = client.post(
        "/api/v1/care/canned-replies",
        json={"name": "x", "shortcut": "/x", "language": "ko", "body": body},
        headers=tenant.api,
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "body"


def test_rendering_never_evaluates_what_a_body_holds() -> None:
    body = "{{ ''.__class__.__mro__ }} {{ 7*7 }} {% raw %} {{customer.name}} {{ customer.name }}"

    rendered = render_text(body, {"customer.name": "{{ 7*7 }} <b>김</b>"})

    # Only the variable is replaced, by plain text, once (a value is never rendered again).
    assert rendered.text == (
        "{{ ''.__class__.__mro__ }} {{ 7*7 }} {% raw %} {{ 7*7 }} <b>김</b> {{ 7*7 }} <b>김</b>"
    )
    assert rendered.missing == []
    assert set(VARIABLES) >= {"customer.name", "order.number", "agent.name"}


# --- keeping them ------------------------------------------------------------------------------


def test_agents_use_canned_replies_and_only_admins_change_them(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    agent = tenant.key("agent")
    made = create(client, tenant)

    refused = client.post(
        "/api/v1/care/canned-replies",
        json={"name": "x", "shortcut": "/x", "body": "x"},
        headers=agent,
    )
    listed = client.get("/api/v1/care/canned-replies", headers=agent)
    patched = client.patch(
        f"/api/v1/care/canned-replies/{made['id']}", json={"name": "배송"}, headers=agent
    )
    viewer = client.get("/api/v1/care/canned-replies", headers=tenant.key("viewer"))

    assert (refused.status_code, patched.status_code, viewer.status_code) == (403, 403, 403)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [made["id"]]
    assert listed.json()["items"][0]["variables"] == ["customer.name", "order.number", "agent.name"]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.id)
    ).all()
    assert actions.count("care.canned_create") == 1


def test_edit_delete_pages_and_conflicts_through_the_api(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    first = create(client, tenant)
    second = create(client, tenant, name="Delivery", shortcut="배송", language="en", body="Hi")
    taken = client.post(
        "/api/v1/care/canned-replies",
        json={"name": "again", "shortcut": "/배송", "language": "ko", "body": "x"},
        headers=tenant.api,
    )
    page = client.get("/api/v1/care/canned-replies?limit=1", headers=tenant.api).json()
    rest = client.get(
        f"/api/v1/care/canned-replies?limit=1&cursor={page['next_cursor']}", headers=tenant.api
    ).json()
    edited = client.patch(
        f"/api/v1/care/canned-replies/{first['id']}",
        json={"body": "{{customer.email}} 확인했습니다."},
        headers=tenant.api,
    )
    deleted = client.delete(f"/api/v1/care/canned-replies/{second['id']}", headers=tenant.api)
    gone = client.get(f"/api/v1/care/canned-replies/{second['id']}", headers=tenant.api)

    assert second["shortcut"] == "/배송"  # the slash is added; one per language
    assert taken.status_code == 409
    assert [r["id"] for r in page["items"] + rest["items"]] == [second["id"], first["id"]]
    assert rest["next_cursor"] is None
    assert edited.json()["variables"] == ["customer.email"]
    assert (deleted.status_code, gone.status_code) == (204, 404)


def test_another_workspace_neither_sees_nor_renders_them(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    made = create(client, tenant)
    conversation_id = conversation_of(client, hook)
    other = Tenant(session)

    shown = client.get(f"/api/v1/care/canned-replies/{made['id']}", headers=other.api)
    rendered = client.post(
        f"/api/v1/care/conversations/{conversation_id}/canned/{made['id']}/render",
        headers=other.api,
    )
    listed = client.get("/api/v1/care/canned-replies", headers=other.api).json()

    assert (shown.status_code, rendered.status_code, listed["items"]) == (404, 404, [])


# --- the settings page and the composer --------------------------------------------------------


@pytest.fixture
def admin(client: TestClient, session: Session, tenant: Tenant) -> User:
    user = make_user(session, workspace=tenant.workspace, role="admin", locale="ko")
    user.display_name = "박관리"
    session.flush()
    assert login(client, user.email).status_code == 303
    return user


def test_the_settings_page_creates_edits_and_deletes_after_confirming(
    client: TestClient, session: Session, tenant: Tenant, admin: User
) -> None:
    created = post(
        client,
        "/settings/canned-replies",
        {"name": "환불 안내", "shortcut": "/환불", "language": "ko", "body": "{{customer.name}}님"},
    )
    reply = session.scalars(select(CannedReply).where(CannedReply.workspace_id == tenant.id)).one()
    bad = post(
        client,
        f"/settings/canned-replies/{reply.id}",
        {"name": "환불 안내", "shortcut": "/환불", "language": "ko", "body": "{{ 7*7 }}"},
    )
    edited = post(
        client,
        f"/settings/canned-replies/{reply.id}",
        {"name": "환불 안내", "shortcut": "/환불", "language": "en", "body": "Hi {{agent.name}}"},
    )
    listed = get(client, "/settings/canned-replies")
    confirm = get(client, f"/settings/canned-replies/{reply.id}/delete")
    session.expire_all()
    still = session.get(CannedReply, reply.id)
    deleted = post(client, f"/settings/canned-replies/{reply.id}/delete")

    assert created.status_code == 303
    assert bad.status_code == 422 and "{{ 7*7 }}" in text_of(bad)
    assert edited.status_code == 303
    assert "Hi {{agent.name}}" in text_of(listed) and "/환불" in text_of(listed)
    assert confirm.status_code == 200 and "'환불 안내'을(를) 삭제할까요?" in text_of(confirm)
    assert still is not None and (still.language, still.body) == ("en", "Hi {{agent.name}}")
    assert deleted.status_code == 303
    assert session.scalar(select(CannedReply.id).where(CannedReply.id == reply.id)) is None
    assert flashes(get(client, "/settings/canned-replies")) == [
        ("success", "'환불 안내'을(를) 삭제했습니다.")
    ]


def test_agents_cannot_open_the_settings_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    assert login(client, agent.email).status_code == 303

    assert get(client, "/settings/canned-replies").status_code == 403
    assert post(client, "/settings/canned-replies", {"name": "x"}).status_code == 403


def test_the_composer_inserts_a_reply_and_asks_for_what_is_unknown_without_javascript(
    client: TestClient, session: Session, tenant: Tenant, hook: str, admin: User
) -> None:
    made = create(client, tenant)
    conversation_id = conversation_of(client, hook)
    page = get(client, f"/inbox/{conversation_id}")

    asked = post(
        client,
        f"/inbox/{conversation_id}/canned",
        {"canned": str(made["id"]), "text": "먼저 쓴 말", "next": f"/inbox/{conversation_id}"},
    )
    filled = post(
        client,
        f"/inbox/{conversation_id}/canned",
        {
            "canned": str(made["id"]),
            "text": "먼저 쓴 말",
            "var.order.number": "A-77",
            "next": f"/inbox/{conversation_id}",
        },
    )
    typed = post(
        client,
        f"/inbox/{conversation_id}/canned",
        {"text": "확인 부탁드립니다 /배송", "var.order.number": "B-1"},
    )

    assert f'<option value="{made["id"]}" data-shortcut="/배송"' in page.text
    assert asked.status_code == 200
    assert 'name="var.order.number"' in asked.text and "주문번호" in text_of(asked)
    assert 'name="var.agent.name"' not in asked.text  # the signed-in admin is the agent
    assert ">먼저 쓴 말</textarea>" in asked.text
    assert filled.status_code == 200 and 'id="canned-prompt"' not in filled.text
    assert (
        ">먼저 쓴 말\n\n안녕하세요 김민지 고객님, 주문 A-77은 내일 도착합니다. - 박관리</textarea>"
    ) in filled.text
    assert ">확인 부탁드립니다\n\n안녕하세요 김민지 고객님, 주문 B-1은" in typed.text


def test_the_composer_script_gets_the_rendered_reply_as_json(
    client: TestClient, session: Session, tenant: Tenant, hook: str, admin: User
) -> None:
    made = create(client, tenant)
    conversation_id = conversation_of(client, hook)

    shown = client.get(
        f"/inbox/{conversation_id}/canned/{made['id']}?var.order.number=C-3",
        headers={"Accept": "application/json"},
    )

    assert shown.status_code == 200
    assert shown.json() == {
        "text": "안녕하세요 김민지 고객님, 주문 C-3은 내일 도착합니다. - 박관리",
        "missing": [],
    }


# --- the CLI -----------------------------------------------------------------------------------


def test_the_cli_keeps_lists_and_deletes_canned_replies(cli: Cli, slug: str) -> None:
    made = cli(
        "care",
        "canned",
        "create",
        "-w",
        slug,
        "--name",
        "배송 안내",
        "--shortcut",
        "배송",
        "--body",
        "{{customer.name}}님, {{order.number}} 확인했습니다.",
    )
    bad = cli(
        "care", "canned", "create", "-w", slug, "--name", "x", "--shortcut", "/x", "--body", "{{x}}"
    )
    listed = cli("care", "canned", "list", "-w", slug)
    reply_id = made.out.split()[2]
    kept = cli("care", "canned", "delete", reply_id, "-w", slug, stdin="n\n")
    still = cli("care", "canned", "list", "-w", slug)
    deleted = cli("care", "canned", "delete", reply_id, "-w", slug, "--yes")
    after = cli("care", "canned", "list", "-w", slug)

    assert made.code == 0 and "(/배송)" in made.out
    assert bad.code != 0 and "variables" in bad.err
    assert "customer.name, order.number" in listed.out
    assert kept.code == 1 and "/배송" in still.out
    assert deleted.code == 0 and "/배송" not in after.out


# --- the composer's script, in Chromium --------------------------------------------------------


@pytest.mark.browser
@pytest.mark.live
def test_the_composer_script_inserts_replies_in_place(
    live_server: str, browser_page: Any, database: Any
) -> None:
    import httpx
    from playwright.sync_api import expect

    from cxloop.accounts.access import Principal
    from cxloop.care import canned as canned_replies
    from cxloop.care import service as care
    from tests.factories import PASSWORD, make_workspace, unique

    with database.session() as setup:
        workspace = make_workspace(setup, name=unique("답변 가게 "))
        agent = make_user(setup, workspace=workspace, role="agent", locale="ko")
        agent.display_name = "이상담"
        principal = Principal(workspace_id=workspace.id, role="owner", label="setup")
        hook = care.create_inbox(setup, principal=principal, name="고객센터").token
        canned_replies.create_canned(
            setup,
            principal=principal,
            name="인사",
            shortcut="/인사",
            language="ko",
            body="{{customer.name}}님 안녕하세요, {{agent.name}}입니다.",
        )
        canned_replies.create_canned(
            setup,
            principal=principal,
            name="주문 확인",
            shortcut="/주문",
            language="ko",
            body="주문 {{order.number}} 확인했습니다.",
        )
    conversation_id = deliver_mail(
        httpx,
        f"{live_server}/hooks/email/{hook}",
        mail(message_id=f"<{unique('m')}@mail.example.com>"),
    )["conversation_id"]

    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(agent.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.goto(f"{live_server}/inbox/{conversation_id}")
    text = page.locator("#composer-text")

    page.locator("#canned-pick").select_option(label="/인사 · 인사")
    expect(text).to_have_value("김민지님 안녕하세요, 이상담입니다.")
    assert page.url.endswith(f"/inbox/{conversation_id}")  # no page load

    text.fill("")
    text.type("/주문")
    text.press("Tab")  # an order number nobody knows: the server's form asks for it
    page.locator('input[name="var.order.number"]').fill("A-7")
    page.locator("#fill-canned").click()
    expect(text).to_have_value("주문 A-7 확인했습니다.")

    page.locator("#mention-pick").fill("@이상담")
    page.locator("#mention-pick").press("Enter")
    expect(text).to_have_value("주문 A-7 확인했습니다. @이상담 ")
    assert page.problems == []
