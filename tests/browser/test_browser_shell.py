"""The shell around every page in Chromium: at 1366, 1024 and 390 px, in Korean and English,
no main page runs off the side, no label of the top bar breaks inside a word, the bar stays one
row, long workspace and user names end in an ellipsis with the whole name in a tooltip, and
below 1200 px the main menu folds behind a menu button that works by mouse, by keyboard and
without JavaScript. Each page is saved as a screenshot per width and language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxloop.core.db import Database
from cxloop.events import bus
from cxloop.events import service as events
from cxloop.events.segment import parse_message
from cxloop.models import Identity
from cxloop.profiles import service as profiles
from tests.factories import PASSWORD, make_user, make_workspace, unique

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOTS = Path("/tmp/cxloop-shell")
WORKSPACE = "주식회사 씨엑스루프 온라인스토어"
USER = "Alexandra Konstantinopoulou"
WIDTHS = (1366, 1024, 390)
WIDE = 1200  # from here the whole menu sits in the bar
PHONE = 760  # below this the account items fold into the menu too
PAGES = (
    "/customers",
    "{customer}",
    "/inbox",
    "/cx",
    "/text",
    "/insights/segments",
    "/journeys/funnels",
    "/journeys/map",
    "/loyalty",
    "/surveys",
    "/follow-ups",
    "/improvements",
    "/settings",
    "/settings/members",
)

# Everything the checks need from a page at one width, measured in one round trip: whether the
# document is wider than the window, which top-bar items show, where they sit, and how many
# lines each label of the bar takes (a label broken inside a word takes two).
MEASURE = """() => {
  const bar = document.querySelector('.topbar').getBoundingClientRect();
  const shown = el => !!el && el.checkVisibility({visibilityProperty: true});
  // a text broken over lines has boxes at more than one height
  const lines = el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let most = 0;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest('.sr-only')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top);
      most = Math.max(most, tops.filter((top, i) => tops.every(
        (other, j) => j >= i || Math.abs(other - top) > 3)).length);
    }
    return most;
  };
  const items = [...document.querySelectorAll(
    '.topbar .brand, .mainnav a, .menu-button span, .langs button, .workspace-name, '
    + '.who-name, .who-role, .logout button, .bell')].filter(shown);
  const inBar = el => { const r = el.getBoundingClientRect();
    return r.top >= bar.top - 1 && r.bottom <= bar.bottom + 1; };
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.right > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed';
  }).slice(0, 5).map(el => el.tagName.toLowerCase()
    + (el.className && typeof el.className === 'string' ? '.' + el.className.trim()
      .split(/\\s+/).join('.') : ''));
  // a Korean word of a table cell broken between two syllables ("남/궁/민/서" stacked in a
  // narrow column; a break after punctuation, as in "21시~/8시", is fine)
  const top = (node, i) => {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const rect = range.getClientRects()[0];
    return rect ? rect.top : null;
  };
  const broken = [];
  for (const cell of [...document.querySelectorAll('main td, main th')].slice(0, 300)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.sr-only') || !shown(node.parentElement)) continue;
      const text = node.textContent;
      for (let i = 0; i + 1 < text.length; i++) {
        if (!/^[\\uac00-\\ud7a3]{2}$/.test(text.slice(i, i + 2))) continue;
        const a = top(node, i), b = top(node, i + 1);
        if (a !== null && b !== null && Math.abs(a - b) > 4) {
          broken.push(text.trim());
          break;
        }
      }
    }
  }
  return {
    broken: broken.slice(0, 5),
    overflow: document.documentElement.scrollWidth > window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    wide: wide,
    barHeight: Math.round(bar.height),
    wrapped: items.filter(el => lines(el) > 1).map(el => el.textContent.trim()),
    outside: items.filter(el => !inBar(el)).map(el => el.textContent.trim()),
    links: [...document.querySelectorAll('.mainnav a')].filter(shown).length,
    menuButton: shown(document.querySelector('.menu-button')),
    account: shown(document.querySelector('.langs')),
    who: shown(document.querySelector('.who')),
  };
}"""


@pytest.fixture
def shop(database: Database) -> tuple[str, str]:
    """A workspace and an owner with long names, and a customer with a year of web visits, an
    order, a review and consents on every channel. Returns the owner's email and the customer's
    page."""
    start = datetime.now(UTC) - timedelta(days=30)
    user_id = unique("alexandra-")
    with database.session() as session:
        workspace = make_workspace(session, name=WORKSPACE)
        owner = make_user(session, workspace=workspace, role="owner", locale="ko")
        owner.display_name = USER
        raw: list[dict[str, Any]] = [
            {
                "type": "identify",
                "userId": user_id,
                "traits": {
                    "name": "남궁민서 Konstantinopoulou",
                    "email": f"{user_id}.konstantinopoulou@example.com",
                    "phone": "010-1234-5678",
                },
                "timestamp": start.isoformat(),
            },
            *[
                {
                    "type": "page",
                    "userId": user_id,
                    "name": f"상품 상세 {i:02d}",
                    "properties": {"path": f"/products/spring-linen-shirt-{i}", "title": "린넨"},
                    "timestamp": (start + timedelta(hours=i)).isoformat(),
                }
                for i in range(6)
            ],
            {
                "type": "track",
                "userId": user_id,
                "event": "Order Completed",
                "properties": {
                    "order_id": unique("ORD-"),
                    "total": 164000,
                    "products": [
                        {"product_id": "SH-1", "name": "린넨 셔츠", "price": 82000, "quantity": 2}
                    ],
                },
                "timestamp": (start + timedelta(days=2)).isoformat(),
            },
            {
                "type": "track",
                "userId": user_id,
                "event": "Review Written",
                "properties": {"rating": 2, "text": "배송이 너무 늦어서 실망했어요."},
                "timestamp": (start + timedelta(days=4)).isoformat(),
            },
        ]
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
        for channel in ("email", "sms", "kakao", "push"):
            for purpose in ("service", "marketing", "night_marketing"):
                profiles.record_consent(
                    session,
                    customer=customer,
                    purpose=purpose,
                    channel=channel,
                    granted=True,
                    source="web_signup",
                    evidence="회원가입 약관 동의",
                    at=start,
                )
        email = owner.email
    bus.drain(database)
    return email, f"/customers/{customer_id}"


def sign_in(page: Any, live_server: str, email: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(password)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(f"{live_server}/customers")


def sign_in_with_long_names(page: Any, live_server: str, database: Database, *, locale: str) -> str:
    """Sign in as a new owner named USER of a new workspace named WORKSPACE; their email."""
    with database.session() as session:
        workspace = make_workspace(session, name=WORKSPACE)
        owner = make_user(session, workspace=workspace, role="owner", locale=locale)
        owner.display_name = USER
        email = owner.email
    sign_in(page, live_server, email, PASSWORD)
    return email


def test_every_main_page_fits_at_1366_1024_and_390_px_in_korean_and_english(
    live_server: str, shop: tuple[str, str], browser_page: Any
) -> None:
    from playwright.sync_api import expect

    email, customer = shop
    page = browser_page
    SCREENSHOTS.mkdir(exist_ok=True)
    sign_in(page, live_server, email, PASSWORD)
    problems: list[str] = []
    for lang, button in (("ko", "한국어"), ("en", "English")):
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        page.locator(".langs").get_by_role("button", name=button).click()
        expect(page.locator("html")).to_have_attribute("lang", lang)
        for path in PAGES:
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            response = page.goto(live_server + path.format(customer=customer))
            assert response is not None and response.ok, (path, lang)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                got = page.evaluate(MEASURE)
                name = path.format(customer="/customer").strip("/").replace("/", "-")
                page.screenshot(path=str(SCREENSHOTS / f"{name}.{lang}.{width}.png"))
                where = f"{path} {lang} {width}px"
                if got["overflow"]:
                    problems.append(
                        f"{where}: {got['scrollWidth']} px wide, past the side: {got['wide']}"
                    )
                if got["broken"]:
                    problems.append(f"{where}: words broken in a table: {got['broken']}")
                if got["wrapped"]:
                    problems.append(f"{where}: broken over two lines: {got['wrapped']}")
                # the members table fits its card where the settings menu sits beside it
                if path == "/settings/members" and width >= 1024:
                    cut = page.evaluate(
                        "[...document.querySelectorAll('.table-wrap')]"
                        ".some(el => el.scrollWidth > el.clientWidth + 1)"
                    )
                    if cut:
                        problems.append(f"{where}: the members table is cut off in its card")
                if got["outside"] or got["barHeight"] != 56:
                    problems.append(f"{where}: the bar is not one row: {got['outside']}")
                # the owner sees all eleven links in the bar from 1200 px, the menu button below
                expected = (11, False, True) if width >= WIDE else (0, True, width >= PHONE)
                seen = (got["links"], got["menuButton"], got["account"])
                if seen != expected:
                    problems.append(f"{where}: links, menu button, account items {seen}")
    assert problems == []
    assert page.problems == []  # no script error, no CSP violation


def test_long_names_end_in_an_ellipsis_with_the_whole_name_in_a_tooltip(
    live_server: str, database: Database, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    email = sign_in_with_long_names(page, live_server, database, locale="en")
    page.set_viewport_size({"width": 1366, "height": 900})
    for selector, whole in ((".workspace-name", WORKSPACE), (".who-name", USER)):
        name = page.locator(selector)
        expect(name).to_contain_text(whole)  # whole in the page, for screen readers and search
        shown = name.evaluate(
            "el => [getComputedStyle(el).textOverflow, el.scrollWidth > el.clientWidth]"
        )
        assert shown == ["ellipsis", True], selector
    expect(page.locator(".workspace-name")).to_have_attribute("title", f"Workspace: {WORKSPACE}")
    expect(page.locator(".who")).to_have_attribute("title", f"{USER} · {email} · Owner")


def test_below_1200_px_the_menu_folds_behind_a_button_for_mouse_keyboard_and_no_script(
    live_server: str, database: Database, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    email = sign_in_with_long_names(page, live_server, database, locale="ko")

    # 1024 px: the menu is closed; the button opens it and says so
    page.set_viewport_size({"width": 1024, "height": 800})
    # (a <summary>: Chromium gives screen readers a button that is expanded or collapsed)
    menu = page.locator(".navmenu > summary")
    expect(menu).to_have_text("메뉴")
    expect(menu).to_have_attribute("aria-expanded", "false")
    surveys = page.get_by_role("link", name="설문", exact=True)
    expect(surveys).to_be_hidden()
    expect(page.get_by_role("button", name="English")).to_be_visible()  # still in the bar
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".mainnav a")).to_have_count(11)
    expect(surveys).to_be_visible()
    # Escape closes it and leaves the focus on the button; Enter opens it again
    page.keyboard.press("Escape")
    expect(surveys).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(surveys).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(".mainnav a").first).to_be_focused()
    # a click elsewhere closes it
    page.mouse.click(900, 600)
    expect(surveys).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024

    # 390 px: brand, bell and the button; the menu holds the account items too
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.get_by_role("button", name="English")).to_be_hidden()
    menu.click()
    expect(page.get_by_role("button", name="English")).to_be_visible()
    expect(page.get_by_role("button", name="로그아웃")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    surveys.click()
    expect(page).to_have_url(f"{live_server}/surveys")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("설문")
    assert page.problems == []

    # without JavaScript the <details> menu still opens and closes
    context = page.context.browser.new_context(
        java_script_enabled=False, locale="ko-KR", viewport={"width": 390, "height": 800}
    )
    try:
        plain = context.new_page()
        sign_in(plain, live_server, email, PASSWORD)
        plain_menu = plain.locator(".menu-button")
        expect(plain.get_by_role("link", name="설문", exact=True)).to_be_hidden()
        plain_menu.click()
        expect(plain.get_by_role("link", name="설문", exact=True)).to_be_visible()
        plain_menu.click()
        expect(plain.get_by_role("link", name="설문", exact=True)).to_be_hidden()
    finally:
        context.close()
