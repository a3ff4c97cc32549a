"""The help centre in Chromium against a live server: a reader types a Korean question into the
search box, picks the suggestion, and reads the article on a 390 px phone without anything
overflowing sideways."""

from __future__ import annotations

from typing import Any

import pytest

from cxloop.core.db import Database
from cxloop.help import kb
from tests.factories import make_workspace, unique
from tests.help.test_knowledge_base import kb_lines

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def shop_slug(database: Database) -> str:
    """Committed: a workspace with the demo shop's knowledge base."""
    with database.session() as session:
        workspace = make_workspace(session, name="도움말 가게", slug=unique("help-shop-"))
        kb.import_articles(session, workspace_id=workspace.id, lines=kb_lines())
        return workspace.slug


def test_a_reader_finds_an_article_as_they_type_and_reads_it_on_a_phone(
    live_server: str, shop_slug: str, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/help/{shop_slug}")

    expect(page.locator("html")).to_have_attribute("lang", "ko")  # the browser's language
    expect(page.get_by_role("heading", name="무엇을 도와드릴까요?")).to_be_visible()
    page.get_by_label("도움말 검색").press_sequentially("비밀번호를 잊었어요", delay=30)
    suggestion = page.locator("#hc-suggestions a").first
    expect(suggestion).to_have_text("비밀번호를 잊어버렸어요")
    expect(page.get_by_label("도움말 검색")).to_have_attribute("aria-expanded", "true")
    suggestion.click()

    expect(page).to_have_url(f"{live_server}/help/{shop_slug}/articles/shop-reset-password?lang=ko")
    expect(page.locator("h1")).to_have_text("비밀번호를 잊어버렸어요")
    expect(page.locator(".hc-crumbs")).to_contain_text("회원·계정")
    body = page.locator(".hc-body").bounding_box()
    assert body is not None and body["width"] <= 390
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("I forgot my password")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.problems == []
