"""The help bot in Chromium: a visitor on a phone asks the shop's chat, where the bot answers
first, and reads its answer (the article's passage with a link to the help centre) without a
reload; asking for a person hands the conversation over, and the agent finds it in the inbox
with the bot's note of what it was asked and tried."""

from __future__ import annotations

import re

import pytest

from cxloop.care import service as care
from cxloop.care import sla
from cxloop.core.db import Database
from cxloop.help import kb
from tests.browser.test_browser_chat import Setup
from tests.browser.test_browser_inbox import _principal
from tests.conftest import CHROMIUM
from tests.factories import Tenant, make_user
from tests.help.test_knowledge_base import kb_lines
from tests.helpers.browser import sign_in, widget_shop

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def bot_setup(database: Database) -> Setup:
    """Committed: the shop's articles, a chat inbox the bot answers first, open all week."""
    with database.session() as session:
        tenant = Tenant(session)
        owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
        agent = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
        principal = _principal(tenant.id, owner.id)
        inbox = care.create_inbox(
            session, principal=principal, name="웹 채팅", channel="chat"
        ).inbox
        care.set_bot_inboxes(session, principal=principal, inbox_ids=[inbox.id])
        sla.set_hours(session, workspace_id=tenant.id, team="", weekly=[[[0, 1440]]] * 7)
        kb.import_articles(session, workspace_id=tenant.id, lines=kb_lines())
        return Setup(agent.email, tenant.write_secret, inbox.id)


def test_the_bot_answers_in_the_widget_and_hands_over_to_the_agent(
    live_server: str, bot_setup: Setup
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect

    with widget_shop(live_server, bot_setup.write_key, bot_setup.inbox_id) as (browser, shop_url):
        problems: list[str] = []
        visitor = browser.new_context(
            locale="ko-KR", viewport={"width": 390, "height": 844}, is_mobile=True
        ).new_page()
        visitor.set_default_timeout(15_000)
        visitor.on("pageerror", lambda e: problems.append(str(e)))
        visitor.goto(shop_url)
        visitor.locator(".cxloop-chat-launcher").click()
        widget = visitor.locator(".cxloop-chat")
        expect(widget.locator(".cxloop-chat-title")).to_have_text("무엇을 도와드릴까요?")
        visitor.locator(".cxloop-chat-text").fill("적립금은 어떻게 써요?")
        visitor.locator(".cxloop-chat-send").click()

        answer = widget.locator(".from-team").first
        # The bus hands the message to the bot; the first answer also loads its index.
        expect(answer).to_contain_text("적립금은 어떻게 쌓고 사용하나요?", timeout=30_000)
        expect(answer.locator("a.cxloop-chat-link")).to_have_attribute(
            "href", re.compile(r"/articles/shop-points\?lang=ko$")
        )

        visitor.locator(".cxloop-chat-text").fill("상담원 연결해 주세요")
        visitor.locator(".cxloop-chat-send").click()
        expect(widget.locator(".from-team")).to_have_count(2, timeout=15_000)
        expect(widget.locator(".from-team").last).to_contain_text("상담원에게 연결해 드릴게요")

        agent = browser.new_context(
            locale="ko-KR", viewport={"width": 1360, "height": 900}
        ).new_page()
        agent.set_default_timeout(15_000)
        agent.on("pageerror", lambda e: problems.append(str(e)))
        sign_in(agent, live_server, bot_setup.agent_email)
        agent.goto(f"{live_server}/inbox?view=unassigned")
        row = agent.locator(".conversation-row")
        expect(row).to_have_count(1)
        row.get_by_role("link").click()
        expect(agent.locator(".message.from-customer")).to_have_count(2)
        expect(agent.get_by_text("도움말 봇이 상담을 넘겼습니다")).to_be_visible()
        assert problems == []
