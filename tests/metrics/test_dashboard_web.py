"""The CX dashboard page (/cx) through HTTP and in Chromium: score cards with intervals and the
change in words, in Korean and English; SVG plots with text alternatives; escaping; CSV
downloads; bad parameters; sign-in; another workspace's answers never shown."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.accounts.display_names import Names
from cxloop.core import i18n
from cxloop.core.db import Database
from cxloop.models import Invitation, Survey, Workspace
from cxloop.web.charts import interval_bar_chart
from cxloop.web.labels import touchpoint_words
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
                "Daily trend (31 days)",
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
                "일별 추이 (31일)",
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
    day = {"en": "Mar 10", "ko": "3월 10일"}[locale]  # a day of the period, in its language
    assert re.search(rf'<desc id="trend-nps-d">[^<]*{day} 20 \(±54\.0\) n=10', reply.text)


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
    nps = next(row for row in table if row["Metric"] == "nps")  # heads in the reader's language
    assert (nps["Answers"], nps["Score"], nps["Previous period score"], nps["Change"]) == (
        "10",
        "20.0",
        "-100.0",
        "120.0",
    )
    assert nps["Significant"] == "true"

    trend = client.get("/cx/export/trend.csv?from=2025-03-01&to=2025-03-31&period=month")
    rows = list(csv.reader(io.StringIO(trend.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[-1][0] == "2025-03"  # the period's one month

    assert client.get("/cx/export/everything.csv").status_code == 422


def test_the_dashboards_catalog_keys_exist_in_both_languages() -> None:
    catalog = i18n.catalog()
    keys = [
        *page_module.METRIC_NAMES.values(),
        *page_module.UNITS.values(),
        *page_module.SINCE.values(),
        *page_module.TREND_HEADINGS.values(),
        *page_module.TREND_GAPS.values(),
        *page_module.DIMENSION_NAMES.values(),
        *page_module.DRIVER_TITLES.values(),
        *page_module.FIELD_NAMES.values(),
        *page_module.PROBLEMS.values(),
    ]
    assert [k for k in keys if set(catalog.get(k, {})) != {"ko", "en"}] == []


def _ticks(page_html: str, chart: str) -> list[tuple[float, str]]:
    """The axis labels (x, words) under one trend plot."""
    svg = page_html.split(f'aria-labelledby="{chart}-t')[1].split("</svg>")[0]
    return [
        (float(x), label)
        for x, label in re.findall(
            r'<text x="([\d.]+)" y="[\d.]+" class="tick" text-anchor="middle">([^<]+)</text>', svg
        )
    ]


@pytest.mark.parametrize(
    ("query", "heading", "last_tick", "gaps"),
    [
        ("from=2025-03-01&to=2025-03-31", "Daily trend (31 days)", "Mar 31", "30 of 31 days"),
        ("from=2025-01-01&to=2025-03-31", "Weekly trend (14 weeks)", "Mar 31", "12 of 14 weeks"),
        (
            "from=2025-01-01&to=2025-03-31&period=month",
            "Monthly trend (3 months)",
            "Mar",
            "1 of 3 months",
        ),
    ],
    ids=["a-month-by-day", "a-quarter-by-week", "by-month-asked"],
)
def test_the_trend_follows_the_chosen_period_with_dates_in_words_and_gaps_explained(
    client: TestClient, session: Session, query: str, heading: str, last_tick: str, gaps: str
) -> None:
    _, _, email = _shop(session)  # ten answers on March 10, ten on February 18
    login(client, email)

    reply = get(client, f"/cx?{query}")

    assert reply.status_code == 200
    text = text_of(reply)
    assert heading in text
    assert f"Gaps are {gaps.split()[-1]} without NPS answers ({gaps})." in text
    assert "Hollow dots have fewer than 30 answers: indicative only." in text
    assert 'class="dot faint"' in reply.text
    ticks = _ticks(reply.text, "trend-nps")
    assert ticks[-1][1] == last_tick  # the newest bucket is always named
    assert not any("-W" in label for _, label in ticks)
    # the names are thinned so none runs into the next (10 px type, about 6 units a letter)
    assert all(b[0] - a[0] >= 6 * len(a[1]) for a, b in itertools.pairwise(ticks))


def test_korean_axis_dates(client: TestClient, session: Session) -> None:
    _, _, email = _shop(session, locale="ko")
    login(client, email)

    reply = get(client, "/cx?from=2024-12-01&to=2025-03-31")

    labels = [label for _, label in _ticks(reply.text, "trend-nps")]
    # every third Monday, the newest last, with the year on the first and where it turns
    assert labels == [
        "2024년 11월 25일",
        "12월 16일",
        "2025년 1월 6일",
        "1월 27일",
        "2월 17일",
        "3월 10일",
        "3월 31일",
    ]
    assert "선이 끊긴 곳은 NPS 응답이 없는 주입니다 (19주 중 17주)." in text_of(reply)


def test_drivers_draw_a_bar_for_each_touchpoint_with_readable_names(
    client: TestClient, session: Session
) -> None:
    _, survey, email = _shop(session)
    for i, touchpoint in enumerate(("delivery", "email_support", "gift_wrap") * 12):
        answer(session, survey, nps=(i * 7) % 11, touchpoint=touchpoint)
    login(client, email)

    reply = get(client, MARCH)

    figure = reply.text.split('id="drivers-figure"')[1].split("</figure>")[0]
    assert figure.count('class="bar"') == 3
    labels = re.findall(r'class="label" text-anchor="end">([^<]+)</text>', figure)
    assert sorted(labels) == ["Delivery", "Email support", "gift wrap"]
    assert "drivers-note" not in reply.text


def test_rating_questions_stand_in_for_a_single_nps_touchpoint_and_say_so(
    client: TestClient, session: Session
) -> None:
    workspace, _, email = _shop(session)
    relationship = make_survey(
        session, workspace, name="분기 NPS", ratings=("delivery_rating", "price_rating")
    )
    for i in range(40):
        rating = 1 + i % 5
        answer(
            session,
            relationship,
            nps=min(10, 2 * rating - i % 2),
            touchpoint="relationship",
            answers={"delivery_rating": rating, "price_rating": 1 + (i * 3) % 5},
        )
    login(client, email)

    reply = get(client, MARCH)

    text = text_of(reply)
    assert (
        "This period's NPS answers all came from one touchpoint (Relationship), so touchpoints "
        "cannot be compared. Shown instead: the rating questions of ‘분기 NPS’" in text
    )
    assert "Questions that move NPS most" in text
    figure = reply.text.split('id="drivers-figure"')[1].split("</figure>")[0]
    assert figure.count('class="bar"') == 2
    csv_rows = client.get(f"/cx/export/drivers.csv?{MARCH.split('?')[1]}").content.decode(
        "utf-8-sig"
    )
    assert "delivery_rating" in csv_rows and "relationship" not in csv_rows


def test_the_trait_is_picked_from_the_traits_customers_have(
    client: TestClient, session: Session
) -> None:
    workspace, _, email = _shop(session)
    make_customer(session, workspace=workspace, traits={"region": "서울", "tier": "gold"})
    make_customer(session, workspace=workspace, traits={"region": "부산"})
    make_customer(session, workspace=make_workspace(session), traits={"secret_trait": "x"})
    login(client, email)

    reply = get(client, MARCH + "&dimension=trait&trait=tier")

    select = re.search(r'<select name="trait">(.*?)</select>', reply.text, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]*)"( selected)?>', select.group(1))
    assert options == [("", ""), ("region", ""), ("tier", " selected")]
    assert '<input type="text" name="trait"' not in reply.text
    # an old link naming a trait no profile has still shows it as chosen
    old = get(client, MARCH + "&dimension=trait&trait=plan")
    assert '<option value="plan" selected>plan</option>' in old.text


def test_the_breakdown_names_touchpoints_and_says_which_score_covers_more_groups(
    client: TestClient, session: Session
) -> None:
    _, survey, email = _shop(session)
    answer(session, survey, csat=5, touchpoint="checkout_web")
    answer(session, survey, csat=2, touchpoint="gift_wrap")
    login(client, email)

    nps = get(client, MARCH)
    csat = get(client, MARCH + "&metric=csat")

    assert "1 of 3 groups have NPS answers. See another score: CSAT (% satisfied) (3 groups)" in (
        text_of(nps)
    )
    assert "metric=csat" in nps.text.split('class="muted small coverage"')[1].split("</p>")[0]
    desc = re.search(r'<desc id="breakdown-d">([^<]*)</desc>', csat.text)
    assert desc is not None and "Web checkout 100.0%" in desc.group(1)
    assert "gift wrap 0.0%" in desc.group(1)
    assert "coverage" not in csat.text.split('id="breakdown-h"')[1].split("</section>")[0]


def test_the_response_rate_says_why_it_counts_other_answers(
    client: TestClient, session: Session
) -> None:
    workspace, survey, email = _shop(session)
    customer = make_customer(session, workspace=workspace)
    invitation = Invitation(
        workspace_id=workspace.id,
        survey_id=survey.id,
        customer_id=customer.id,
        token_hash="t-rate-why",
        channel="email",
        status="sent",
        send_at=IN_MARCH,
        sent_at=IN_MARCH,
        expires_at=IN_MARCH + timedelta(days=14),
    )
    session.add(invitation)
    session.flush()
    answer(session, survey, nps=9, invitation=invitation)
    login(client, email)

    text = text_of(get(client, MARCH))

    assert "1 of 1 invitations answered" in text
    assert (
        "The rate counts the invitations sent in this period that were answered (even after it "
        "ended). The 11 completed responses above" in text
    )


@pytest.mark.parametrize(
    ("key", "locale", "label"),
    [
        ("checkout_web", "ko", "웹 결제"),
        ("checkout_web", "en", "Web checkout"),
        ("email_support", "ko", "이메일 상담"),
        ("gift_wrap", "ko", "gift wrap"),
        ("Conversation Resolved", "en", "After a conversation"),
        ("배송", "en", "배송"),
    ],
)
def test_touchpoints_read_as_words(key: str, locale: str, label: str) -> None:
    assert touchpoint_words(Names({}), key, locale) == label
    named = Names({("touchpoint", "checkout_web"): ("PC 결제", "")})
    assert touchpoint_words(named, "checkout_web", "ko") == "PC 결제"
    assert touchpoint_words(named, "checkout_web", "en") == "PC 결제"  # the other language's


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Your rating of customer service", "Your rating of customer service"),
        ("고객 상담에 대한 만족도", "고객 상담에 대한 만족도"),
        ("Your rating of " + "very " * 30 + "long", "Your rating of " + "very " * 5 + "ver…"),
    ],
    ids=["english-question", "korean-question", "too-long"],
)
def test_bar_labels_get_room_for_a_questions_words(name: str, shown: str) -> None:
    svg = interval_bar_chart(
        [(name, 40.0, None, None, False)], lo=0, hi=100, chart_id="d", title="t", desc="d"
    )

    assert re.findall(r'class="label" text-anchor="end">([^<]+)</text>', svg) == [shown]
    assert f"<title>{name}</title>" in svg  # the whole name on hover


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
    # a bar for each touchpoint driver, and the trait picked from a list
    assert page.locator("#drivers-figure svg .bar").count() == 3
    assert page.locator("select[name=trait] option").count() == 1  # no traits: only the prompt
    # change the period to the month picker and apply: the page follows
    page.select_option("select[name=period]", "month")
    page.click(".dash-filters button[type=submit]")
    page.wait_for_url(re.compile(r"period=month"))
    assert "월별 추이 (1개월)" in page.locator("#trend-h").inner_text()
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
