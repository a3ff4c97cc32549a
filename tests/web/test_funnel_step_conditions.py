"""Step conditions on the funnel page: a property test on any step narrows it, is said in words,
travels with every link the page builds (persons, drop-offs, save, compare), and a condition the
page cannot ask is shown again as typed with the reason in the user's language."""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from cxloop.journeys.spec import FunnelSpec
from cxloop.models import SavedFunnel
from cxloop.web.journeys.forms import FunnelForm, read_steps, typed_value, value_text
from cxloop.web.journeys.saved import spec_link
from tests.factories import Tenant, make_user
from tests.helpers.web import get, login, session_token, text_of
from tests.journeys.story import STEPS, shop_story

PERIOD = [("from", "2026-03-02"), ("to", "2026-03-08")]
EVENTS = [("event", name) for name in STEPS.split(",")]
# Step 3, Checkout Started, only on iOS.
IOS_CHECKOUT = [("s3_key", "platform"), ("s3_op", "eq"), ("s3_value", "ios")]
FUNNEL = [*EVENTS, *IOS_CHECKOUT, *PERIOD]


def sign_in(client: TestClient, session: Session, tenant: Tenant, *, locale: str = "ko") -> None:
    user = make_user(session, workspace=tenant.workspace, role="marketer", locale=locale)
    session.flush()
    assert login(client, user.email).status_code == 303


def url(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}"


def step_counts(page_text: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r'<td class="num step-persons">(.*?)</td>', page_text, re.S)
    ]


def links(page_text: str, path: str) -> list[list[tuple[str, str]]]:
    """The query pairs of every link to ``path`` on the page."""
    found = re.findall(rf'href="({re.escape(path)}\?[^"]+)"', page_text)
    return [parse_qsl(urlsplit(html.unescape(link)).query) for link in found]


@pytest.fixture
def story(session: Session, tenant: Tenant) -> dict[str, int]:
    return shop_story(session, tenant.workspace.id)


