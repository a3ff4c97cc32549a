"""The journey map, its settings and saved funnels through the web client: the shop story's
stages and cells, a lagging mobile checkout shown in red with the reason in words, the CSV and
SVG downloads, the previous period compared; stages and touchpoints edited as JSON (refused
text shown again, defaults only after confirming, read-only for a viewer); funnels saved,
pinned, deleted after confirming, and shown on the CX dashboard."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.journeys import stages as journey_stages
from cxloop.models import Customer, Event, SavedFunnel, Workspace
from tests.factories import Tenant, make_user, unique
from tests.helpers.web import flashes, get, login, post, text_of
from tests.journeys.story import DAY1, STEPS, shop_story

WEEK = "from=2026-03-02&to=2026-03-08"
MOBILE_CHECKOUT = {
    "touchpoints": [
        {"key": "checkout_mobile", "name": "모바일 결제", "rules": [
            {"event": "Checkout Started", "where": [{"key": "platform", "value": "ios"}]}
        ]},
        {"key": "checkout", "rules": [{"event": "Checkout Started"}]},
    ]
}  # fmt: skip


def sign_in(client: TestClient, session: Session, workspace: Workspace, role: str) -> None:
    user = make_user(session, workspace=workspace, role=role, locale="ko")
    session.flush()
    assert login(client, user.email).status_code == 303


def lagging_shop(session: Session, workspace_id: int) -> None:
    """Sixty persons view a product and check out; the thirty on ios mostly fail to order."""
    people = [Customer(workspace_id=workspace_id) for _ in range(60)]
    session.add_all(people)
    session.flush()

    def did(person: Customer, name: str, hours: float, **properties: object) -> None:
        at = DAY1 + timedelta(hours=hours)
        session.add(
            Event(
                workspace_id=workspace_id, customer_id=person.id, message_id=unique("m-"),
                type="track", name=name, channel="web", timestamp=at, received_at=at,
                properties=properties, context={},
            )
        )  # fmt: skip

    for i, person in enumerate(people):
        mobile = i % 2 == 0
        did(person, "Product Viewed", i)
        did(person, "Checkout Started", i + 0.5, platform="ios" if mobile else "web")
        if not mobile or i % 10 == 0:
            did(person, "Order Completed", i + 1)
    session.flush()


def cell(html: str, stage: str, touchpoint: str) -> re.Match[str]:
    found = re.search(
        rf'<td class="(cell[^"]*)" data-stage="{stage}" id="cell-{stage}-{touchpoint}">(.*?)</td>',
        html,
        re.S,
    )
    assert found, (stage, touchpoint)
    return found


def words(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


@pytest.fixture
def story(session: Session, tenant: Tenant) -> dict[str, int]:
    return shop_story(session, tenant.workspace.id)


def test_the_map_shows_the_stories_stages_and_cells(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, f"/journeys/map?{WEEK}")
    home = get(client, "/journeys")

    assert page.status_code == 200, page.text
    stage = re.search(r'class="stage" id="stage-consideration".*?</th>', page.text, re.S)
    assert stage
    said = words(stage[0])
    assert "고려 6명 다음 단계로 66.7% (4) 다음 단계까지 중앙값 15시간 · 90% 12일" in said
    checkout = cell(page.text, "consideration", "checkout")
    assert checkout[1] == "cell"
    assert words(checkout[2]).startswith("6명 83.3% 다음 단계로")
    funnel = "/journeys/funnels?" + urlencode(
        [("event", "Checkout Started"), ("event", "Order Completed"),
         ("from", "2026-03-02"), ("to", "2026-03-08")]
    )  # fmt: skip
    assert f'href="{funnel.replace("&", "&amp;")}"' in checkout[2]
    assert "'Checkout Started'에서 'Order Completed'까지의 퍼널 보기" in html.unescape(checkout[2])
    assert 'class="cell flagged"' not in page.text
    assert 'aria-current="page">여정 지도</a>' in page.text
    assert home.status_code == 200 and "<h1>고객 여정 지도</h1>" in home.text


def test_a_lagging_mobile_checkout_is_red_with_the_reason_in_words(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    lagging_shop(session, tenant.workspace.id)
    sign_in(client, session, tenant.workspace, "marketer")
    saved = post(
        client, "/journeys/settings/touchpoints", {"touchpoints": json.dumps(MOBILE_CHECKOUT)}
    )

    page = get(client, f"/journeys/map?{WEEK}")

    assert saved.status_code == 303, saved.text
    mobile = cell(page.text, "consideration", "checkout_mobile")
    assert mobile[1] == "cell flagged"
    said = words(mobile[2])
    assert "30명 20% 다음 단계로 ⚠ 뒤처짐" in said
    assert (
        "이 접점의 고객은 단계 전체보다 다음 단계로 덜 넘어갑니다: 20% (30명 중 6명) 대 "
        "단계 전체 60% (60명 중 36명), p < 0.001."
    ) in said
    assert "속성 조건과 'n번째'를 받지 않아 조건 없이 엽니다" in html.unescape(
        mobile[2]
    )  # the link's title
    assert cell(page.text, "consideration", "checkout")[1] == "cell"
    assert "눈여겨볼 칸이 1개 있습니다." in text_of(page)


def test_the_grid_downloads_as_csv(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    reply = get(client, f"/journeys/map.csv?{WEEK}")

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    disposition = reply.headers["content-disposition"]
    assert disposition == 'attachment; filename="journey-map-2026-03-02-2026-03-08.csv"'
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "구분", "단계 코드", "단계", "접점", "접점 이름", "고객 수", "다음 단계로 간 고객",
        "전환율", "다음 단계까지 중앙값(초)", "다음 단계까지 90백분위(초)", "NPS",
        "NPS 95% 신뢰구간 하한", "NPS 95% 신뢰구간 상한", "CSAT", "CSAT 95% 신뢰구간 하한",
        "CSAT 95% 신뢰구간 상한", "감정 점수", "감정 점수 95% 신뢰구간 하한",
        "감정 점수 95% 신뢰구간 상한", "주의 표시", "뒤처짐 p값",
    ]  # the reader's language (the API's CSV keeps the codes)  # fmt: skip
    assert rows[2][:10] == [
        "stage", "consideration", "고려", "", "", "6", "4", "0.6667", "54000.0", "993600.0"
    ]  # fmt: skip
    checkout = next(r for r in rows if r[:2] == ["cell", "consideration"] and r[3] == "checkout")
    assert checkout[4:8] == ["결제", "6", "5", "0.8333"]
    assert checkout[19:] == ["false", ""]
    assert len(rows) == 1 + 5 + 5  # a row per stage and one per cell with anyone in it


def test_the_grid_downloads_as_svg_with_every_name_escaped(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")
    named = {"touchpoints": [
        {"key": "checkout", "name": "<script>x</script>",
         "rules": [{"event": "Checkout Started"}]},
    ]}  # fmt: skip
    post(client, "/journeys/settings/touchpoints", {"touchpoints": json.dumps(named)})

    reply = get(client, f"/journeys/map.svg?{WEEK}")

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("image/svg+xml")
    assert reply.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns=')
    assert "<script>" not in reply.text
    assert "&lt;script&gt;x&lt;/script&gt;" in reply.text
    assert ">6명</text>" in reply.text and "→ 83.3%" in reply.text


def test_the_previous_period_is_compared_stage_by_stage(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, f"/journeys/map?{WEEK}&compare=1")

    assert page.status_code == 200, page.text
    said = text_of(page)
    assert "변화는 이전 기간(2026. 2. 23. ~ 2026. 3. 1.) 대비입니다." in said
    # "early" considered (and bought) the minute before the period.
    assert "이전 기간 대비 인원 +5명 (이전 1명) · 전환 -33.3%p (이전 100%)" in said
    assert 'name="compare" value="1" checked' in page.text
    assert "compare=1" in re.search(r'id="map-csv"[^>]*|href="[^"]*" id="map-csv"', page.text)[0]


def test_an_empty_workspace_is_told_how_stages_are_entered(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, "/journeys/map")

    assert page.status_code == 200
    assert "아직 여정 지도에 나타날 고객이 없습니다" in text_of(page)
    assert 'href="/journeys/settings"' in page.text
    assert bad_period(client).status_code == 422


def bad_period(client: TestClient):  # type: ignore[no-untyped-def]
    reply = get(client, "/journeys/map?from=2026-03-08&to=2026-03-01")
    assert "종료일은 시작일과 같거나 그 뒤여야 합니다." in text_of(reply)
    return reply


def test_settings_save_valid_json_and_say_the_rules_in_words(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")
    mine = {"stages": [
        {"key": "trial", "name": "체험", "rules": [{"event": "Trial Started"}]},
        {"key": "loyal", "rules": [{"event": "Order Completed", "nth": 2}]},
    ]}  # fmt: skip

    saved = post(client, "/journeys/settings/stages", {"stages": json.dumps(mine)})
    page = get(client, "/journeys/settings")

    assert saved.status_code == 303 and saved.headers["location"] == "/journeys/settings"
    assert ("success", "단계 2개를 저장했습니다.") in flashes(page)
    said = text_of(page)
    assert "체험 trial Trial Started 이벤트" in said
    assert "loyal loyal Order Completed 이벤트의 2번째" in said
    assert "Checkout Started 이벤트" in said  # the default touchpoints, untouched
    places = journey_stages.stages_of(session, workspace_id=tenant.workspace.id)
    assert [p.key for p in places] == ["trial", "loyal"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"stages": [', "JSON 형식이 올바르지 않습니다 (1행 13열 근처)."),
        (
            json.dumps({"stages": [{"key": "a", "rules": [{"event": "A"}]}] * 2}),
            "다음을 고쳐 주세요: each stage has its own key",
        ),
        (
            json.dumps({"stages": [{"key": "A b", "rules": [{"event": "A"}]}] * 2}),
            "stages.0.key: String should match pattern",
        ),
    ],
    ids=["not-json", "same-key-twice", "bad-key"],
)
def test_settings_refuse_bad_json_and_show_it_again(
    client: TestClient, session: Session, tenant: Tenant, text: str, message: str
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")

    reply = post(client, "/journeys/settings/stages", {"stages": text})

    assert reply.status_code == 422
    error = re.search(r'role="alert" id="stages-error">(.*?)</div>', reply.text, re.S)
    assert error and message in words(error[1])
    assert f"{escape(text)}</textarea>" in reply.text
    assert journey_stages.stages_of(session, workspace_id=tenant.workspace.id)[0].key == "awareness"


def test_defaults_are_restored_only_after_confirming(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")
    post(client, "/journeys/settings/touchpoints", {"touchpoints": json.dumps(MOBILE_CHECKOUT)})
    ws = tenant.workspace.id

    asked = post(client, "/journeys/settings/defaults")
    kept = [p.key for p in journey_stages.touchpoints_of(session, workspace_id=ws)]
    done = post(client, "/journeys/settings/defaults", {"confirm": "1"})

    assert asked.status_code == 200
    assert "기본 단계와 접점으로 되돌릴까요?" in text_of(asked)
    assert kept == ["checkout_mobile", "checkout"]
    assert done.status_code == 303
    restored = [p.key for p in journey_stages.touchpoints_of(session, workspace_id=ws)]
    assert restored == ["site", "search", "product", "cart", "checkout", "order", "support",
                        "survey", "review"]  # fmt: skip


def test_a_viewer_sees_the_settings_read_only(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, "/journeys/settings")
    refused = post(client, "/journeys/settings/stages", {"stages": "{}"})
    restore = post(client, "/journeys/settings/defaults", {"confirm": "1"})

    assert page.status_code == 200
    assert "보기만 할 수 있습니다." in text_of(page)
    assert "<textarea" not in page.text and 'id="restore-defaults"' not in page.text
    assert "인지 awareness 모든 페이지·화면 조회 Application Opened 이벤트" in text_of(page)
    assert (refused.status_code, restore.status_code) == (403, 403)


FUNNEL = [("event", name) for name in STEPS.split(",")] + [
    ("window", "14"), ("order", "ordered"), ("by", "platform"),
    ("from", "2026-03-02"), ("to", "2026-03-08"), ("interval", "day"),
]  # fmt: skip
FUNNEL_FORM = {**dict(FUNNEL), "event": STEPS.split(",")}  # every step, as the form posts them


def test_funnels_are_saved_listed_pinned_and_deleted_after_confirming(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")
    funnel_page = get(client, "/journeys/funnels?" + urlencode(FUNNEL))
    assert 'action="/journeys/funnels/save"' in funnel_page.text

    saved = post(
        client,
        "/journeys/funnels/save",
        {**FUNNEL_FORM, "name": "모바일 구매", "days": "7", "pin": "1"},
    )
    back = get(client, saved.headers["location"])
    ws = tenant.workspace.id
    kept = session.scalars(select(SavedFunnel).where(SavedFunnel.workspace_id == ws)).one()
    listed = get(client, "/journeys/funnels/saved")
    unpinned = post(client, f"/journeys/funnels/saved/{kept.id}/pin", {"on": "0"})
    after_unpin = get(client, "/journeys/funnels/saved")
    asked = post(client, f"/journeys/funnels/saved/{kept.id}/delete")
    still = session.get(SavedFunnel, kept.id) is not None
    deleted = post(client, f"/journeys/funnels/saved/{kept.id}/delete", {"confirm": "1"})
    empty = get(client, "/journeys/funnels/saved")

    assert saved.status_code == 303
    assert saved.headers["location"] == "/journeys/funnels?" + urlencode(FUNNEL)
    told = "퍼널 '모바일 구매'을(를) 저장하고 CX 대시보드에 고정했습니다."
    assert ("success", told) in flashes(back)
    assert kept.days == 7 and kept.on_dashboard and kept.spec["breakdown"]["key"] == "platform"
    row = re.search(rf'<tr id="saved-{kept.id}".*?</tr>', listed.text, re.S)
    assert row and "고정됨" in row[0] and "최근 7일" in row[0]
    assert "Product Viewed → Product Added → Checkout Started → Order Completed" in row[0]
    assert "by=platform" in row[0] and "window=14" in row[0]
    assert unpinned.status_code == 303 and "고정됨" not in after_unpin.text
    assert asked.status_code == 200 and "'모바일 구매'을(를) 삭제할까요?" in text_of(asked)
    assert still and deleted.status_code == 303
    assert "아직 저장한 퍼널이 없습니다." in text_of(empty)


def test_a_viewer_cannot_save_a_funnel(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, "/journeys/funnels?" + urlencode(FUNNEL))
    refused = post(client, "/journeys/funnels/save", {**FUNNEL_FORM, "name": "x"})

    assert 'action="/journeys/funnels/save"' not in page.text
    assert refused.status_code == 403


def test_the_dashboard_shows_a_pinned_funnel_over_its_period(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "marketer")
    post(
        client,
        "/journeys/funnels/save",
        {**FUNNEL_FORM, "name": "구매 퍼널", "days": "30", "pin": "1"},
    )

    page = get(client, f"/cx?{WEEK}")

    assert page.status_code == 200, page.text
    block = re.search(r'aria-labelledby="pinned-funnels-h".*?</section>', page.text, re.S)
    assert block
    said = words(block[0])
    assert "고정한 퍼널 저장한 퍼널 관리" in said
    assert "구매 퍼널 50% 6명 진입 → 3명 전환" in said
    assert "/journeys/funnels?event=Product+Viewed" in block[0] and "from=2026-03-02" in block[0]


# --- themes, and what lies behind a stage or cell ------------------------------------------------


def test_a_cell_shows_its_top_themes_and_leads_to_its_customers_and_texts(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    from tests.journeys.test_map_drill import written_story

    w = written_story(session, tenant)
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, f"/journeys/map?{WEEK}")

    assert page.status_code == 200, page.text
    checkout = cell(page.text, "consideration", "checkout")[2]
    assert words(checkout).startswith("6명 83.3% 다음 단계로")
    assert "글 2개 결제 오류 2 배송비 1 앱 튕김 1" in words(checkout)
    spot = "from=2026-03-02&amp;to=2026-03-08&amp;stage=consideration&amp;touchpoint=checkout"
    assert f'class="cell-persons" href="/journeys/map/persons?{spot}"' in checkout
    assert f'class="cell-texts" href="/journeys/map/verbatims?{spot}"' in checkout
    pay = w.themes["결제 오류"]
    assert f'href="/journeys/map/verbatims?{spot}&amp;theme={pay}"' in checkout
    stage = re.search(r'class="stage" id="stage-consideration".*?</th>', page.text, re.S)
    assert stage and "글 4개 결제 오류 3 상담 대기 2 배송비 1" in words(stage[0])
    assert (
        'href="/journeys/map/persons?from=2026-03-02&amp;to=2026-03-08&amp;stage=consideration"'
        in stage[0]
    )
    assert "칸의 인원을 누르면 그 고객 목록이" in text_of(page)


def test_the_customers_behind_a_cell_are_listed_with_who_moved_on(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    from tests.journeys.test_map_drill import written_story

    w = written_story(session, tenant)
    sign_in(client, session, tenant.workspace, "viewer")
    spot = f"{WEEK}&stage=consideration&touchpoint=checkout"

    everyone = get(client, f"/journeys/map/persons?{spot}")
    dropped = get(client, f"/journeys/map/persons?{spot}&outcome=dropped")
    stage = get(client, f"/journeys/map/persons?{WEEK}&stage=consideration&outcome=dropped")

    assert everyone.status_code == 200, everyone.text
    title = re.search(r'<h1 id="drill-title">(.*?)</h1>', everyone.text)
    assert title and html.unescape(title[1]) == "'고려' 단계의 '결제' 접점의 고객"
    assert "6명 중 5명이 다음 단계로 넘어갔고 1명은 넘어가지 않았습니다." in text_of(everyone)
    rows = re.findall(r'<tr data-customer="(\d+)">(.*?)</tr>', everyone.text, re.S)
    assert len(rows) == 6
    assert [int(i) for i, _ in rows] == sorted(int(i) for i, _ in rows)
    assert sum("넘어가지 않음" in words(r) for _, r in rows) == 1
    assert 'id="outcome-dropped" aria-current="page">넘어가지 않음 1명' in dropped.text
    assert re.findall(r'<tr data-customer="(\d+)">', dropped.text) == [str(w.people["ios1"])]
    assert f'href="/customers/{w.people["ios1"]}"' in dropped.text
    dropped_at_stage = {int(i) for i in re.findall(r'<tr data-customer="(\d+)">', stage.text)}
    assert dropped_at_stage == {w.people["ios1"], w.people["and1"]}


def test_the_texts_behind_a_cell_show_words_sentiment_and_themes_escaped(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    from tests.journeys.test_map_drill import written_story

    w = written_story(session, tenant)
    sign_in(client, session, tenant.workspace, "viewer")
    waiting = w.themes["상담 대기"]

    support = get(client, f"/journeys/map/verbatims?{WEEK}&stage=consideration&touchpoint=support")
    of_theme = get(client, f"/journeys/map/verbatims?{WEEK}&stage=consideration&theme={waiting}")

    assert support.status_code == 200, support.text
    assert "분석된 글 1개" in text_of(support)
    assert (
        "상담 연결이 안 돼요 &lt;b&gt;지금&lt;/b&gt;" in support.text
        and "<b>지금" not in support.text
    )
    item = re.search(r'<li class="tx-verbatim".*?</li>', support.text, re.S)
    assert item
    said = words(item[0])
    assert "부정 (-0.60)" in said and "결제 오류" in said and "상담 대기" in said
    assert f'href="/customers/{w.people["ios1"]}"' in item[0]
    assert "2026. 3. 2." in said  # written 09:12 KST on the first day
    assert "테마 '상담 대기'이(가) 나온 글만 보입니다." in text_of(of_theme)
    assert "분석된 글 2개" in text_of(of_theme)
    assert len(re.findall(r'<li class="tx-verbatim"', of_theme.text)) == 2


def test_texts_page_one_at_a_time_with_a_cursor(
    client: TestClient, session: Session, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxloop.web.journeys import map_drill
    from tests.journeys.test_map_drill import written_story

    written_story(session, tenant)
    sign_in(client, session, tenant.workspace, "viewer")
    monkeypatch.setattr(map_drill, "TEXTS_PAGE", 3)
    seen: list[str] = []
    url = f"/journeys/map/verbatims?{WEEK}&stage=consideration"
    for _ in range(5):
        reply = get(client, url)
        seen += re.findall(r'data-analysis="(\d+)"', reply.text)
        more = re.search(r'rel="next" href="([^"]+)"', reply.text)
        if not more:
            break
        url = html.unescape(more[1])

    assert len(seen) == len(set(seen)) == 4


@pytest.mark.parametrize(
    ("path", "query", "reason"),
    [
        ("persons", "stage=nowhere", "이 워크스페이스에는 그런 단계가 없습니다."),
        ("persons", "stage=consideration&touchpoint=nowhere", "그런 접점이 없습니다."),
        ("persons", "", "이 워크스페이스에는 그런 단계가 없습니다."),
        ("persons", "stage=consideration&outcome=maybe", "목록은 전체, 다음 단계로 넘어간 고객"),
        ("persons", "stage=consideration&from=2026-03-08&to=2026-03-01", "종료일은 시작일과"),
        ("persons", "stage=consideration&from=2026-13-01", "날짜가 아닙니다"),
        ("verbatims", "stage=consideration&theme=12345678", "그런 테마가 없습니다."),
        ("verbatims", "stage=consideration&theme=abc", "그런 테마가 없습니다."),
        ("verbatims", "stage=consideration&cursor=forged", "페이지 링크가 올바르지 않습니다."),
        ("verbatims", "stage=nowhere", "이 워크스페이스에는 그런 단계가 없습니다."),
    ],
    ids=[
        "unknown-stage", "unknown-touchpoint", "no-stage", "bad-outcome", "backwards", "no-date",
        "unknown-theme", "not-a-theme", "forged-cursor", "texts-of-unknown-stage",
    ],
)  # fmt: skip
def test_a_bad_question_behind_the_map_is_refused_in_words(
    client: TestClient, session: Session, tenant: Tenant, path: str, query: str, reason: str
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    reply = get(client, f"/journeys/map/{path}?{query}")

    assert reply.status_code == 422
    assert reason in text_of(reply)
    assert 'id="back-to-map"' in reply.text


def test_the_png_button_draws_the_same_query_and_the_svg_stands_alone(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant.workspace, "viewer")

    page = get(client, f"/journeys/map?{WEEK}&compare=1")
    svg = get(client, f"/journeys/map.svg?{WEEK}")
    script = get(client, "/static/journeys-map-png.js")

    button = re.search(
        r'<button type="button" class="btn" id="map-png"[^>]*>(.*?)</button>', page.text
    )
    assert button and button[1] == "PNG로 저장"
    assert (
        'data-svg="/journeys/map.svg?from=2026-03-02&amp;to=2026-03-08&amp;compare=1"' in button[0]
    )
    assert re.search(r'data-filename="journey-map-\d{4}-\d{2}-\d{2}\.png"', button[0])
    assert "hidden" in button[0]  # shown by the script, which alone can draw it
    assert '<script src="/static/journeys-map-png.js" defer></script>' in page.text
    assert script.status_code == 200 and "toBlob" in script.text
    assert "NanumGothic" in svg.text and "sans-serif" in svg.text
    # Nothing from elsewhere: no links, images, style sheets or fonts to fetch.
    for outside in ("href", "<image", "url(", "@import", "@font-face", "<foreignObject"):
        assert outside not in svg.text
