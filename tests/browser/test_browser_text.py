"""The text analytics page in Chromium: sign in, read the category cards, the spike and the
"fix first" list, promote a theme, open the verbatims behind a category, page through them and
follow one to its customer, with no script error or CSP violation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cxloop.core.db import Database
from cxloop.feedback import texts as survey_texts
from cxloop.text.analytics import service as analytics
from cxloop.text.analytics import themes
from cxloop.text.store import service
from tests.factories import PASSWORD, make_customer, make_user, make_workspace
from tests.helpers.dashboard import answer, make_survey
from tests.helpers.text import topic_texts

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOT = Path("/tmp/cxloop-text-analytics.png")


@dataclass(frozen=True)
class Shop:
    email: str
    customer_id: int


@pytest.fixture
def shop(database: Database) -> Shop:
    """A committed workspace: 50 comments on two topics over the last weeks (analysed by the
    real pipeline, themes found) and 24 angry comments about delivery this week (the
    workspace's week in KST: a minute after Monday midnight they still fall inside it)."""
    now = datetime.now(UTC)
    monday = analytics.make_window(workspace_id=0, tz=ZoneInfo("Asia/Seoul"), weeks=1).start
    with database.session() as session:
        ws = make_workspace(session, name="텍스트 매장")
        owner = make_user(session, workspace=ws, role="owner", locale="ko")
        who = make_customer(session, workspace=ws)
        survey = make_survey(session, ws)
        texts = [
            (t, now - timedelta(days=2 + i % 40), None) for i, (_, t) in enumerate(topic_texts())
        ]
        texts += [
            (
                f"배송이 {i + 2}일째 안 와요 너무 화가 나요",
                max(now - timedelta(minutes=i + 1), monday + (now - monday) * (25 - i) / 26),
                who,
            )
            for i in range(24)
        ]
        ids = []
        for text, at, customer in texts:
            row = answer(session, survey, at=at, nps=3, customer=customer, touchpoint="배송")
            row.comment = text
            ids.append(row.id)
        session.flush()
        items = survey_texts.survey_texts.fetch(session, workspace_id=ws.id, ids=ids)
        service.analyse_and_store(
            session, workspace_id=ws.id, source_type="survey_response", items=items
        )
        themes.recompute_themes(session, workspace_id=ws.id)
        return Shop(owner.email, who.id)


def test_open_the_page_and_click_through_to_the_verbatims(
    live_server: str, shop: Shop, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{live_server}/text")
    page.get_by_label("이메일").fill(shop.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(f"{live_server}/text")
    expect(page.locator("h1")).to_have_text("텍스트 분석")

    # the delivery card, its sparkline and the spike
    card = page.locator('article.tx-card[data-category="delivery"]')
    expect(card).to_be_visible()
    expect(card.locator("svg.tx-spark")).to_be_visible()
    expect(page.locator(".tx-spikes")).to_contain_text("배송")
    expect(page.locator("ol.tx-fix > li").first).to_contain_text("배송")
    expect(page.locator("svg.tx-volume")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # promote the sign-in theme
    theme = page.locator("li.tx-theme", has_text="로그인").first
    theme.get_by_role("button", name="카테고리로 등록").click()
    expect(page.locator(".flash.success")).to_contain_text("카테고리")
    expect(page.locator("li.tx-theme", has_text="로그인").first).to_contain_text("등록됨")

    # the verbatims behind the delivery card, page by page, to the customer
    page.locator('article.tx-card[data-category="delivery"] h3 a').click()
    expect(page).to_have_url(re.compile(r"/text/verbatims\?category=delivery"))
    expect(page.locator("h1")).to_contain_text("배송")
    items = page.locator("li.tx-verbatim")
    expect(items).to_have_count(20)
    expect(items.first).to_contain_text("배송이 2일째 안 와요")
    expect(items.first.locator(".tx-sent")).to_contain_text("부정")
    page.get_by_role("link", name=re.compile("다음")).click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(items.first).to_be_visible()
    page.get_by_role("link", name="부정").click()
    expect(page).to_have_url(re.compile(r"sentiment=negative"))
    items.first.get_by_role("link", name="고객 보기").click()
    expect(page).to_have_url(f"{live_server}/customers/{shop.customer_id}")

    # English
    page.goto(f"{live_server}/text")
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Text analytics")
    expect(page.locator("#fix-h")).to_have_text("Fix first")

    assert page.problems == []  # no script error, no CSP violation