def test_a_condition_on_step_three_counts_only_ios_checkouts_and_says_so(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    page = get(client, url("/journeys/funnels", FUNNEL))

    assert page.status_code == 200, page.text
    # Five added a product; web3 (its other device), ios1 and ios2 checked out on iOS, and only
    # web3 ordered within the 14 days.
    assert step_counts(page.text) == ["6", "5", "3", "1"]
    row = re.search(r'<tr id="step-3">(.*?)</tr>', page.text, re.S)
    assert row and '"platform" 값이 "ios"임' in html.unescape(row[1])
    # The condition is in the form as typed, under its step.
    slot = re.search(r'<li class="step-slot" id="step-slot-3">(.*?)</li>', page.text, re.S)
    assert slot
    assert 'name="s3_key" value="platform"' in slot[1]
    assert 'name="s3_value" value="ios"' in slot[1]
    assert '<option value="eq" selected>' in slot[1]
    assert "조건 추가" in slot[1]


def test_the_condition_travels_with_every_link_and_form_of_the_page(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    page = get(client, url("/journeys/funnels", FUNNEL))

    persons = links(page.text, "/journeys/funnels/persons")
    dropoffs = links(page.text, "/journeys/funnels/dropoff")
    assert persons and dropoffs
    for pairs in persons + dropoffs:
        assert all(pair in pairs for pair in IOS_CHECKOUT), pairs
    for form_id in ("save-form", "compare-periods", "compare-values"):
        form = re.search(rf'<form [^>]*id="{form_id}">(.*?)</form>', page.text, re.S)
        assert form, form_id
        for name, value in IOS_CHECKOUT:
            assert f'<input type="hidden" name="{name}" value="{value}">' in form[1], form_id


def test_the_persons_behind_a_step_with_a_condition(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    reached = get(client, url("/journeys/funnels/persons", [*FUNNEL, ("step", "3")]))
    dropped = get(
        client, url("/journeys/funnels/persons", [*FUNNEL, ("step", "4"), ("dropped", "1")])
    )

    assert reached.status_code == 200, reached.text
    shown = {int(i) for i in re.findall(r'href="/customers/(\d+)"', reached.text)}
    assert shown == {story["web3"], story["ios1"], story["ios2"]}
    assert '"platform" 값이 "ios"임' in text_of(reached)
    shown = {int(i) for i in re.findall(r'href="/customers/(\d+)"', dropped.text)}
    assert shown == {story["ios1"], story["ios2"]}
    # The drop-offs before step 4 are those of the iOS checkout: the page says so.
    assert '이 퍼널의 단계 조건: 3단계 "platform" 값이 "ios"임' in text_of(dropped)
    back = re.search(r'id="back-to-funnel"', dropped.text)
    assert back and "s3_key=platform" in dropped.text


def test_what_the_ios_drop_offs_did_instead(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")

    page = get(client, url("/journeys/funnels/dropoff", [*FUNNEL, ("step", "4"), ("steps", "2")]))

    assert page.status_code == 200, page.text
    top = re.search(r'<table class="list" id="top-paths">(.*?)</table>', page.text, re.S)
    assert top and "Support Chat Started" in top[1]


def test_saving_the_funnel_keeps_its_conditions(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)

    pairs = [*FUNNEL, ("window", "14"), ("order", "ordered"), ("name", "iOS 결제")]
    pairs += [("days", "30"), ("csrf_token", session_token(client))]
    saved = client.post(
        "/journeys/funnels/save",
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        follow_redirects=False,
    )

    assert saved.status_code == 303, saved.text
    assert "s3_key=platform" in saved.headers["location"]
    kept = session.scalars(
        select(SavedFunnel).where(SavedFunnel.workspace_id == tenant.workspace.id)
    ).one()
    assert kept.spec["steps"][2]["where"] == [{"key": "platform", "op": "eq", "value": "ios"}]
    assert all(not step.get("where") for i, step in enumerate(kept.spec["steps"]) if i != 2)


@pytest.mark.parametrize(
    ("condition", "locale", "message"),
    [
        pytest.param(
            [("s2_key", 'plat"form'), ("s2_op", "eq"), ("s2_value", "web")],
            "ko",
            "2단계 조건 1: 속성 이름 'plat\"form'은(는) 쓸 수 없습니다.",
            id="bad-property-name",
        ),
        pytest.param(
            [("s2_key", ""), ("s2_op", "eq"), ("s2_value", "web")],
            "en",
            "Step 2, condition 1: Enter a property name.",
            id="value-without-property",
        ),
        pytest.param(
            [("s3_key", "platform"), ("s3_op", "eq"), ("s3_value", " ")],
            "ko",
            "3단계 조건 1: 비교할 값을 입력하세요",
            id="no-value",
        ),
        pytest.param(
            [("s1_key", "amount"), ("s1_op", "gt"), ("s1_value", "true")],
            "en",
            "Step 1, condition 1: 'more than (>)' compares numbers or text",
            id="boolean-ordered",
        ),
        pytest.param(
            [("s4_key", "platform"), ("s4_op", "in"), ("s4_value", "web,,ios")],
            "ko",
            "4단계 조건 1: '목록 중 하나'에는 쉼표로 나눈 값을",
            id="empty-list-item",
        ),
        pytest.param(
            [("s2_key", "platform"), ("s2_op", "like"), ("s2_value", "web")],
            "en",
            "Step 2, condition 1: 'like' is not one of the choices.",
            id="unknown-operator",
        ),
        pytest.param(
            [("s5_key", "platform"), ("s5_op", "eq"), ("s5_value", "web")],
            "ko",
            "5단계에 조건이 있지만 이벤트 이름이 없습니다.",
            id="condition-without-event",
        ),
    ],
)
def test_a_condition_the_page_cannot_ask_is_shown_again_with_the_reason(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    condition: list[tuple[str, str]],
    locale: str,
    message: str,
) -> None:
    sign_in(client, session, tenant, locale=locale)

    page = get(client, url("/journeys/funnels", [*EVENTS, ("event", ""), *condition, *PERIOD]))

    assert page.status_code == 422, page.text
    error = re.search(
        r'<div class="flash error" role="alert" id="form-error">(.*?)</div>', page.text
    )
    assert error and message in html.unescape(error[1])
    step = condition[0][0].split("_")[0]
    typed = dict(condition)
    assert f'name="{step}_value" value="{html.escape(typed[step + "_value"])}"' in page.text
    assert 'id="funnel-result"' not in page.text


def test_too_many_conditions_on_one_step_are_refused(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")
    many = [("s2_key", "platform"), ("s2_op", "neq"), ("s2_value", "x")] * 11

    page = get(client, url("/journeys/funnels", [*EVENTS, *many, *PERIOD]))

    assert page.status_code == 422
    assert "Step 2 takes at most 10 conditions." in text_of(page)


def test_a_typed_value_is_escaped_when_shown_again(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    hostile = '"><script>alert(1)</script>'

    page = get(
        client,
        url("/journeys/funnels", [*EVENTS, ("s2_key", hostile), ("s2_value", "x"), *PERIOD]),
    )

    assert page.status_code == 422
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        pytest.param("mobile", "mobile", id="text"),
        pytest.param("10", 10, id="whole-number"),
        pytest.param("-2.5", -2.5, id="decimal"),
        pytest.param('"10"', "10", id="quoted-number-is-text"),
        pytest.param("true", True, id="boolean"),
        pytest.param('"true"', "true", id="quoted-boolean-is-text"),
        pytest.param(" 서울 ", "서울", id="korean-trimmed"),
        pytest.param("1e5", "1e5", id="exponent-stays-text"),
    ],
)
def test_a_typed_value_is_read_as_the_segment_builder_reads_it(typed: str, value: object) -> None:
    read = typed_value(typed)

    assert read == value and type(read) is type(value)


def test_a_number_condition_and_a_list_condition_count_what_they_should(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")
    pairs = [*EVENTS, ("s1_key", "platform"), ("s1_op", "in"), ("s1_value", "web, android")]
    pairs += [("s2_key", "platform"), ("s2_op", "exists"), ("s2_value", "")]

    page = get(client, url("/journeys/funnels", [*pairs, *PERIOD]))

    assert page.status_code == 200, page.text
    # web1, web2, web3 and1 viewed on web or android; the three web ones added.
    assert step_counts(page.text) == ["4", "3", "3", "3"]
    words = text_of(page)
    assert '1. Product Viewed property "platform" is one of "web" or "android"' in words
    assert '2. Product Added property "platform" is set' in words


@pytest.mark.parametrize(
    "value",
    ["mobile", "10", 10, 2.5, True, False, "true", "a, b", ["ios", "android"], [1, "2", 3.5]],
)
def test_a_value_written_back_reads_as_itself(value: object) -> None:
    written = value_text(value)
    if isinstance(value, list):
        assert [typed_value(part.strip()) for part in written.split(",")] == value
    elif isinstance(value, str) and "," in value:
        assert typed_value(written) == value
    else:
        assert typed_value(written) == value


def test_a_saved_funnels_link_asks_its_steps_conditions_again() -> None:
    spec = FunnelSpec.model_validate(
        {
            "steps": [
                {"event": "Product Viewed", "where": [{"key": "platform", "value": "ios"}]},
                {
                    "event": "Checkout Started",
                    "where": [
                        {"key": "total", "op": "gte", "value": 50000},
                        {"key": "coupon", "op": "exists"},
                        {"key": "store", "op": "in", "value": ["강남", "10"]},
                    ],
                },
            ]
        }
    )

    link = spec_link(spec, date(2026, 11, 1), date(2026, 11, 30))

    form = FunnelForm.of(QueryParams(urlsplit(link).query))
    assert read_steps(form, locale="ko") == spec.steps
