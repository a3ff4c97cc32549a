"""The journeys story in Chromium against a live server: a CX manager opens the funnel page,
builds Product Viewed → Product Added → Checkout Started → Order Completed broken down by
platform, sees that ios converts worst, opens what the drop-offs before the order did instead
and finds the support chat; the pages fit a phone's width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cxloop.core.db import Database
from tests.factories import make_user, make_workspace, unique
from tests.helpers.browser import sign_in
from tests.journeys.story import STEPS, shop_story

pytestmark = [pytest.mark.browser, pytest.mark.live]


@dataclass
class Setup:
    email: str
    workspace_id: int


@pytest.fixture
def shop(database: Database) -> Setup:
    """Committed: a workspace with a CX manager (Korean UI) and the shop story's events."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("여정 가게 "))
        manager = make_user(session, workspace=workspace, role="marketer", locale="ko")
        shop_story(session, workspace.id)
        return Setup(manager.email, workspace.id)


def test_a_cx_manager_finds_where_ios_customers_drop_off_and_what_they_did_instead(
    live_server: str, shop: Setup, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, live_server, shop.email)
    page.get_by_role("link", name="여정", exact=True).click()
    expect(page.locator("h1")).to_have_text("퍼널")

    form = page.locator("#funnel-form")
    for i, name in enumerate(STEPS.split(","), 1):
        form.get_by_label(f"단계 {i}", exact=True).fill(name)
    form.get_by_label("나눠 볼 속성 (선택)").fill("platform")
    form.get_by_label("시작일").fill("2026-03-02")
    form.get_by_label("종료일").fill("2026-03-08")
    form.get_by_role("button", name="퍼널 보기").click()

    steps = page.locator("#funnel-steps tbody tr .step-persons")
    expect(steps).to_have_text(["6", "5", "5", "3"])
    expect(page.locator("svg.funnel-chart")).to_be_visible()
    worst = page.locator("#breakdown-table tr.worst")
    expect(worst).to_have_count(1)
    expect(worst.locator("th")).to_have_text("ios")
    expect(worst.locator(".worst-cell")).to_contain_text("0%")
    expect(worst.locator(".worst-cell")).to_contain_text("가장 낮음")
    expect(page.locator("#worst-note")).to_contain_text("'ios'의 전환율이 0%로 가장 낮습니다")
    assert "event=Product+Viewed" in page.url and "by=platform" in page.url  # shareable

    # Is it more than chance? Compare web with ios.
    compare = page.locator("#compare-values")
    compare.get_by_label("기준 값").select_option("web")
    compare.get_by_label("비교 값").select_option("ios")
    compare.get_by_role("button", name="비교").click()
    expect(page.locator("#compare-result")).to_contain_text("통계적으로 유의한 차이입니다")

    # What did the two who dropped off before the order do instead?
    page.locator("#step-4").get_by_role("link", name="대신 한 일").click()
    expect(page.locator("h1#paths-title")).to_have_text("4단계 'Order Completed' 대신 한 일")
    expect(page.locator("svg.sankey")).to_be_visible()
    expect(page.locator('svg.sankey .node.end[data-step="1"]')).to_contain_text("종료 · 1명")
    expect(page.locator("#top-paths")).to_contain_text("Support Chat Started")

    # … and who they were.
    page.get_by_role("link", name="이 고객들 보기").click()
    expect(page.locator("#person-list tbody tr")).to_have_count(2)

    # Narrow screens: nothing of the page runs off the side (wide charts scroll in their box).
    page.set_viewport_size({"width": 390, "height": 800})
    page.go_back()
    page.go_back()
    expect(page.locator("#funnel-steps")).to_be_visible()
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('main *')).filter("
        "e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1"
        " && !e.closest('.table-wrap, .scroll-x')).map(e => e.tagName + '.' + e.className)"
    )
    assert wide == []
    assert page.problems == []
