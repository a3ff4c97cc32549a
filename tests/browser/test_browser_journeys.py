"""The journeys story in Chromium against a live server: a CX manager opens the funnel page,
builds Product Viewed → Product Added → Checkout Started → Order Completed broken down by
platform, sees that ios converts worst, opens what the drop-offs before the order did instead
and finds the support chat; the pages fit a phone's width. Then, in a shop where mobile
checkout lags, the manager finds the red cell on the journey map, follows it to its funnel,
breaks it down by platform and pins it to the CX dashboard, which shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cxloop.accounts.access import Principal
from cxloop.core.db import Database
from cxloop.journeys import stages as journey_stages
from cxloop.journeys.stages import TouchpointsIn
from tests.factories import make_user, make_workspace, unique
from tests.helpers.browser import sign_in
from tests.journeys.story import STEPS, shop_story
from tests.web.test_journey_map_pages import MOBILE_CHECKOUT, lagging_shop

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


@pytest.fixture
def lagging_shop_setup(database: Database) -> Setup:
    """Committed: a shop whose ios customers mostly fail at checkout, with a touchpoint for the
    mobile checkout, and its CX manager."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("모바일 가게 "))
        manager = make_user(session, workspace=workspace, role="marketer", locale="ko")
        lagging_shop(session, workspace.id)
        journey_stages.save_touchpoints(
            session,
            principal=Principal(workspace_id=workspace.id, role="marketer", user_id=manager.id),
            workspace_id=workspace.id,
            touchpoints=TouchpointsIn.model_validate(MOBILE_CHECKOUT),
        )
        return Setup(manager.email, workspace.id)


def test_a_cx_manager_finds_the_lagging_mobile_checkout_on_the_map_and_pins_its_funnel(
    live_server: str, lagging_shop_setup: Setup, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, live_server, lagging_shop_setup.email)
    page.get_by_role("link", name="여정", exact=True).click()
    page.locator(".journeys-tabs").get_by_role("link", name="여정 지도").click()
    expect(page.locator("h1")).to_have_text("고객 여정 지도")
    form = page.locator("#map-form")
    form.get_by_label("시작일").fill("2026-03-02")
    form.get_by_label("종료일").fill("2026-03-08")
    form.get_by_role("button", name="여정 지도 보기").click()

    # The mobile checkout lags its stage: red, marked, and the reason in words.
    red = page.locator("#cell-consideration-checkout_mobile")
    expect(red).to_have_class("cell flagged")
    expect(red.locator(".flag-marker")).to_have_text("⚠ 뒤처짐")
    expect(red.locator(".cell-why")).to_contain_text("20% (30명 중 6명) 대 단계 전체 60%")
    expect(page.locator("#map-alert")).to_contain_text("눈여겨볼 칸이 1개 있습니다.")
    assert page.locator("td.cell.flagged").count() == 1

    # Its funnel: from checking out to the order, over the map's week.
    red.locator("a.cell-link").click()
    expect(page.locator("h1")).to_have_text("퍼널")
    funnel = page.locator("#funnel-form")
    expect(funnel.get_by_label("단계 1", exact=True)).to_have_value("Checkout Started")
    expect(funnel.get_by_label("단계 2", exact=True)).to_have_value("Order Completed")
    expect(page.locator("#funnel-steps tbody tr .step-persons")).to_have_text(["60", "36"])

    # Broken down by platform, ios converts worst.
    funnel.get_by_label("나눠 볼 속성 (선택)").fill("platform")
    funnel.get_by_role("button", name="퍼널 보기").click()
    expect(page.locator("#breakdown-table tr.worst th")).to_have_text("ios")
    expect(page.locator("#worst-note")).to_contain_text("'ios'의 전환율이 20%로 가장 낮습니다")

    # Saved and pinned to the CX dashboard…
    save = page.locator("#save-form")
    save.get_by_label("이름").fill("모바일 결제 → 주문")
    save.get_by_label("CX 대시보드에 고정").check()
    save.get_by_role("button", name="저장").click()
    expect(page.locator(".flash.success")).to_contain_text(
        "퍼널 '모바일 결제 → 주문'을(를) 저장하고 CX 대시보드에 고정했습니다."
    )
    assert "by=platform" in page.url

    # … where it shows over the dashboard's period.
    page.goto(f"{live_server}/cx?from=2026-03-02&to=2026-03-08")
    pinned = page.locator("#pinned-funnels .pinned-funnel")
    expect(pinned).to_have_count(1)
    expect(pinned.locator("h3")).to_have_text("모바일 결제 → 주문")
    expect(pinned.locator(".score-value")).to_have_text("60%")
    expect(pinned).to_contain_text("60명 진입 → 36명 전환")
    pinned.get_by_role("link", name="모바일 결제 → 주문").click()
    expect(page.locator("#funnel-steps tbody tr .step-persons")).to_have_text(["60", "36"])
    assert page.problems == []
