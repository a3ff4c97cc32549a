"""The insights pages through the web client: segments (list, builder with its preview route,
detail with members and trend, CSV, refresh, archive and restore), the RFM grid, clusters, the
model registry with its run button, and the predictions on the customer page; a viewer reads
but cannot save, another workspace's segment is not found, and names are escaped."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.insights.segments import service as segments
from cxloop.models import AuditEntry, InsightsRun, Segment
from cxloop.web.insights.rule_form import builder_spec
from tests.factories import Tenant, held_jobs, make_user, make_workspace
from tests.helpers.insights_pages import EXAMPLE_RULE, InsightsShop, insights_shop
from tests.helpers.web import flashes, get, login, post, text_of

VIP = {"type": "trait", "key": "tier", "op": "eq", "value": "VIP"}


@pytest.fixture
def shop(session: Session, tenant: Tenant) -> InsightsShop:
    return insights_shop(session, tenant.workspace)


def sign_in(
    client: TestClient, session: Session, tenant: Tenant, role: str, locale: str = "ko"
) -> Principal:
    user = make_user(session, workspace=tenant.workspace, role=role, locale=locale)
    session.flush()
    assert login(client, user.email).status_code == 303
    return Principal(workspace_id=tenant.id, role=role, user_id=user.id, label=user.email)


def saved_segment(
    session: Session, principal: Principal, name: str = "VIP", rule: dict = VIP
) -> Segment:  # type: ignore[type-arg]
    owner = Principal(workspace_id=principal.workspace_id, role="owner", user_id=principal.user_id)
    segment = segments.create_segment(session, principal=owner, name=name, rule=rule)
    session.flush()
    return segment


@pytest.mark.parametrize("role", ["marketer", "viewer"])
def test_every_insights_page_renders_for_a_marketer_and_a_viewer(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop, role: str
) -> None:
    principal = sign_in(client, session, tenant, role)
    segment = saved_segment(session, principal, "VIP 불만 고객", EXAMPLE_RULE)

    pages = {
        "/insights/segments": "VIP 불만 고객",
        "/insights/segments?archived=1": "보관된 세그먼트가 없습니다.",
        "/insights/segments/new": "고급: JSON으로 편집",
        f"/insights/segments/{segment.id}": "최근 90일 안에 구매함",
        f"/insights/segments/{segment.id}/edit": "'VIP 불만 고객' 수정",
        "/insights/rfm": "챔피언",
        "/insights/clusters": "휴면 쇼핑객",
        "/insights/models": "구매 빈도 (BG/NBD)",
        f"/customers/{shop.people['vip'].id}": "예상 고객 가치 (12개월)",
    }
    for path, phrase in pages.items():
        page = get(client, path)
        assert page.status_code == 200, path
        assert phrase in text_of(page), path
        assert '<a href="/insights/segments" aria-current="page">인사이트</a>' in page.text or (
            path.startswith("/customers")
        ), path
    writer = role == "marketer"
    assert ('id="save-segment"' in get(client, "/insights/segments/new").text) is writer
    assert ('action="/insights/models/run"' in get(client, "/insights/models").text) is writer


def test_the_segment_page_says_who_is_in_it_with_members_trend_and_csv(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    principal = sign_in(client, session, tenant, "marketer")
    segment = saved_segment(session, principal, "VIP 불만 고객", EXAMPLE_RULE)

    page = get(client, f"/insights/segments/{segment.id}")
    exported = client.get(f"/insights/segments/{segment.id}/members.csv")

    text = text_of(page)
    assert (
        '(속성 "tier" 값이 "VIP"임 또는 예측 CLV 상위 10%에 듦) 그리고 최근 90일 안에 구매함 '
        "그리고 마지막 NPS 점수가 6 이하임" in text
    )
    assert '<dd id="member-count">2</dd>' in page.text
    assert "vip 고객" in text and "top 고객" in text and "happy 고객" not in text
    assert 'id="segment-trend-' in page.text  # the first drawing counts one day
    assert exported.status_code == 200
    assert (
        exported.headers["content-disposition"]
        == f'attachment; filename="segment-{segment.id}.csv"'
    )
    rows = exported.content.decode("utf-8").lstrip("\ufeff").splitlines()
    # Column heads in the reader's language, times in the workspace's zone as a sheet reads them.
    assert rows[0] == "고객 번호,사용자 ID,이름,이메일,전화번호,들어온 시각"
    assert len(rows) == 3
    assert re.fullmatch(r".*,\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[1])


def test_a_marketer_builds_saves_edits_archives_and_restores_a_segment(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    sign_in(client, session, tenant, "marketer")

    created = post(
        client,
        "/insights/segments/new",
        {"name": "VIP 불만 고객", "rule": json.dumps(EXAMPLE_RULE), "action": "save"},
    )

    assert created.status_code == 303, created.text
    segment = session.scalars(select(Segment).where(Segment.workspace_id == tenant.id)).one()
    assert created.headers["location"] == f"/insights/segments/{segment.id}"
    assert flashes(get(client, created.headers["location"])) == [
        ("success", "세그먼트 'VIP 불만 고객'을(를) 저장했습니다. 현재 고객 2명입니다.")
    ]

    edited = post(
        client,
        f"/insights/segments/{segment.id}/edit",
        {"name": "VIP", "description": "", "rule": json.dumps(VIP), "action": "save"},
    )
    assert edited.status_code == 303
    assert flashes(get(client, edited.headers["location"])) == [
        ("success", "세그먼트 'VIP'을(를) 수정했습니다. 현재 고객 3명입니다.")
    ]
    session.refresh(segment)
    assert (segment.name, segment.members) == ("VIP", 3)

    archived = post(client, f"/insights/segments/{segment.id}/archive")
    page = get(client, archived.headers["location"])
    assert flashes(page) == [
        ("success", "세그먼트 'VIP'을(를) 보관했습니다. 아래 '복원'으로 되돌릴 수 있습니다.")
    ]
    assert 'id="restore-segment"' in page.text and 'id="archive-segment"' not in page.text
    assert "VIP" in text_of(get(client, "/insights/segments?archived=1"))

    restored = post(client, f"/insights/segments/{segment.id}/restore")
    assert restored.status_code == 303
    session.refresh(segment)
    assert segment.archived_at is None
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.workspace_id == tenant.id, AuditEntry.target_type == "segment")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["segment.create", "segment.update", "segment.archive", "segment.restore"]


def test_a_viewer_may_try_rules_but_not_save_archive_or_run(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    principal = sign_in(client, session, tenant, "viewer")
    segment = saved_segment(session, principal)

    tried = post(client, "/insights/segments/preview", {"rule": json.dumps(VIP)})
    saved = post(client, "/insights/segments/new", {"name": "x", "rule": json.dumps(VIP)})
    archived = post(client, f"/insights/segments/{segment.id}/archive")
    ran = post(client, "/insights/models/run")
    exported = client.get(f"/insights/segments/{segment.id}/members.csv")

    assert tried.status_code == 200 and tried.json()["count"] == 3
    assert [saved.status_code, archived.status_code, ran.status_code] == [403, 403, 403]
    assert exported.status_code == 403
    assert session.scalars(select(Segment.name).where(Segment.workspace_id == tenant.id)).all() == [
        "VIP"
    ]


def test_another_workspaces_segment_is_not_found(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant, "marketer")
    elsewhere = make_workspace(session)
    other = make_user(session, workspace=elsewhere, role="owner")
    session.flush()
    theirs = saved_segment(
        session, Principal(workspace_id=elsewhere.id, role="owner", user_id=other.id, label="x")
    )

    for path in ("", "/edit", "/members.csv"):
        assert get(client, f"/insights/segments/{theirs.id}{path}").status_code == 404, path
    assert post(client, f"/insights/segments/{theirs.id}/archive").status_code == 404
    previewed = post(
        client,
        "/insights/segments/preview",
        {"rule": json.dumps(VIP), "segment_id": str(theirs.id)},
    )
    assert previewed.status_code == 404
    named = post(
        client,
        "/insights/segments/preview",
        {"rule": json.dumps({"type": "segment", "segment_id": theirs.id})},
    )
    assert named.status_code == 422
    assert named.json()["error"] == (
        f"규칙을 저장할 수 없습니다: 세그먼트 {theirs.id}이(가) 이 워크스페이스에 없습니다."
    )


def test_a_hostile_segment_name_is_shown_as_text(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    principal = sign_in(client, session, tenant, "marketer")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    segment = saved_segment(session, principal, hostile)
    saved_segment(session, principal, "uses it", {"type": "segment", "segment_id": segment.id})

    for path in (
        "/insights/segments",
        f"/insights/segments/{segment.id}",
        f"/insights/segments/{segment.id}/edit",
        "/insights/segments/new",
        f"/customers/{shop.people['vip'].id}",
    ):
        page = get(client, path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text or (
            "\\u003cscript\\u003e" in page.text  # inside the builder's JSON
        ), path


def test_the_builders_preview_counts_and_describes_a_rule(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    sign_in(client, session, tenant, "marketer", locale="en")

    previewed = post(client, "/insights/segments/preview", {"rule": json.dumps(EXAMPLE_RULE)})

    assert previewed.status_code == 200, previewed.text
    body = previewed.json()
    assert body["count"] == 2
    assert body["count_text"] == "2 matching customers"
    assert {c["name"] for c in body["sample"]} == {"vip 고객", "top 고객"}
    assert body["sample"][0]["url"].startswith("/customers/")
    assert body["description"] == (
        '(trait "tier" is "VIP" or predicted CLV in the top 10%) and bought in the last 90 days'
        " and last NPS is at most 6"
    )


@pytest.mark.parametrize(
    ("locale", "rule", "field", "message"),
    [
        (
            "ko",
            {"type": "all", "rules": [{"type": "score", "metric": "nps", "op": "lte"}]},
            "rules.0.value",
            "필수 항목입니다.",
        ),
        (
            "en",
            {"type": "all", "rules": [{"type": "score", "metric": "nps", "op": "lte"}]},
            "rules.0.value",
            "Field required",
        ),
        (
            "ko",
            {
                "type": "all",
                "rules": [{"type": "score", "metric": "nps", "op": "lte", "value": 11}],
            },
            "rules.0",
            "a nps score is between 0 and 10",
        ),
        ("ko", {"type": "bogus"}, "rule", "알 수 없는 조건 종류입니다."),
        ("ko", "[1, 2", "rule", "규칙 JSON을 읽을 수 없습니다."),
    ],
    ids=["missing-ko", "missing-en", "out-of-scale", "unknown-type", "not-json"],
)
def test_the_preview_names_a_bad_rules_problem_and_where_it_is(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    locale: str,
    rule: object,
    field: str,
    message: str,
) -> None:
    sign_in(client, session, tenant, "marketer", locale=locale)

    text = rule if isinstance(rule, str) else json.dumps(rule)
    answer = post(client, "/insights/segments/preview", {"rule": text})

    assert answer.status_code == 422
    problems = answer.json()["errors"]
    assert problems[0]["field"] == field
    assert problems[0]["message"].startswith(message)
    assert message in answer.json()["error"]


def test_a_refused_rule_is_shown_again_beside_the_form(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant, "marketer")
    typed = '{"type": "all", "rules": [{"type": "score", "metric": "nps", "op": "lte"}]}'

    answer = post(client, "/insights/segments/new", {"name": "나쁜 규칙", "rule": typed})
    nameless = post(client, "/insights/segments/new", {"name": " ", "rule": json.dumps(VIP)})

    assert answer.status_code == 422
    assert "규칙을 저장할 수 없습니다 — rules.0.value: 필수 항목입니다." in text_of(answer)
    assert 'value="나쁜 규칙"' in answer.text
    assert "&#34;op&#34;: &#34;lte&#34;" in answer.text  # the JSON as typed
    assert nameless.status_code == 422
    assert "세그먼트 이름을 입력하세요." in text_of(nameless)


def test_without_javascript_the_form_previews_the_rule(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    sign_in(client, session, tenant, "marketer")

    answer = post(
        client,
        "/insights/segments/new",
        {"name": "", "rule": json.dumps(EXAMPLE_RULE), "action": "preview"},
    )

    assert answer.status_code == 200
    assert '<p class="preview-count" id="preview-count">해당 고객 2명</p>' in answer.text
    assert session.scalars(select(Segment).where(Segment.workspace_id == tenant.id)).all() == []


def test_a_segment_another_uses_is_not_archived(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    principal = sign_in(client, session, tenant, "marketer")
    used = saved_segment(session, principal, "VIP")
    saved_segment(session, principal, "VIP 재구매", {"type": "segment", "segment_id": used.id})

    answer = post(client, f"/insights/segments/{used.id}/archive")

    assert flashes(get(client, answer.headers["location"])) == [
        (
            "error",
            "다른 세그먼트(VIP 재구매)가 이 세그먼트를 조건으로 쓰고 있어 보관할 수 없습니다. "
            "그 세그먼트를 먼저 바꾸세요.",
        )
    ]


def test_the_model_page_shows_each_models_window_figures_and_holdout(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    sign_in(client, session, tenant, "analyst", locale="en")

    page = get(client, "/insights/models")

    text = text_of(page)
    assert f"Run #{shop.run.id} Ready" in text
    assert "Trained on: Jan 1, 2025 –" in text
    assert "r 0.61" in text and "alpha 3.02" in text and "log_likelihood -1,234.50" in text
    assert (
        "Trained on data up to 2026-01-01, it expected 812.4 purchases by 1,500 customers over"
        " the next 90 days; they made 797 (mean absolute error per customer 0.4211)."
    ) in text
    assert "6+ 40 3.1 3.4" in text
    assert "Too few customers to learn churn from." in text
    assert text.count("In use") == 4 and "Not in use" in text


def test_run_now_queues_a_run(client: TestClient, session: Session, tenant: Tenant) -> None:
    sign_in(client, session, tenant, "marketer")
    assert "cxloop insights run -w " in text_of(get(client, "/insights/models"))

    with held_jobs() as huey:
        answer = post(client, "/insights/models/run")
        queued = huey.pending_count()

    assert answer.status_code == 303
    run = session.scalars(select(InsightsRun).where(InsightsRun.workspace_id == tenant.id)).one()
    assert (run.status, run.trigger, queued) == ("queued", "manual", 1)
    page = get(client, "/insights/models")
    assert flashes(page) == [
        ("success", f"분석 #{run.id}을(를) 대기열에 넣었습니다. 작업자가 곧 실행합니다.")
    ]
    assert f"분석 #{run.id} 대기 중" in text_of(page)


@pytest.mark.parametrize("path", ["/insights/rfm", "/insights/clusters", "/insights/models"])
def test_before_the_first_run_each_page_says_how_to_start_one(
    client: TestClient, session: Session, tenant: Tenant, path: str
) -> None:
    sign_in(client, session, tenant, "marketer")

    page = get(client, path)

    assert page.status_code == 200
    assert "아직 분석을 실행하지 않았습니다" in text_of(page)
    assert f"cxloop insights run -w {tenant.workspace.slug}" in text_of(page)
    assert 'action="/insights/models/run"' in page.text


def test_the_rfm_grid_and_clusters_in_words(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    sign_in(client, session, tenant, "marketer", locale="en")

    rfm = text_of(get(client, "/insights/rfm"))
    clusters = get(client, "/insights/clusters")

    assert "As of" in rfm and "4 buyers" in rfm
    for name in ("Champions", "At risk", "Loyal", "Lost"):
        assert name in rfm
    assert "Share of revenue" in rfm and "New buyers" in rfm
    text = text_of(clusters)
    assert "Lapsed shoppers" in text and "Many orders" in text
    assert text.index("Lapsed shoppers") < text.index("Many orders")  # the larger group first
    assert "₩160,000" in text and "70%" in text


def test_the_customer_page_shows_predictions_reasons_products_and_segments(
    client: TestClient, session: Session, tenant: Tenant, shop: InsightsShop
) -> None:
    principal = sign_in(client, session, tenant, "agent", locale="en")
    segment = saved_segment(session, principal, "VIP 불만 고객", EXAMPLE_RULE)

    page = get(client, f"/customers/{shop.people['top'].id}")
    plain = get(client, f"/customers/{shop.people['plain'].id}")

    text = text_of(page)
    assert "Predicted CLV (12 months) ₩312,000" in text
    assert "Probability active 82%" in text and "Churn risk 71%" in text
    assert "Top 5% by predicted CLV" in text
    assert "Often bought with '러닝화'" in text and "Popular now" in text
    assert text.count("Why the churn risk") == 1
    reasons = page.text.split('id="churn-reasons"')[1].split("</ol>")[0]
    assert reasons.count("<li>") == 3
    assert f'href="/insights/segments/{segment.id}"' in page.text
    assert "Champions" in text
    assert "The last run did not score this customer" in text_of(plain)


def test_every_builder_label_is_in_the_catalog() -> None:
    class Stub:
        def __init__(self, locale: str) -> None:
            self.locale = locale

        def t(self, key: str, **params: object) -> str:
            from cxloop.core.i18n import gettext

            text = gettext(self.locale, key, **params)
            assert text != key, key
            return text

    for locale in ("ko", "en"):
        spec = builder_spec(Stub(locale), [])  # type: ignore[arg-type]
        assert len(spec["types"]) == 10
