"""The CX dashboard page (/cx) through HTTP and in Chromium: score cards with intervals and the
change in words, in Korean and English; SVG plots with text alternatives; escaping; CSV
downloads; bad parameters; sign-in; another workspace's answers never shown."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.core import i18n
from cxloop.core.db import Database
from cxloop.models import Survey, Workspace
from cxloop.web.metrics import dashboard as page_module
from tests.factories import make_customer, make_user, make_workspace
from tests.helpers.dashboard import IN_MARCH, START, answer, make_survey, ten_answers
from tests.helpers.web import get, login, text_of

MARCH = "/cx?from=2025-03-01&to=2025-03-31"
SCREENSHOT = Path("/tmp/cxloop-dashboard.png")


def _shop(session: Session, *, locale: str = "en") -> tuple[Workspace, Survey, str]:
    """A workspace whose March has ten answers (NPS 20), February ten detractors (NPS −100)."""
    workspace = make_workspace(session, name="나눔 스토어")
    user = make_user(session, workspace=workspace, role="viewer", locale=locale)
    survey = make_survey(session, workspace)
    ten_answers(session, survey)
    for i in range(10):
        answer(session, survey, at=START - timedelta(days=20, hours=i), nps=3, touchpoint="배송")
    session.flush()
    return workspace, survey, user.email


def test_the_page_needs_a_sign_in(client: TestClient) -> None:
    reply = client.get("/cx", headers={"Accept": "text/html"}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fcx"


@pytest.mark.parametrize(
    ("locale", "phrases"),
    [
        (
            "en",
            [
                "CX dashboard",
                "NPS 20 (±54.0)",
                "95% interval -34.0 to 74.0, n = 10",
                "Too few responses (10): treat as indicative only.",
                "up 120.0 points since the previous period, significant (p<0.001)",
                "CSAT (% satisfied) 70.0% (±24.8)",
                "CES (customer effort) 5.00 (±1.17)",
                "No invitations were sent in this period.",
                "Weekly trend (52 weeks)",
                "NPS by touchpoint",
            ],
        ),
        (
            "ko",
            [
                "CX 대시보드",
                "NPS 20 (±54.0)",
                "95% 신뢰구간 -34.0 ~ 74.0, 응답 10건",
                "응답이 적습니다 (10건): 참고용으로만 보세요.",
                "이전 기간 대비 120.0점 상승, 통계적으로 유의함 (p<0.001)",
                "CSAT (만족 비율) 70.0% (±24.8)",
                "주별 추이 (52주)",
                "접점별 NPS",
            ],
        ),
    ],
    ids=["en", "ko"],
)
def test_the_page_shows_scores_intervals_and_changes_in_words(
    client: TestClient, session: Session, locale: str, phrases: list[str]
) -> None:
    _, _, email = _shop(session, locale=locale)
    login(client, email)

    reply = get(client, MARCH)

    assert reply.status_code == 200
    text = text_of(reply)
    for phrase in phrases:
        assert phrase in text
    # the nav entry, and every plot an image with a title and a description
    assert '<a href="/cx" aria-current="page">' in reply.text
    charts = re.findall(
        r'<svg class="chart[^"]*"[^>]*role="img" aria-labelledby="([\w-]+)-t', reply.text
    )
    assert {"trend-nps", "trend-csat", "trend-ces", "breakdown"} <= set(charts)
    assert re.search(r'<desc id="trend-nps-d">[^<]*2025-W11 20 \(±54\.0\) n=10', reply.text)


def test_the_chosen_breakdown_metric_and_trait_are_plotted(
    client: TestClient, session: Session
) -> None:
    workspace, survey, email = _shop(session)
    seoul = make_customer(session, workspace=workspace, traits={"region": "서울"})
    for score in (10, 9, 8):
        answer(session, survey, nps=score, csat=5, customer=seoul)
    login(client, email)

    reply = get(client, MARCH + "&dimension=trait&trait=region&metric=csat")

    assert reply.status_code == 200
    desc = re.search(r'<desc id="breakdown-d">([^<]*)</desc>', reply.text)
    assert desc is not None
    assert desc.group(1).startswith("(none) 70.0% (±")
    assert "서울 100.0% (±" in desc.group(1)
    assert "CSAT (% satisfied) by customer trait · region" in text_of(reply)


def test_data_is_escaped_in_charts_and_pickers(client: TestClient, session: Session) -> None:
    _, survey, email = _shop(session)
    answer(session, survey, nps=10, touchpoint="<script>alert(1)</script>")
    survey.name = '"><img src=x onerror=alert(1)>'
    login(client, email)

    reply = get(client, MARCH)

    assert reply.status_code == 200
    assert "<script>alert(1)" not in reply.text and "<img src=x" not in reply.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text


def test_another_workspaces_answers_never_show(client: TestClient, session: Session) -> None:
    _shop(session)  # another shop, with answers in March
    mine = make_workspace(session)
    user = make_user(session, workspace=mine, role="viewer")
    login(client, user.email)

    text = text_of(get(client, MARCH))

    assert "0 completed responses" in text
    assert "No responses in this period." in text
    assert "나눔 스토어" not in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2025-13-01", "The From date could not be read"),
        ("from=2025-03-31&to=2025-03-01", "The period is not valid"),
        ("to=9999-12-31", "The period is not valid"),
        ("survey_id=999999", "That survey is not in this workspace"),
        ("dimension=trait&trait=a.b", "That is not a trait name"),
    ],
)
def test_bad_parameters_are_explained_on_the_page(
    client: TestClient, session: Session, query: str, message: str
) -> None:
    _, _, email = _shop(session)
    login(client, email)
    reply = get(client, f"/cx?{query}")
    assert reply.status_code == 200
    assert message in text_of(reply)


def test_csv_downloads_for_every_block(client: TestClient, session: Session) -> None:
    _, _, email = _shop(session)
    login(client, email)
    page = get(client, MARCH).text
    links = re.findall(r'href="(/cx/export/(\w+)\.csv[^"]*)"', page)
    assert {block for _, block in links} == {"scores", "trend", "breakdown", "drivers", "kpis"}

    for url, block in links:
        reply = client.get(url.replace("&amp;", "&"))
        assert reply.status_code == 200, (block, reply.text)
        assert reply.headers["content-disposition"] == (
            f'attachment; filename="cx-{block}-2025-03-01-2025-03-31.csv"'
        )
        assert reply.content.startswith(b"\xef\xbb\xbf")

    scores = client.get("/cx/export/scores.csv?from=2025-03-01&to=2025-03-31")
    table = list(csv.DictReader(io.StringIO(scores.content.decode("utf-8-sig"))))
    nps = next(row for row in table if row["metric"] == "nps")
    assert (nps["n"], nps["estimate"], nps["previous_estimate"], nps["change"]) == (
        "10",
        "20.0",
        "-100.0",
        "120.0",
    )
    assert nps["significant"] == "true"

    trend = client.get("/cx/export/trend.csv?from=2025-03-01&to=2025-03-31&period=month")
    rows = list(csv.reader(io.StringIO(trend.content.decode("utf-8-sig"))))
    assert len(rows) == 13 and rows[-1][0] == "2025-03"

    assert client.get("/cx/export/everything.csv").status_code == 422


def test_the_dashboards_catalog_keys_exist_in_both_languages() -> None:
    catalog = i18n.catalog()
    keys = [
        *page_module.METRIC_NAMES.values(),
        *page_module.UNITS.values(),
        *page_module.SINCE.values(),
        *page_module.DIMENSION_NAMES.values(),
        *page_module.DRIVER_TITLES.values(),
        *page_module.FIELD_NAMES.values(),
        *page_module.PROBLEMS.values(),
    ]
    assert [k for k in keys if set(catalog.get(k, {})) != {"ko", "en"}] == []


# --- in Chromium -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.live
def test_the_dashboard_in_chromium(browser_page, live_server: str, database: Database) -> None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        _, survey, email = _shop(session, locale="ko")
        for i, touchpoint in enumerate(("배송", "상담", "결제") * 12):
            answer(
                session,
                survey,
                at=IN_MARCH + timedelta(days=1, minutes=i),
                nps=(i * 7) % 11,
                touchpoint=touchpoint,
            )
        session.commit()
    page = browser_page
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit].primary, form[action='/login'] button[type=submit]")
    page.goto(f"{live_server}{MARCH}")

    assert page.locator("h1").inner_text() == "CX 대시보드"
    nps_card = page.locator("article[data-metric=nps]")
    assert "NPS" in nps_card.inner_text()
    assert nps_card.locator("svg.ci-bar").count() == 1
    assert page.locator("svg#x, svg.ci-chart").count() == 3
    # the breakdown plots one bar per touchpoint group, whiskers included
    bars = page.locator("#breakdown-figure svg .bar")
    assert bars.count() == 4
    box = page.locator("#breakdown-figure svg").bounding_box()
    assert box is not None and box["width"] > 400
    # change the period to the month picker and apply: the page follows
    page.select_option("select[name=period]", "month")
    page.click(".dash-filters button[type=submit]")
    page.wait_for_url(re.compile(r"period=month"))
    assert "월별 추이 (12개월)" in page.locator("#trend-h").inner_text()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]
    assert datetime.now(UTC) > IN_MARCH


def test_the_emotion_curve_of_the_period_is_on_the_dashboard(
    client: TestClient, session: Session
) -> None:
    from tests.helpers.text import comment

    workspace, _, email = _shop(session, locale="ko")
    at = IN_MARCH
    buyer = make_customer(session, workspace=workspace)
    buyer.lifecycle_stage = "customer"
    comment(
        session,
        workspace,
        "배송이 너무 늦어서 화가 났어요",
        at=at,
        touchpoint="배송",
        customer=buyer,
    )
    comment(session, workspace, "앱이 빠르고 편해요", at=at, touchpoint="앱")
    comment(
        session,
        workspace,
        "4월 배송은 아주 빨랐어요",
        at=at + timedelta(days=40),
        touchpoint="배송",
    )
    login(client, email)

    reply = get(client, MARCH)

    assert reply.status_code == 200
    block = reply.text.split('aria-labelledby="emotion-h"')[1].split("</section>")[0]
    assert "tx-emotion-touchpoints" in block and "<svg" in block
    # stages are categories: a bar each, pale with so few texts, and no line joining them
    stages = block.split('aria-labelledby="tx-emotion-stages-t')[1].split("</svg>")[0]
    assert "<polyline" not in stages and "<path" not in stages
    assert "faint" in stages
    words = " ".join(re.sub(r"<[^>]+>", " ", block).split())
    assert "배송 -" in words and "앱 +" in words  # each touchpoint's mean with its sign
    assert "(1건" in words  # one text each in March; April's is outside the period
    assert "설문 필터는 적용되지 않습니다" in text_of(reply)
