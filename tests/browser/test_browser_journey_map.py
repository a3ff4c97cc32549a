"""The journey map in Chromium against a live server: a CX manager sees the themes of a cell,
follows it to its customers and to what they wrote, and saves the map as a PNG drawn in the
browser from the map's own SVG (a real PNG, twice the SVG's size)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cxloop.core.db import Database
from tests.factories import make_user, make_workspace, unique
from tests.helpers.browser import sign_in
from tests.journeys.test_map_drill import written_story

pytestmark = [pytest.mark.browser, pytest.mark.live]

WEEK = "from=2026-03-02&to=2026-03-08"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Setup:
    email: str
    workspace_id: int


@pytest.fixture
def shop(database: Database) -> Setup:
    """Committed: the shop story with what its persons wrote, and a CX manager (Korean UI)."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("테마 가게 "))
        manager = make_user(session, workspace=workspace, role="marketer", locale="ko")
        written_story(session, SimpleNamespace(workspace=workspace))  # type: ignore[arg-type]
        return Setup(manager.email, workspace.id)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> bytes:
    """The PNG's filtered scanlines (its IDAT chunks inflated)."""
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return zlib.decompress(b"".join(chunks))


def test_a_cell_leads_to_its_customers_and_what_they_wrote(
    live_server: str, shop: Setup, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, live_server, shop.email)
    page.goto(f"{live_server}/journeys/map?{WEEK}")

    checkout = page.locator("#cell-consideration-checkout")
    expect(checkout.locator(".map-themes li")).to_have_text(
        ["결제 오류 2", "배송비 1", "앱 튕김 1"]
    )
    checkout.locator("a.cell-persons").click()
    expect(page.locator("h1")).to_have_text("'고려' 단계의 '결제' 접점의 고객")
    expect(page.locator("#person-list tbody tr")).to_have_count(6)
    page.locator("#outcome-dropped").click()
    expect(page.locator("#person-list tbody tr")).to_have_count(1)

    page.locator("#drill-texts").click()
    expect(page.locator("#verbatim-list li")).to_have_count(2)
    page.locator("#verbatim-list li").first.get_by_role("link", name="쿠폰").click()
    expect(page.locator("#drill-theme")).to_contain_text("테마 '쿠폰'이(가) 나온 글만 보입니다.")
    expect(page.locator("#verbatim-list blockquote")).to_have_text(
        ["카드 결제 오류, 쿠폰도 안 먹어요"]
    )
    page.locator("#back-to-map").click()
    expect(page.locator("#map-grid")).to_be_visible()
    assert page.problems == []


def test_the_map_saves_as_a_png_drawn_from_its_svg(
    live_server: str, shop: Setup, browser_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, live_server, shop.email)
    page.goto(f"{live_server}/journeys/map?{WEEK}")
    svg = page.request.get(f"{live_server}/journeys/map.svg?{WEEK}")
    svg_width = int(svg.text().split('width="', 2)[2].split('"', 1)[0])

    button = page.get_by_role("button", name="PNG로 저장")
    expect(button).to_be_visible()
    with page.expect_download() as waiting:
        button.click()
    download = waiting.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    assert download.suggested_filename.startswith("journey-map-")
    assert download.suggested_filename.endswith(".png")
    data = saved.read_bytes()
    width, height = png_size(data)
    assert svg_width > 500
    assert width >= svg_width and width == 2 * svg_width
    assert height > 200
    # Drawn, not blank: anti-aliased text and coloured cells give many byte values.
    assert len(set(png_pixels(data))) > 50
    expect(page.locator("#map-png-status")).to_have_text("")
    assert page.problems == []
