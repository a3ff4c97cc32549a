"""In Chromium against a live server: a CX manager narrows the checkout step of the shop's funnel
to iOS with "조건 추가", sees who dropped before the order, keeps them as a segment from the
persons page and lands on the segment, which says where they came from; on a phone's width the
funnel form with its conditions fits."""

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
    people: dict[str, int]


@pytest.fixture
def shop(database: Database) -> Setup:
    """Committed: a workspace with a CX manager (Korean UI) and the shop story's events."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("조건 가게 "))
        manager = make_user(session, workspace=workspace, role="marketer", locale="ko")
        people = shop_story(session, workspace.id)
        return Setup(manager.email, people)


def test_ios_checkouts_that_never_ordered_become_a_segment(
    live_server: str, shop: Setup, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, live_server, shop.email)
    page.goto(f"{live_server}/journeys/funnels")
    form = page.locator("#funnel-form")
    for i, name in enumerate(STEPS.split(","), 1):
        form.get_by_label(f"단계 {i}", exact=True).fill(name)
    step3 = form.locator("#step-slot-3")
    step3.get_by_text("조건 추가").click()
    condition = step3.get_by_role("group", name="3단계 조건 1")
    condition.get_by_label("속성").fill("platform")
    condition.get_by_label("비교").select_option("eq")
    condition.get_by_label("값").fill("ios")
    form.get_by_label("시작일").fill("2026-03-02")
    form.get_by_label("종료일").fill("2026-03-08")
    form.get_by_role("button", name="퍼널 보기").click()

    steps = page.locator("#funnel-steps tbody tr .step-persons")
    expect(steps).to_have_text(["6", "5", "3", "1"])
    expect(page.locator("#step-3 .step-where")).to_have_text('"platform" 값이 "ios"임')
    # The condition is back in the form, under its step.
    expect(page.locator("#step-slot-3 input[name=s3_value]").first).to_have_value("ios")

    page.locator("#step-4").get_by_role("link", name="직전에 이탈한 2명").click()
    expect(page.locator("#person-list tbody tr")).to_have_count(2)
    expect(page.locator("#persons-where")).to_have_text(
        '이 퍼널의 단계 조건: 3단계 "platform" 값이 "ios"임'
    )
    name = page.locator("#segment-form").get_by_label("세그먼트 이름")
    name.fill("iOS 결제 후 미주문")
    page.get_by_role("button", name="세그먼트로 저장").click()

    expect(page.locator("h1#segment-name")).to_contain_text("iOS 결제 후 미주문")
    expect(page.locator(".flash.success")).to_contain_text("고객 2명으로 저장했습니다")
    expect(page.locator("#origin-words")).to_contain_text("4단계 이탈, 2026-03-02 ~ 2026-03-08")
    expect(page.locator("#member-count")).to_have_text("2")
    expect(page.locator("#member-list tbody tr")).to_have_count(2)
    expect(page.locator("#edit-segment")).to_have_count(0)

    # A phone's width: the form with its conditions fits.
    page.set_viewport_size({"width": 390, "height": 800})
    page.go_back()
    page.go_back()
    expect(page.locator("#funnel-form")).to_be_visible()
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('main *')).filter("
        "e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1"
        " && !e.closest('.table-wrap, .scroll-x')).map(e => e.tagName + '.' + e.className)"
    )
    assert wide == []
    assert page.problems == []
