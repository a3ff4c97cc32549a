"""The chat widget in Chromium: a visitor on a 390 px phone writes from a shop's page (another
origin) while an agent has the inbox open in another browser context; the conversation appears
in the agent's list without a reload, the visitor sees that the team is typing, and the
agent's reply reaches the widget live and shows as read ("읽음") once the visitor has seen it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cxloop.care import service as care
from cxloop.care import sla
from cxloop.core.db import Database
from tests.browser.test_browser_inbox import _principal, no_sideways_overflow
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import PASSWORD, Tenant, make_user
from tests.helpers.distribution import shop_page

pytestmark = [pytest.mark.browser, pytest.mark.live]


@dataclass
class Setup:
    agent_email: str
    write_key: str
    inbox_id: int


@pytest.fixture
def chat_setup(database: Database) -> Setup:
    """Committed: a workspace open around the clock, a Korean-speaking agent, a chat inbox."""
    with database.session() as session:
        tenant = Tenant(session)
        owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
        agent = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
        inbox = care.create_inbox(
            session, principal=_principal(tenant.id, owner.id), name="웹 채팅", channel="chat"
        ).inbox
        sla.set_hours(session, workspace_id=tenant.id, team="", weekly=[[[0, 1440]]] * 7)
        return Setup(agent.email, tenant.write_secret, inbox.id)


def test_a_visitor_and_an_agent_chat_live_in_two_browsers(
    live_server: str, chat_setup: Setup
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    script = f"{live_server}/chat/widget.js"
    embed = f'data-inbox="{chat_setup.inbox_id}" data-locale="ko"'
    with (
        shop_page(script, chat_setup.write_key, embed) as shop_url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            problems: list[str] = []
            agent_context = browser.new_context(
                locale="ko-KR", viewport={"width": 1360, "height": 900}
            )
            agent = agent_context.new_page()
            agent.set_default_timeout(10_000)
            agent.on("pageerror", lambda e: problems.append(str(e)))
            agent.goto(f"{live_server}/login")
            agent.get_by_label("이메일").fill(chat_setup.agent_email)
            agent.get_by_label("비밀번호").fill(PASSWORD)
            agent.get_by_role("button", name="로그인").click()
            agent.goto(f"{live_server}/inbox?view=unassigned")
            expect(agent.locator(".conversation-row")).to_have_count(0)

            visitor_context = browser.new_context(
                locale="ko-KR",
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                has_touch=True,
            )
            visitor = visitor_context.new_page()
            visitor.set_default_timeout(10_000)
            visitor.on("pageerror", lambda e: problems.append(str(e)))
            visitor.goto(shop_url)
            visitor.locator(".cxloop-chat-launcher").click()
            widget = visitor.locator(".cxloop-chat")
            expect(widget.locator(".cxloop-chat-title")).to_have_text("무엇을 도와드릴까요?")
            visitor.locator(".cxloop-chat-text").fill(
                "주문한 운동화가 아직 안 왔어요. 010-2345-6789로 연락 주세요"
            )
            visitor.locator(".cxloop-chat-send").click()
            expect(widget.locator(".from-visitor")).to_have_count(1)
            box = widget.bounding_box()
            assert box is not None and box["width"] <= 390
            assert no_sideways_overflow(visitor)

            # The agent's list shows the new conversation without a reload.
            row = agent.locator(".conversation-row")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("주문한 운동화가")
            row.get_by_role("link").click()
            expect(agent.locator(".message.from-customer")).to_contain_text("주문한 운동화가")

            agent.get_by_label("답장 또는 메모").press_sequentially("확인", delay=20)
            expect(widget.locator(".cxloop-chat-typing")).to_have_text("상담원이 입력 중입니다…")
            agent.get_by_label("답장 또는 메모").fill(
                "확인해 보니 내일 도착 예정입니다. 배송 조회: https://track.example/p/20261205-0042"
            )
            agent.get_by_role("button", name="답장 보내기").click()
            expect(agent.locator(".message.from-team")).to_contain_text("내일 도착 예정입니다")

            expect(widget.locator(".from-team")).to_contain_text("내일 도착 예정입니다")
            link = widget.locator(".from-team a.cxloop-chat-link")
            expect(link).to_have_attribute("href", "https://track.example/p/20261205-0042")
            expect(link).to_have_attribute("rel", "noopener noreferrer")
            visitor.locator(".cxloop-chat-text").fill("감사합니다! <img src=x onerror=alert(1)>")
            visitor.locator(".cxloop-chat-send").click()
            # The agent sees the visitor's next message appear in the open conversation.
            expect(agent.locator(".message.from-customer")).to_have_count(2)
            expect(agent.locator(".message.from-customer").last).to_contain_text(
                "감사합니다! <img src=x onerror=alert(1)>"
            )
            expect(widget.locator(".from-visitor img")).to_have_count(0)
            # The visitor saw the reply with the chat open: the agent sees it was read.
            expect(agent.locator(".message.from-team .read-receipt")).to_contain_text("읽음")

            # A visitor who comes back later finds the conversation where they left it.
            visitor.reload()
            visitor.locator(".cxloop-chat-launcher").click()
            expect(widget.locator(".cxloop-chat-message")).to_have_count(3)
            assert problems == []
        finally:
            browser.close()
