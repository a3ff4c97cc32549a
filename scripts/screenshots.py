"""Screenshots of cxloop's main pages in Korean and English, for the README.

Builds the demo into a temporary directory (or uses one built before, ``--data-dir``), serves
it on a free local port, signs in as the demo owner in Chromium and saves what a 1366 × 860 px
window shows of each page to ``docs/screenshots/<page>.<ko|en>.png``.

    python scripts/screenshots.py                    # build the demo (a few minutes), then shoot
    python scripts/screenshots.py --data-dir DIR     # a demo built before with CXLOOP_DATA_DIR=DIR
    python scripts/screenshots.py --only cx-dashboard --only inbox

Chromium comes from the system (/usr/bin/chromium), as in the browser tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1366, "height": 860}
LANGUAGES = {"ko": "한국어", "en": "English"}
PAGE_TIMEOUT_MS = 180_000  # the first journey map of a 5,000-customer demo takes a while
CUSTOMER = "{customer}"  # the path of the first customer on the customers page

# (file name, path): the main pages, in the order of the top bar.
PAGES: list[tuple[str, str]] = [
    ("customers", "/customers"),
    ("customer", CUSTOMER),
    ("inbox", "/inbox"),
    ("cx-dashboard", "/cx"),
    ("text", "/text"),
    ("segments", "/insights/segments"),
    ("funnels", "/journeys/funnels"),
    ("journey-map", "/journeys/map"),
    ("loyalty", "/loyalty"),
    ("surveys", "/surveys"),
    ("follow-ups", "/follow-ups"),
    ("improvements", "/improvements"),
    ("settings-members", "/settings/members"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_demo(customers: int) -> None:
    """The demo workspace in the database of CXLOOP_DATA_DIR, built by `cxloop demo`."""
    command = [sys.executable, "-m", "cxloop.cli", "demo", "--no-serve", "--customers"]
    subprocess.run([*command, str(customers)], check=True)


@contextmanager
def serving() -> Iterator[str]:
    """cxloop on a free local port for the duration of the block."""
    import uvicorn

    from cxloop.app import create_app

    app = create_app()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def switch_language(page: Any, base: str, lang: str, button: str) -> None:
    """Choose the language with the top bar's button, again while the database is busy (a
    slow page that was given up on may still be writing)."""
    for _ in range(30):
        page.goto(f"{base}/customers")
        page.locator(".langs").get_by_role("button", name=button).click()
        page.wait_for_load_state()
        if page.locator("html").get_attribute("lang") == lang:
            return
        time.sleep(5)
    raise SystemExit(f"could not switch the language to {lang}")


def shoot(base: str, only: set[str]) -> list[Path]:
    """Sign in as the demo owner and save every page in both languages."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from cxloop.demo.team import DEMO_PASSWORD, OWNER_EMAIL

    saved: list[Path] = []
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="ko-KR", viewport=VIEWPORT, device_scale_factor=1)
        page: Any = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(f"{base}/login")
        page.locator("input[name=email]").fill(OWNER_EMAIL)
        page.locator("input[name=password]").fill(DEMO_PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(f"{base}/customers")
        customer = page.locator("table.customers tbody a[href^='/customers/']").first
        customer_path = str(customer.get_attribute("href"))
        for lang, button in LANGUAGES.items():
            switch_language(page, base, lang, button)
            for name, path in PAGES:
                if only and name not in only:
                    continue
                try:
                    page.goto(base + path.replace(CUSTOMER, customer_path))
                except PlaywrightTimeout:
                    print(f"{name} ({lang}): no answer in {PAGE_TIMEOUT_MS // 1000} s, skipped")
                    continue
                target = OUT / f"{name}.{lang}.png"
                page.screenshot(path=str(target), full_page=False)
                saved.append(target)
                print(f"{target.relative_to(ROOT)}")
        context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a data directory holding a built demo")
    parser.add_argument("--customers", type=int, default=5000, help="demo size when building")
    parser.add_argument("--only", action="append", default=[], help="only this page (repeatable)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium is needed at {CHROMIUM}")
    unknown = set(args.only) - {name for name, _ in PAGES}
    if unknown:
        raise SystemExit(f"unknown pages: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="cxloop-screenshots-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        os.environ["CXLOOP_DATA_DIR"] = str(data_dir)
        os.environ.pop("CXLOOP_DATABASE_URL", None)
        if args.data_dir is None:
            build_demo(args.customers)
        with serving() as base:
            saved = shoot(base, set(args.only))
    print(f"{len(saved)} screenshots in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
