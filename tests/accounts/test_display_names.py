"""Display names: a workspace names its teams, touchpoints, traits and event names in Korean and
English, over the API and on Settings → display names, and every page shows the names while the
data and the API keep the codes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.accounts import display_names
from cxloop.accounts import service as accounts
from cxloop.events import bus
from tests.accounts.test_web_settings import Browser, audit_of
from tests.factories import Tenant, make_customer, make_user


def browser(app: FastAPI, session: Session, tenant: Tenant, role: str) -> Browser:
    """A new member with ``role``, signed in on a client of their own, reading Korean."""
    user = make_user(session, workspace=tenant.workspace, role=role, locale="ko")
    session.flush()
    return Browser(TestClient(app), user)


def names(client: TestClient, tenant: Tenant, kind: str, **params: object) -> dict[str, object]:
    response = client.get(f"/api/v1/display-names/{kind}", headers=tenant.api, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_names_are_saved_read_back_cleared_and_audited(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    saved = client.put(
        "/api/v1/display-names/team",
        headers=tenant.api,
        json={
            "names": {"cs": {"ko": " 고객지원팀 ", "en": "Customer service"}, "cx": {"ko": "CX팀"}}
        },
    )
    assert saved.status_code == 200, saved.text
    assert [(i["key"], i["name_ko"], i["name_en"]) for i in saved.json()["items"]] == [
        ("cs", "고객지원팀", "Customer service"),
        ("cx", "CX팀", ""),
    ]
    # Two empty names take a code back to its default; codes not given stay as they were.
    cleared = client.put(
        "/api/v1/display-names/team", headers=tenant.api, json={"names": {"cx": {}}}
    )
    assert cleared.status_code == 200
    assert cleared.json()["items"] == []
    assert [i["key"] for i in names(client, tenant, "team")["items"]] == ["cs"]
    entries = audit_of(session, tenant.workspace, "display_names.save")
    assert [e.detail["names"] for e in entries] == [
        {"cs": ["고객지원팀", "Customer service"], "cx": ["CX팀", ""]},
        {"cx": ["", ""]},
    ]
    # Saving the same names again changes nothing and writes no audit entry.
    client.put(
        "/api/v1/display-names/team",
        headers=tenant.api,
        json={"names": {"cs": {"ko": "고객지원팀", "en": "Customer service"}}},
    )
    assert len(audit_of(session, tenant.workspace, "display_names.save")) == 2


def test_the_list_is_paged_by_code(client: TestClient, tenant: Tenant) -> None:
    client.put(
        "/api/v1/display-names/trait",
        headers=tenant.api,
        json={"names": {f"t{i}": {"ko": f"속성 {i}"} for i in range(5)}},
    )
    first = names(client, tenant, "trait", limit=3)
    assert [i["key"] for i in first["items"]] == ["t0", "t1", "t2"]
    rest = names(client, tenant, "trait", limit=3, cursor=first["next_cursor"])
    assert [i["key"] for i in rest["items"]] == ["t3", "t4"]
    assert rest["next_cursor"] is None


def test_bad_names_are_refused_and_nothing_is_written(client: TestClient, tenant: Tenant) -> None:
    for kind, body in [
        ("colour", {"names": {"a": {"ko": "가"}}}),
        ("team", {"names": {"a": {"ko": "가" * 101}}}),
        ("team", {"names": {"a": {"fr": "équipe"}}}),
        ("team", {"names": {"   ": {"ko": "빈 코드"}}}),
        ("team", {"names": {"a": {"ko": 3}}}),
        ("team", {"names": {f"k{i}": {"ko": "가"} for i in range(501)}}),
    ]:
        response = client.put(f"/api/v1/display-names/{kind}", headers=tenant.api, json=body)
        assert response.status_code == 422, (kind, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert names(client, tenant, "team")["items"] == []


def test_only_administrators_name_codes(client: TestClient, tenant: Tenant) -> None:
    for role in ("agent", "marketer", "analyst", "viewer"):
        headers = tenant.key(role)
        assert client.get("/api/v1/display-names/team", headers=headers).status_code == 403
        put = client.put(
            "/api/v1/display-names/team", headers=headers, json={"names": {"cs": {"ko": "팀"}}}
        )
        assert put.status_code == 403


def test_names_stay_in_their_workspace(client: TestClient, session: Session) -> None:
    one, two = Tenant(session), Tenant(session)
    client.put(
        "/api/v1/display-names/team", headers=one.api, json={"names": {"cs": {"ko": "고객지원팀"}}}
    )
    assert names(client, two, "team")["items"] == []
    assert display_names.names_of(session, workspace_id=two.id).name("team", "cs", "ko") == "cs"


def test_a_name_falls_back_to_the_other_language_then_the_shipped_name_then_the_code() -> None:
    shown = display_names.Names(
        {("team", "cs"): ("고객지원팀", ""), ("event", "Order Completed"): ("", "Purchase")}
    )
    assert shown.name("team", "cs", "ko") == "고객지원팀"
    assert shown.name("team", "cs", "en") == "고객지원팀"
    assert shown.name("event", "Order Completed", "ko") == "Purchase"  # the workspace's own
    assert shown.name("event", "Product Viewed", "ko") == "상품 조회"  # shipped
    assert shown.name("event", "Product Viewed", "en") == "Product Viewed"
    assert shown.name("trait", "email", "ko") == "이메일"
    assert shown.name("trait", "age_band", "ko") == "age_band"  # nobody named it


def test_settings_page_lists_codes_in_use_and_saves_names(
    app: FastAPI, tenant: Tenant, session: Session
) -> None:
    workspace = tenant.workspace
    owner = browser(app, session, tenant, "owner")
    accounts.set_member_teams(
        session, workspace_id=workspace.id, user_id=owner.user.id, teams="cs, delivery"
    )
    session.flush()
    page = owner.get("/settings/names?kind=team")
    assert page.status == 200
    assert "<code>cs</code>" in page and "<code>delivery</code>" in page
    saved = owner.post(
        "/settings/names",
        {"kind": "team", "key": ["cs", "delivery"], "ko": ["고객지원팀", ""], "en": ["CS", ""]},
    )
    after = owner.follow(saved)
    assert "이름 1개를 바꿨습니다." in after
    assert 'value="고객지원팀"' in after
    assert (
        display_names.names_of(session, workspace_id=workspace.id).name("team", "cs", "en") == "CS"
    )
    # A form whose columns do not line up saves nothing.
    broken = owner.follow(
        owner.post("/settings/names", {"kind": "team", "key": ["cs"], "ko": [], "en": []})
    )
    assert "양식이 올바르지 않습니다" in broken
    # Members without the right see no such page.
    agent = browser(app, session, tenant, "agent")
    assert agent.get("/settings/names").status == 403


def test_pages_show_the_names_and_keep_the_codes(
    app: FastAPI, client: TestClient, tenant: Tenant, session: Session
) -> None:
    track = {
        "userId": "u-77",
        "event": "Order Completed",
        "properties": {"order_id": "A-1", "total": 12900},
    }
    identify = {"userId": "u-77", "traits": {"name": "김하늘", "age_band": "30-39"}}
    assert client.post("/v1/identify", json=identify, headers=tenant.write).status_code == 200
    assert client.post("/v1/track", json=track, headers=tenant.write).status_code == 200
    bus.drain(client.app.state.database)  # type: ignore[attr-defined]
    client.put(
        "/api/v1/display-names/trait",
        headers=tenant.api,
        json={"names": {"age_band": {"ko": "연령대", "en": "Age band"}}},
    )
    customer_id = client.get("/api/v1/customers", headers=tenant.api).json()["items"][0]["id"]
    owner = browser(app, session, tenant, "owner")
    page = owner.get(f"/customers/{customer_id}")
    assert page.status == 200
    assert "<dt>연령대</dt>" in page.text
    assert "<dt>이름</dt>" in page.text  # a Segment trait, named by cxloop
    assert '<span class="name">주문 완료</span>' in page.text
    assert "₩12,900 · 주문번호 A-1" in page.text
    # The API keeps the codes.
    customer = client.get(f"/api/v1/customers/{customer_id}", headers=tenant.api).json()
    assert "age_band" in customer["traits"]


def test_notices_say_the_team_by_its_name() -> None:
    from cxloop.notifications.service import render_notice

    names = display_names.Names({("team", "delivery"): ("배송", "Delivery")})
    params = {"team": "delivery", "id": 7}
    assert (
        render_notice("care_new_conversation", params, "ko", names).title == "배송 팀에 새 대화 #7"
    )
    assert "delivery" in render_notice("care_new_conversation", params, "ko").title


def test_the_surveys_list_and_an_answer_show_team_and_touchpoint_names(
    app: FastAPI, client: TestClient, tenant: Tenant, session: Session
) -> None:
    from tests.helpers.dashboard import answer, make_survey

    survey = make_survey(session, tenant.workspace)
    survey.owner_team = "delivery"
    customer = make_customer(session, workspace=tenant.workspace)
    answer(session, survey, customer=customer, nps=3, touchpoint="checkout_web")
    session.flush()
    display_names.save_names(
        session, workspace_id=tenant.id, kind="team", names={"delivery": ("배송", "Delivery")}
    )
    owner = browser(app, session, tenant, "owner")
    surveys = owner.get("/surveys")
    assert "<td>배송</td>" in surveys.text and "<td>delivery</td>" not in surveys.text
    page = owner.get(f"/customers/{customer.id}")
    assert '<span class="muted small">웹 결제</span>' in page.text  # shipped by cxloop
