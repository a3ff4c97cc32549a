"""Chromium for the browser tests: a shop's page carrying the chat widget, with the browser
to open it in, and signing a member in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import PASSWORD
from tests.helpers.distribution import shop_page


@contextmanager
def widget_shop(live_server: str, write_key: str, inbox_id: int) -> Iterator[tuple[Any, str]]:
    """Chromium, and the address of a shop's page (another origin) with the chat widget of
    ``inbox_id`` in Korean."""
    from playwright.sync_api import sync_playwright

    script = f"{live_server}/chat/widget.js"
    embed = f'data-inbox="{inbox_id}" data-locale="ko"'
    with shop_page(script, write_key, embed) as shop_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser, shop_url
        finally:
            browser.close()


def sign_in(page: Any, live_server: str, email: str) -> None:
    """Sign ``email`` in on the Korean sign-in page."""
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
