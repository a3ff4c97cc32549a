"""The member widget in Chromium on a shop's page (another origin): the signed-in shopper sees
their tier, what the next tier needs, their points, badges and latest entries, in Korean."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from cxloop.accounts.access import Principal
from cxloop.accounts.widget_identity import identity_secret, user_hash
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.events import bus
from cxloop.loyalty import rewards
from cxloop.loyalty.program import save_program
from cxloop.loyalty.rewards import RewardIn
from cxloop.loyalty.schemas import ProgramIn
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import PASSWORD, Tenant, make_user
from tests.helpers.distribution import shop_page
from tests.loyalty.test_earning import PROGRAM

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_shopper_sees_points_and_tier_on_the_shop(
    live_server: str, database: Database, settings: Settings
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    with database.session() as session:
        tenant = Tenant(session)
        owner = Principal(workspace_id=tenant.id, role="owner")
        save_program(
            session,
            principal=owner,
            workspace_id=tenant.id,
            program_in=ProgramIn.model_validate({**PROGRAM, "leaderboard": True}),
        )
        reward = RewardIn(
            name_ko="5,000원 할인 쿠폰", cost=5000, code_source="generated", code_prefix="CX"
        )
        rewards.save_reward(
            session, principal=owner, workspace_id=tenant.id, key="coupon", reward_in=reward
        )
        write_key = tenant.write_secret
        signed = user_hash(identity_secret(tenant.workspace, settings=settings), "shopper-1")
    order = {
        "type": "track",
        "userId": "shopper-1",
        "event": "Order Completed",
        "timestamp": (utcnow() - timedelta(days=20)).isoformat(),
        "properties": {"order_id": "B-1", "total": 880000},
    }
    sent = httpx.post(f"{live_server}/v1/track", json=order, auth=(write_key, ""))
    assert sent.status_code == 200, sent.text
    today = {**order, "timestamp": utcnow().isoformat(), "properties": {"order_id": "B-2",
             "total": 12000}}  # fmt: skip
    sent = httpx.post(f"{live_server}/v1/track", json=today, auth=(write_key, ""))
    assert sent.status_code == 200, sent.text
    bus.drain(database, names=["loyalty_earning"])

    embed = f'data-user-id="shopper-1" data-user-hash="{signed}" data-locale="ko"'
    with (
        shop_page(f"{live_server}/widget/loyalty.js", write_key, embed) as shop_url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="ko-KR", viewport={"width": 390, "height": 844})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(shop_url)
            panel = page.locator("#cxloop-loyalty")
            expect(panel).to_contain_text("Silver")
            expect(panel).to_contain_text("Gold까지 ₩108,000 남음")
            expect(panel).to_contain_text("사용 가능 포인트")
            expect(panel).to_contain_text("8,800")
            expect(panel).to_contain_text("적립")
            # The month's leaderboard, turned on by the program: the shopper's own line.
            expect(panel.locator("ol.cxloop-leaderboard li")).to_have_text(["1. 회원120"])
            expect(panel).to_contain_text("내 순위: 1위 · 120포인트")
            # The shopper spends 5,000 points on the coupon and gets its code at once.
            panel.get_by_role("button", name="교환").click()
            expect(panel).to_contain_text("쿠폰 코드")
            expect(panel.locator("strong").filter(has_text="CX")).to_have_count(1)
            expect(panel).to_contain_text("3,800")
            assert problems == []
        finally:
            browser.close()


def test_the_loyalty_pages_sit_in_the_top_bar_without_breaking_it(
    live_server: str, database: Database, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    with database.session() as session:
        tenant = Tenant(session)
        owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
        save_program(
            session,
            principal=Principal(workspace_id=tenant.id, role="owner", user_id=owner.id),
            workspace_id=tenant.id,
            program_in=ProgramIn.model_validate(PROGRAM),
        )
        email = owner.email
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(f"{live_server}/customers")

    page.locator(".mainnav").get_by_role("link", name="멤버십").click()
    expect(page).to_have_url(f"{live_server}/loyalty")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("멤버십")
    for width, lang in ((1360, "한국어"), (1024, "한국어"), (1360, "English"), (1024, "English")):
        page.set_viewport_size({"width": width, "height": 900})
        page.get_by_role("button", name=lang).click()
        # No label of the top bar wraps (a wrapped one is taller than the others), and nothing
        # runs off the side.
        heights = page.evaluate(
            "[...document.querySelectorAll('.mainnav a')]"
            ".map(a => Math.round(a.getBoundingClientRect().height))"
        )
        assert len(set(heights)) == 1, (width, lang, heights)
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), (width, lang)
    assert page.problems == []  # type: ignore[attr-defined]
