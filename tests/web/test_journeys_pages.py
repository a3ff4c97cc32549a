"""The journeys pages through the web client with the shop story: the funnel by platform with
ios flagged as converting worst, the persons behind a step, what the drop-offs did instead,
paths, the retention heat map and the test of a difference; bad questions show the form again
with a message in the user's language (never a 500), and typed values are escaped."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.journeys import catalogue
from tests.factories import Tenant, make_user
from tests.helpers.web import get, login, text_of
from tests.journeys.story import DAY1, STEPS, shop_story

PERIOD = [("from", "2026-03-02"), ("to", "2026-03-08")]
FUNNEL = [("event", name) for name in STEPS.split(",")] + PERIOD


def sign_in(client: TestClient, session: Session, tenant: Tenant, locale: str = "ko") -> None:
    user = make_user(session, workspace=tenant.workspace, role="viewer", locale=locale)
    session.flush()
    assert login(client, user.email).status_code == 303


def url(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}"


def cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert row, row_id
    return [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]


@pytest.fixture
def story(session: Session, tenant: Tenant) -> dict[str, int]:
    return shop_story(session, tenant.workspace.id)


def test_the_funnel_by_platform_counts_each_step_and_flags_ios(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    page = get(client, url("/journeys/funnels", [*FUNNEL, ("by", "platform"), ("interval", "day")]))

    assert page.status_code == 200, page.text
    counts = [cells(page.text, f"step-{i}")[0] for i in range(1, 5)]
    assert counts == ["6", "5", "5", "3"]
    assert cells(page.text, "step-2")[1:4] == ["83.3%", "83.3%", "1"]
    assert cells(page.text, "step-2")[4] == "중앙값 30분 · 90% 1시간"
    ios = re.search(r'<tr class="worst" data-value="ios">(.*?)</tr>', page.text, re.S)
    assert ios, "the ios row is flagged"
    assert "▼ 가장 낮음" in ios[1]
    assert page.text.count('class="worst"') == 1
    words = text_of(page)
    assert "'ios'의 전환율이 0%로 가장 낮습니다 (2명 중 0명 전환, 전체 50%)." in words
    assert "<svg" in page.text and 'class="chart funnel-chart"' in page.text
    assert 'id="conversion-over-time' in page.text and 'id="time-to-convert' in page.text
    assert '<a href="/journeys/funnels" aria-current="page">여정</a>' in page.text
    dropped = "/journeys/funnels/persons?" + urlencode(
        [
            *[("event", n) for n in STEPS.split(",")],
            ("window", "14"),
            ("order", "ordered"),
            ("by", "platform"),
            *PERIOD,
            ("interval", "day"),
            ("step", "4"),
            ("dropped", "1"),
        ]
    )
    assert dropped.replace("&", "&amp;") in page.text


def test_the_persons_page_lists_the_two_ios_profiles_dropped_before_the_order(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    page = get(client, url("/journeys/funnels/persons", [*FUNNEL, ("step", "4"), ("dropped", "1")]))

    assert page.status_code == 200, page.text
    linked = re.findall(r'href="/customers/(\d+)"', page.text)
    assert sorted(int(i) for i in linked) == sorted([story["ios1"], story["ios2"]])
    assert "4단계 'Order Completed' 직전에 이탈한 고객" in text_of(page)


def test_the_persons_page_pages_with_a_cursor(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    converted = sorted([story["web1"], story["web2"], story["web3"]])

    page = get(
        client,
        url("/journeys/funnels/persons", [*FUNNEL, ("step", "4"), ("after", str(converted[0]))]),
    )

    assert page.status_code == 200, page.text
    linked = [int(i) for i in re.findall(r'href="/customers/(\d+)"', page.text)]
    assert linked == converted[1:]


def test_what_the_drop_offs_did_instead_was_the_support_chat(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")

    page = get(client, url("/journeys/funnels/dropoff", [*FUNNEL, ("step", "4"), ("steps", "2")]))

    assert page.status_code == 200, page.text
    words = text_of(page)
    assert "What they did instead of step 4 'Order Completed'" in words
    assert 'class="chart sankey"' in page.text
    top = re.search(r'<table class="list" id="top-paths">(.*?)</table>', page.text, re.S)
    assert top and "Support Chat Started" in top[1]
    assert "(nothing within the window)" in top[1]
    assert 'class="node end"' in page.text and "Ended · 1 people" in page.text


def test_the_paths_page_draws_the_paths_after_an_event(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    pairs = [("event", "Product Viewed"), ("steps", "3"), *PERIOD]
    pairs.append(("clean", "(Product Added|Support Chat Started) => Engaged"))

    page = get(client, url("/journeys/paths", pairs))

    assert page.status_code == 200, page.text
    assert "고객 6명" in text_of(page)
    assert "Engaged · 6명" in page.text
    assert 'data-step="0"' in page.text and 'data-step="3"' in page.text


def test_the_retention_heat_map_prints_every_share_and_leaves_the_future_empty(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    pairs = [
        ("start_event", "Product Viewed"),
        ("period", "day"),
        ("periods", "3"),
        ("cohorts", "7"),
        ("from", "2026-03-02"),
    ]

    page = get(client, url("/journeys/retention", pairs))

    assert page.status_code == 200, page.text
    table = re.search(
        r'<table class="list heatmap" id="retention-table">(.*?)</table>', page.text, re.S
    )
    assert table
    # 2 March: web1, web2 and ios1 start; web2 and web3 (merged) come back the next day.
    first = re.search(r"<tbody>\s*<tr>(.*?)</tr>", table[1], re.S)
    assert first
    shown = [
        re.sub(r"<[^>]+>", " ", c).split()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", first[1], re.S)
    ]
    assert shown[0] == ["3"]
    assert shown[1] == ["33.3%", "1"]
    assert 'class="num heat heat-3"' in table[1]
    assert "평균" in table[1] and "1일 후" in table[1]
    # Nobody started on 8 March: its periods have begun, so they read "—", not "not begun".
    last = re.findall(r"<tbody>.*?</tbody>", table[1], re.S)[0].split("<tr>")[-1]
    assert last.count('title="') == 3 and "—" in last and 'class="future"' not in last


def test_the_retention_page_leaves_periods_not_begun_empty(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")
    page = get(
        client,
        url(
            "/journeys/retention",
            [
                ("start_event", "Product Viewed"),
                ("period", "week"),
                ("periods", "2"),
                ("cohorts", "1"),
            ],
        ),
    )

    assert page.status_code == 200, page.text
    # The latest week's cohort has not reached a week later yet.
    assert (
        page.text.count('<td class="future"><span class="sr-only">Not begun yet</span></td>') >= 2
    )


def test_two_platforms_compared_in_plain_words(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")
    pairs = [*FUNNEL, ("by", "platform"), ("compare", "values"), ("a", "web"), ("b", "ios")]

    page = get(client, url("/journeys/funnels", pairs))

    assert page.status_code == 200, page.text
    assert "ios converts -100%p differently from web (95% interval" in text_of(page)
    assert "p = 0.025). The difference is statistically significant" in text_of(page)


def test_two_periods_compared(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    pairs = [
        *FUNNEL,
        ("compare", "periods"),
        ("before_from", "2026-03-02"),
        ("before_to", "2026-03-03"),
        ("after_from", "2026-03-04"),
        ("after_to", "2026-03-08"),
    ]

    page = get(client, url("/journeys/funnels", pairs))

    assert page.status_code == 200, page.text
    assert "통계적으로 유의하지 않습니다" in text_of(page)


BAD = [
    pytest.param(
        "/journeys/funnels",
        [("event", "A"), *PERIOD],
        "퍼널에는 단계가 2개에서 20개 필요합니다 (지금 1개)",
        id="one-step",
    ),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL[:4], ("from", "2026-13-01")],
        "시작일 '2026-13-01'은(는) 날짜가 아닙니다",
        id="bad-date",
    ),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL[:4], ("from", "2024-01-01"), ("to", "2026-03-01")],
        "기간은 최대 400일까지",
        id="too-long",
    ),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL[:4], ("from", "2026-03-09"), ("to", "2026-03-01")],
        "종료일은 시작일과 같거나",
        id="backwards",
    ),
    pytest.param(
        "/journeys/funnels", [*FUNNEL, ("window", "abc")], "전환 기간(일)에는", id="bad-window"
    ),
    pytest.param("/journeys/funnels", [*FUNNEL, ("by", 'a"b')], "속성 이름", id="bad-property"),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL, ("order", "sideways")],
        "고를 수 있는 값이 아닙니다",
        id="bad-order",
    ),
    pytest.param(
        "/journeys/funnels",
        [("event", "A"), ("event", "A"), ("order", "unordered")],
        "같은 이벤트를 두 번",
        id="unordered-twice",
    ),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL, ("compare", "values"), ("a", "x"), ("b", "y")],
        "나눠 볼 속성을 정하세요",
        id="values-without-breakdown",
    ),
    pytest.param(
        "/journeys/funnels",
        [*FUNNEL, ("by", "platform"), ("compare", "values"), ("a", "x"), ("b", "y")],
        "이 기간의 값 가운데 'x'이(가) 없습니다",
        id="unknown-value",
    ),
    pytest.param(
        "/journeys/paths",
        [("event", "Product Viewed"), ("clean", "([a-z => x")],
        "정리 규칙 1번째 줄의 정규식이 올바르지 않습니다",
        id="bad-regex",
    ),
    pytest.param(
        "/journeys/paths",
        [("event", "Product Viewed"), ("clean", "(a)\\1 => x")],
        "정리 규칙 1번째 줄의 정규식이 올바르지 않습니다",
        id="backreference",
    ),
    pytest.param(
        "/journeys/paths",
        [("event", "Product Viewed"), ("clean", "no arrow")],
        "'정규식 => 이름' 형식",
        id="rule-without-arrow",
    ),
    pytest.param(
        "/journeys/paths",
        [("event", "Product Viewed"), ("steps", "11")],
        "단계 수에는 1부터 10까지",
        id="too-many-steps",
    ),
    pytest.param("/journeys/paths", [("event", "")], "이벤트 이름을 입력하세요", id="no-event"),
    pytest.param(
        "/journeys/funnels/dropoff",
        [*FUNNEL, ("step", "1")],
        "단계 번호에는 2부터 4까지",
        id="dropoff-step-1",
    ),
    pytest.param(
        "/journeys/funnels/dropoff", [("event", "A")], "퍼널에는 단계가", id="dropoff-one-step"
    ),
    pytest.param(
        "/journeys/funnels/persons",
        [*FUNNEL, ("step", "9")],
        "단계 번호에는 1부터 4까지",
        id="persons-step-9",
    ),
    pytest.param(
        "/journeys/retention",
        [("start_event", "A"), ("period", "day"), ("periods", "500")],
        "볼 기간 수에는 1부터 92까지",
        id="too-many-periods",
    ),
    pytest.param(
        "/journeys/retention",
        [("start_event", "A"), ("from", "yesterday")],
        "날짜가 아닙니다",
        id="retention-bad-date",
    ),
    pytest.param(
        "/journeys/retention",
        [("start_event", "A"), ("period", "year")],
        "고를 수 있는 값이 아닙니다",
        id="retention-bad-period",
    ),
    pytest.param(
        "/journeys/retention",
        [("start_event", "A"), ("mode", "forever")],
        "'forever'은(는) 고를 수 있는 값이 아닙니다",
        id="retention-bad-mode",
    ),
]


@pytest.mark.parametrize(("path", "pairs", "message"), BAD)
def test_bad_questions_show_the_form_again_with_a_clear_message(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    path: str,
    pairs: list[tuple[str, str]],
    message: str,
) -> None:
    sign_in(client, session, tenant)

    page = get(client, url(path, pairs))

    assert page.status_code == 422, page.text
    error = re.search(
        r'<div class="flash error" role="alert" id="(?:form|compare)-error">(.*?)</div>',
        page.text,
        re.S,
    )
    assert error and message in text_of(page), text_of(page)[:600]
    assert "<form" in page.text


def test_english_labels_and_messages(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")

    empty = get(client, "/journeys/funnels")
    one_step = get(client, url("/journeys/funnels", [("event", "A")]))
    funnel = get(client, url("/journeys/funnels", [*FUNNEL, ("by", "platform")]))

    assert empty.status_code == 200
    assert '<a href="/journeys/funnels" aria-current="page">Journeys</a>' in empty.text
    assert "Step 1" in text_of(empty) and "In order" in text_of(empty)
    assert "A funnel needs 2 to 20 steps (it has 1)" in text_of(one_step)
    assert "'ios' converts worst: 0% (0 of 2; 50% overall)." in text_of(funnel)
    assert "median 30 min · p90 1 h" in text_of(funnel)


def test_typed_and_stored_names_are_escaped(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant)
    evil = '<script>alert("x")</script>'

    funnel = get(client, url("/journeys/funnels", [("event", evil), ("event", "B"), *PERIOD]))
    paths = get(client, url("/journeys/paths", [("event", evil), ("clean", f"{evil} => {evil}")]))

    for page in (funnel, paths):
        assert page.status_code == 200, page.text
        assert evil not in page.text
        assert "&lt;script&gt;" in page.text


def test_the_catalogue_lists_the_workspaces_event_names_most_frequent_first(
    session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    other = Tenant(session)
    shop_story(session, other.workspace.id)

    names = catalogue.event_names(
        session, workspace_id=tenant.workspace.id, now=datetime(2026, 3, 31, tzinfo=DAY1.tzinfo)
    )
    later = catalogue.event_names(
        session, workspace_id=tenant.workspace.id, now=datetime(2026, 9, 1, tzinfo=DAY1.tzinfo)
    )

    # Viewed 7, Added 6, Checkout Started 6, Order Completed 5, Support Chat Started 2.
    assert names == [
        "Product Viewed",
        "Checkout Started",
        "Product Added",
        "Order Completed",
        "Support Chat Started",
    ]
    assert later == []
