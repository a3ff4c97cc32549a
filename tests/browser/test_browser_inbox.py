"""The inbox in Chromium against a live server: a customer's mail posted to the inbox's webhook
appears in the list; the agent opens it, replies in Korean and resolves it; on a 390 px phone
the panes stack and nothing overflows sideways."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cxloop.care import service as care
from cxloop.core.db import Database
from cxloop.models import Conversation
from tests.care.test_email_conversations import mail
from tests.factories import PASSWORD, make_user, make_workspace, unique
from tests.helpers.care_mail import deliver_mail

pytestmark = [pytest.mark.browser, pytest.mark.live]


@dataclass
class Setup:
    email: str
    webhook: str


@pytest.fixture
def support_inbox(database: Database) -> Setup:
    """Committed: a workspace with a Korean-speaking agent and an email inbox."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("상담 가게 "))
        owner = make_user(session, workspace=workspace, role="owner", locale="ko")
        agent = make_user(session, workspace=workspace, role="agent", locale="ko")
        made = care.create_inbox(
            session,
            principal=_principal(workspace.id, owner.id),
            name="고객센터",
            address="help@shop.example",
        )
        return Setup(agent.email, f"/hooks/email/{made.token}")


def _principal(workspace_id: int, user_id: int) -> Any:
    from cxloop.accounts.access import Principal

    return Principal(workspace_id=workspace_id, role="owner", user_id=user_id, label="setup")


def no_sideways_overflow(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_an_agent_answers_and_resolves_a_mail_then_reads_it_on_a_phone(
    live_server: str, support_inbox: Setup, browser_page: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    message_id = f"<{unique('m')}@mail.example.com>"
    conversation_id = deliver_mail(
        httpx,
        live_server + support_inbox.webhook,
        mail(message_id=message_id, subject="배송 문의드립니다"),
    )["conversation_id"]

    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(support_inbox.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.get_by_role("link", name="받은 메시지함").first.click()

    row = page.locator(f"#row-{conversation_id}")
    expect(row).to_contain_text("배송 문의드립니다")
    expect(row).to_contain_text("김민지")
    expect(page.locator("#view-open .count")).to_have_text("1")
    row.get_by_role("link").click()

    expect(page.locator(".inbox-thread h2")).to_have_text("배송 문의드립니다")
    expect(page.locator(".message.from-customer")).to_contain_text("주문번호 20261205-0042")
    page.get_by_label("답장 또는 메모").fill("안녕하세요 김민지 님, 상품은 내일 도착할 예정입니다.")
    page.get_by_role("button", name="답장 보내기").click()
    expect(page.locator(".flash.success")).to_have_text("답장을 발송 대기열에 넣었습니다.")
    reply = page.locator(".message.from-team")
    expect(reply).to_contain_text("상품은 내일 도착할 예정입니다.")
    expect(reply.locator(".delivery")).to_be_visible()

    page.locator("#actions > summary").click()
    page.get_by_role("button", name="해결", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("해결됨")
    expect(page.locator(".thread-meta .status-resolved")).to_be_visible()
    with database.session() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.status == "resolved"

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    thread = page.locator(".inbox-thread").bounding_box()
    context = page.locator(".inbox-context").bounding_box()
    assert thread is not None and context is not None
    assert context["y"] >= thread["y"] + thread["height"] - 1  # stacked, not side by side
    assert thread["width"] <= 390 and context["width"] <= 390
    assert no_sideways_overflow(page)
    page.get_by_role("link", name="목록으로").click()
    expect(page.locator(f"#row-{conversation_id}")).to_be_hidden()  # resolved: not open
    page.locator("#view-resolved").click()
    expect(page.locator(f"#row-{conversation_id}")).to_be_visible()
    assert no_sideways_overflow(page)
    assert page.problems == []
