"""The real UI in Chromium (Playwright) against a live cxloop server: sign in, switch the
language, find a customer by Korean name, read their 360 page and page through the timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxloop.accounts import service as accounts
from cxloop.core.db import Database
from cxloop.events import bus
from cxloop.events import service as events
from cxloop.events.segment import parse_message
from cxloop.models import Identity
from cxloop.profiles import service as profiles
from tests.factories import PASSWORD, make_user, make_workspace, unique

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOT = Path("/tmp/cxloop-360.png")


@dataclass
class Shop:
    email: str
    other_workspace: str
    customer_id: int
    user_id: str


def _web(user_id: str, i: int, when: datetime) -> dict[str, Any]:
    return {
        "type": "page",
        "userId": user_id,
        "name": f"상품 상세 {i:02d}",
        "properties": {"path": f"/products/{100 + i}", "title": "봄 린넨 셔츠"},
        "context": {"library": {"name": "analytics.js"}},
        "timestamp": (when + timedelta(hours=i)).isoformat(),
    }


@pytest.fixture
def shop(database: Database) -> Shop:
    """A committed workspace: an owner (Korean UI), three customers, one with 30 events on
    web, iOS and the server and an order; a second workspace for the switcher."""
    start = datetime.now(UTC) - timedelta(days=20)
    user_id = unique("minji-")
    with database.session() as session:
        workspace = make_workspace(session, name="나눔 스토어")
        owner = make_user(session, workspace=workspace, role="owner", locale="ko")
        other = make_workspace(session, name="두번째 매장")
        accounts.add_member(session, workspace=other, user=owner, role="viewer")
        raw: list[dict[str, Any]] = [
            {
                "type": "identify",
                "userId": user_id,
                "traits": {
                    "name": "김민지",
                    "email": f"{user_id}@example.com",
                    "phone": "010-1234-5678",
                    "membership": "골드",
                },
                "context": {"library": {"name": "analytics.js"}},
                "timestamp": start.isoformat(),
            },
            *[_web(user_id, i, start) for i in range(26)],
            {
                "type": "screen",
                "userId": user_id,
                "name": "장바구니",
                "context": {"library": {"name": "analytics-ios"}},
                "timestamp": (start + timedelta(days=3)).isoformat(),
            },
            {
                "type": "track",
                "userId": user_id,
                "event": "Order Completed",
                "properties": {
                    "order_id": unique("ORD-"),
                    "total": 64000,
                    "products": [
                        {"product_id": "SH-1", "name": "린넨 셔츠", "price": 29000, "quantity": 2},
                        {"product_id": "SC-9", "name": "실크 스카프", "price": 6000},
                    ],
                },
                "timestamp": (start + timedelta(days=3, hours=1)).isoformat(),
            },
            {
                "type": "track",
                "userId": user_id,
                "event": "Review Written",
                "properties": {"rating": 5, "text": "배송이 빨라요"},
                "timestamp": (start + timedelta(days=4)).isoformat(),
            },
        ]
        for name in ("이서준", "박지훈"):
            raw.append(
                {
                    "type": "identify",
                    "userId": unique("u-"),
                    "traits": {"name": name},
                    "timestamp": start.isoformat(),
                }
            )
        now = datetime.now(UTC)
        messages = [
            parse_message(r, type_=None, index=i, received_at=now) for i, r in enumerate(raw)
        ]
        events.ingest(session, workspace=workspace, messages=messages, received_at=now)
        session.flush()
        customer_id = session.query(Identity.customer_id).filter_by(value=user_id).scalar()
        customer = profiles.get_customer(
            session, workspace_id=workspace.id, customer_id=int(customer_id)
        )
        for purpose, channel, granted, days in [
            *[("service", c, True, 0) for c in ("email", "sms", "kakao", "push")],
            ("marketing", "email", True, 0),
            ("marketing", "sms", True, 0),
            ("night_marketing", "sms", True, 0),
            ("marketing", "email", False, 5),
        ]:
            profiles.record_consent(
                session,
                customer=customer,
                purpose=purpose,
                channel=channel,
                granted=granted,
                source="web_signup" if granted else "unsubscribe_link",
                evidence="회원가입 약관 동의" if granted else "이메일 하단 수신거부 링크",
                at=start + timedelta(days=days),
            )
        shop = Shop(owner.email, other.name, int(customer_id), user_id)
    bus.drain(database)
    return shop


def test_sign_in_find_a_customer_and_read_their_360_page(
    live_server: str, shop: Shop, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    # sign in (the login page follows the browser's Korean)
    page.goto(f"{live_server}/customers")
    expect(page.locator("h1")).to_have_text("로그인")
    page.get_by_label("이메일").fill(shop.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(f"{live_server}/customers")
    expect(page.locator("h1")).to_have_text("고객")

    # the language switch, and back
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Customers")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="한국어").click()
    expect(page.locator("h1")).to_have_text("고객")

    # search by Korean name
    page.get_by_placeholder("이름, 이메일, 전화번호, 회원 ID").fill("김민지")
    page.get_by_role("button", name="검색", exact=True).click()
    rows = page.locator("table.customers tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("010-1234-5678")
    expect(rows.first).to_contain_text("₩64,000")

    # the 360 page
    rows.first.get_by_role("link", name="김민지").click()
    expect(page).to_have_url(f"{live_server}/customers/{shop.customer_id}")
    expect(page.locator("h1")).to_contain_text("김민지")
    identities = page.locator("table.identities")
    expect(identities).to_contain_text(shop.user_id)
    expect(identities).to_contain_text(f"{shop.user_id}@example.com")
    expect(identities).to_contain_text("010-1234-5678")
    order = page.locator("#orders .order").first
    expect(order).to_contain_text("결제 완료")
    expect(order).to_contain_text("린넨 셔츠")
    expect(order).to_contain_text("₩64,000")
    timeline = page.locator("#timeline ol.timeline > li")
    expect(timeline).to_have_count(25)
    expect(timeline.first).to_contain_text("Review Written")
    expect(page.locator("#timeline")).to_contain_text("장바구니")
    expect(page.locator("#timeline")).to_contain_text("iOS 앱")
    expect(page.locator("svg.chart rect.bar").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # page through the timeline: the rest of the 30 events, the oldest last
    page.locator("#timeline").get_by_role("link", name=re.compile("다음")).click()
    expect(page).to_have_url(re.compile(r"events_cursor="))
    expect(timeline).to_have_count(5)
    expect(timeline.last).to_contain_text("프로필 갱신")
    page.locator("#timeline").get_by_role("link", name=re.compile("처음")).click()
    expect(timeline).to_have_count(25)

    # filter the timeline by channel
    page.locator("#timeline select[name=channel]").select_option("ios")
    page.locator("#timeline").get_by_role("button", name="적용").click()
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("장바구니")

    # the workspace switcher submits itself (cxloop.js under the strict CSP)
    expect(page.locator(".workspace-switch button")).to_be_hidden()
    page.locator("#workspace-select").select_option(label=f"{shop.other_workspace} (열람자)")
    expect(page.locator(".flash.info")).to_contain_text(shop.other_workspace)
    expect(page.locator("table.customers tbody")).to_contain_text("아직 고객이 없습니다")

    assert page.problems == []  # no script error, no CSP violation


def test_the_erase_button_asks_before_it_acts(
    live_server: str, shop: Shop, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(shop.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.goto(f"{live_server}/customers/{shop.customer_id}/erase")
    page.get_by_label(re.compile("고객 번호")).fill(str(shop.customer_id))
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="개인정보 삭제").click()
    # the question was asked, and saying no kept the customer
    assert asked == [f"{shop.customer_id}번 고객의 개인정보를 삭제할까요? 되돌릴 수 없습니다."]
    page.goto(f"{live_server}/customers/{shop.customer_id}")
    from playwright.sync_api import expect

    expect(page.locator("h1")).to_contain_text("김민지")
    assert page.problems == []
