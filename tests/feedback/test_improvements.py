"""Improvements ("you said, we did") through the API: record one, link the responses it answers
by filter or by hand, announce it to their customers (consent and erasure respected, nobody told
twice), and the widget's notices; roles and workspace isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.service import cli_principal
from cxloop.feedback.improvements import announcements
from cxloop.models import Customer, ImprovementLink, OutboundMessage
from cxloop.profiles import service as profiles
from tests.factories import Tenant, make_customer
from tests.helpers.surveys import create, go_live, submit

URL = "/api/v1/improvements"


def answer(
    client: TestClient,
    tenant: Tenant,
    survey_id: int,
    customer: Customer | None,
    nps: int,
    comment: str = "",
    locale: str = "ko",
) -> int:
    answers: dict[str, Any] = {"nps": nps}
    if nps <= 6:
        answers["why_low"] = "delivery"
    if comment:
        answers["comment"] = comment
    reply = submit(
        client,
        tenant,
        survey_id,
        answers=answers,
        locale=locale,
        customer_id=customer.id if customer else None,
    )
    assert reply.status_code == 201, reply.text
    return int(reply.json()["response"]["id"])


def new_improvement(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {
        "title_ko": "배송이 빨라졌어요",
        "title_en": "Faster delivery",
        "body_ko": "당일 출고 센터를 열었습니다.",
        "body_en": "We opened a same-day dispatch centre.",
        **body,
    }
    reply = client.post(URL, json=payload, headers=tenant.api)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def link(client: TestClient, tenant: Tenant, improvement_id: int, body: dict[str, Any]) -> Any:
    return client.post(f"{URL}/{improvement_id}/links", json=body, headers=tenant.api)


def outbox_of(session: Session, tenant: Tenant) -> list[OutboundMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.workspace_id == tenant.id)
            .order_by(OutboundMessage.id)
        )
    )


@pytest.fixture
def survey_id(client: TestClient, tenant: Tenant) -> int:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    return int(survey["id"])


# --- linking -----------------------------------------------------------------------------------


def test_linking_by_filter_picks_score_range_and_words_and_keeps_the_criteria(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    minji = make_customer(session, workspace=tenant.workspace, email="minji@example.com")
    session.commit()
    late = answer(client, tenant, survey_id, minji, 2, "배송이 너무 늦어요")
    answer(client, tenant, survey_id, None, 3, "가격이 비싸요")
    answer(client, tenant, survey_id, None, 9, "배송이 늦었지만 좋아요")
    late_too = answer(client, tenant, survey_id, None, 6, "배송 늦음")
    imp = new_improvement(client, tenant)

    reply = link(
        client,
        tenant,
        imp["id"],
        {"filter": {"survey_id": survey_id, "score_max": 6, "words": ["배송", "늦"]}},
    )

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"linked": 2, "matching": 2}
    again = link(
        client,
        tenant,
        imp["id"],
        {"filter": {"survey_id": survey_id, "score_max": 6, "words": ["배송", "늦"]}},
    )
    assert again.json() == {"linked": 0, "matching": 2}
    detail = client.get(f"{URL}/{imp['id']}", headers=tenant.api).json()
    assert detail["criteria"] == {
        "survey_id": survey_id,
        "metric": "nps",
        "score_max": 6,
        "words": ["배송", "늦"],
    }
    assert (detail["linked_responses"], detail["told_customers"]) == (2, 0)
    links = client.get(f"{URL}/{imp['id']}/links?limit=1", headers=tenant.api).json()
    assert len(links["items"]) == 1 and links["next_cursor"]
    rest = client.get(
        f"{URL}/{imp['id']}/links?limit=1&cursor={links['next_cursor']}", headers=tenant.api
    ).json()
    assert {links["items"][0]["response_id"], rest["items"][0]["response_id"]} == {
        late,
        late_too,
    }


def test_linking_by_hand_and_unlinking(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    first = answer(client, tenant, survey_id, None, 1)
    second = answer(client, tenant, survey_id, None, 4)
    imp = new_improvement(client, tenant)

    assert link(client, tenant, imp["id"], {"response_ids": [first, second, first]}).json() == {
        "linked": 2,
        "matching": None,
    }
    gone = client.delete(f"{URL}/{imp['id']}/links/{first}", headers=tenant.api)
    assert gone.status_code == 204
    assert client.delete(f"{URL}/{imp['id']}/links/{first}", headers=tenant.api).status_code == 404
    ids = [
        i["response_id"]
        for i in client.get(f"{URL}/{imp['id']}/links", headers=tenant.api).json()["items"]
    ]
    assert ids == [second]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"filter": {"metric": "xyz", "score_max": 3}}, "metric", id="bad-metric"),
        pytest.param({"filter": {"score_max": 3}}, "metric", id="range-without-metric"),
        pytest.param(
            {"filter": {"metric": "csat", "score_min": 0}}, "score_min", id="out-of-scale"
        ),
        pytest.param(
            {"filter": {"metric": "nps", "score_min": 8, "score_max": 2}},
            "score_max",
            id="inverted",
        ),
        pytest.param({"filter": {}}, "criteria", id="empty-filter"),
        pytest.param({"response_ids": [999999999]}, "response_ids.0", id="unknown-response"),
        pytest.param({"filter": {"survey_id": 999999}}, "survey_id", id="unknown-survey"),
        pytest.param({}, "", id="neither"),
    ],
)
def test_bad_links_are_field_level_422s(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    imp = new_improvement(client, tenant)

    reply = link(client, tenant, imp["id"], body)

    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in reply.json()["errors"]}


def test_an_improvement_needs_a_title_and_a_text(client: TestClient, tenant: Tenant) -> None:
    reply = client.post(URL, json={"title_ko": " ", "body_en": ""}, headers=tenant.api)

    assert reply.status_code == 422
    assert {e["field"] for e in reply.json()["errors"]} == {"title_ko", "body_ko"}
    assert (
        client.post(
            URL, json={"title_en": "x", "body_en": "y", "extra": 1}, headers=tenant.api
        ).status_code
        == 422
    )


# --- announcing --------------------------------------------------------------------------------


def test_announce_respects_consent_and_erasure_and_never_tells_anyone_twice(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    # given five customers behind six linked responses
    happy_path = make_customer(session, workspace=tenant.workspace, email="a@example.com")
    opted_out = make_customer(session, workspace=tenant.workspace, email="b@example.com")
    erased = make_customer(session, workspace=tenant.workspace, email="c@example.com")
    no_email = make_customer(session, workspace=tenant.workspace)
    english = make_customer(session, workspace=tenant.workspace, email="e@example.com")
    profiles.record_consent(
        session,
        customer=opted_out,
        purpose="service",
        channel="email",
        granted=False,
        source="unsubscribe_link",
    )
    session.commit()
    ids = [
        answer(client, tenant, survey_id, happy_path, 2, "늦어요"),
        answer(client, tenant, survey_id, happy_path, 3, "또 늦어요"),
        answer(client, tenant, survey_id, opted_out, 1),
        answer(client, tenant, survey_id, erased, 0),
        answer(client, tenant, survey_id, no_email, 4),
        answer(client, tenant, survey_id, english, 5, "late", locale="en"),
    ]
    profiles.erase_customer(session, principal=cli_principal(tenant.id), customer=erased)
    session.commit()
    imp = new_improvement(client, tenant)
    link(client, tenant, imp["id"], {"response_ids": ids})

    # when the manager previews, then announces twice
    preview = client.get(f"{URL}/{imp['id']}/preview", headers=tenant.api).json()
    first = client.post(f"{URL}/{imp['id']}/announce", headers=tenant.api)
    second = client.post(f"{URL}/{imp['id']}/announce", headers=tenant.api)

    # then two customers got one email each, in their language; nobody twice
    assert preview == {
        "email": 2,
        "widget_only": 1,
        "opted_out": 1,
        "erased": 1,
        "already_told": 0,
        "anonymous": 0,
    }
    assert first.status_code == 200, first.text
    assert first.json() == {
        "emailed": 2,
        "widget_only": 1,
        "opted_out": 1,
        "erased": 1,
        "already_told": 0,
        "told_by_channel": {"email": 2},
    }
    assert second.json()["emailed"] == 0 and second.json()["already_told"] == 2
    mails = outbox_of(session, tenant)
    assert [(m.recipient, m.subject) for m in mails] == [
        ("a@example.com", "배송이 빨라졌어요"),
        ("e@example.com", "Faster delivery"),
    ]
    assert mails[0].dedupe_key == f"improvement:{imp['id']}:{happy_path.id}"
    assert "당일 출고 센터를 열었습니다." in mails[0].body_text
    assert "We opened a same-day dispatch centre." in mails[1].body_text
    assert {m.purpose for m in mails} == {"service"}
    links = {
        link.response_id: link
        for link in session.scalars(
            select(ImprovementLink).where(ImprovementLink.improvement_id == imp["id"])
        )
    }
    assert [links[i].notified_channel for i in ids] == ["email", "email", None, None, None, "email"]

    # and a response linked later from a customer already told is recorded, not mailed again
    later = answer(client, tenant, survey_id, happy_path, 1, "그래도 늦어요")
    link(client, tenant, imp["id"], {"response_ids": [later]})
    third = client.post(f"{URL}/{imp['id']}/announce", headers=tenant.api).json()
    assert third["emailed"] == 0
    assert len(outbox_of(session, tenant)) == 2
    session.expire_all()
    told_link = session.scalar(select(ImprovementLink).where(ImprovementLink.response_id == later))
    assert told_link is not None and told_link.notified_channel == "email"
    # a told response stays linked as the record
    assert client.delete(f"{URL}/{imp['id']}/links/{ids[0]}", headers=tenant.api).status_code == 409


# --- the widget --------------------------------------------------------------------------------


def test_widget_notices_show_announced_improvements_once(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    customer = make_customer(session, workspace=tenant.workspace)
    session.commit()
    first = answer(client, tenant, survey_id, customer, 2)
    second = answer(client, tenant, survey_id, customer, 3)
    imp = new_improvement(client, tenant)
    unannounced = new_improvement(client, tenant, title_ko="아직", title_en="Not yet")
    link(client, tenant, imp["id"], {"response_ids": [first, second]})
    link(client, tenant, unannounced["id"], {"response_ids": [first]})

    assert (
        announcements.widget_notices(session, workspace_id=tenant.id, customer_id=customer.id) == []
    )
    client.post(f"{URL}/{imp['id']}/announce", headers=tenant.api)
    session.expire_all()

    [notice] = announcements.widget_notices(
        session, workspace_id=tenant.id, customer_id=customer.id, locale="en"
    )
    assert (notice["improvement_id"], notice["title"], notice["body"]) == (
        imp["id"],
        "Faster delivery",
        "We opened a same-day dispatch centre.",
    )
    for _ in range(2):  # idempotent
        announcements.mark_widget_shown(
            session, workspace_id=tenant.id, customer_id=customer.id, link_id=notice["id"]
        )
    assert (
        announcements.widget_notices(session, workspace_id=tenant.id, customer_id=customer.id) == []
    )
    session.expire_all()
    rows = session.scalars(
        select(ImprovementLink).where(ImprovementLink.improvement_id == imp["id"])
    ).all()
    assert {(r.notified_channel, r.widget_shown_at is not None) for r in rows} == {("widget", True)}
    detail = client.get(f"{URL}/{imp['id']}", headers=tenant.api).json()
    assert detail["told_customers"] == 1
    # another customer's notice cannot be marked from here
    other = make_customer(session, workspace=tenant.workspace)
    with pytest.raises(Exception, match="No notice"):
        announcements.mark_widget_shown(
            session, workspace_id=tenant.id, customer_id=other.id, link_id=notice["id"]
        )


def test_erased_customers_see_no_widget_notice(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    customer = make_customer(session, workspace=tenant.workspace)
    session.commit()
    response_id = answer(client, tenant, survey_id, customer, 2)
    imp = new_improvement(client, tenant)
    link(client, tenant, imp["id"], {"response_ids": [response_id]})
    client.post(f"{URL}/{imp['id']}/announce", headers=tenant.api)
    profiles.erase_customer(session, principal=cli_principal(tenant.id), customer=customer)

    assert (
        announcements.widget_notices(session, workspace_id=tenant.id, customer_id=customer.id) == []
    )


# --- roles and workspaces ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "create_status", "announce_status"),
    [
        pytest.param("viewer", 403, 403, id="viewer"),
        pytest.param("analyst", 201, 403, id="analyst"),
        pytest.param("marketer", 201, 200, id="marketer"),
    ],
)
def test_roles_decide_who_records_and_who_announces(
    client: TestClient, tenant: Tenant, role: str, create_status: int, announce_status: int
) -> None:
    headers = tenant.key(role)
    imp = new_improvement(client, tenant)

    created = client.post(URL, json={"title_en": "t", "body_en": "b"}, headers=headers)
    announced = client.post(f"{URL}/{imp['id']}/announce", headers=headers)

    assert (created.status_code, announced.status_code) == (create_status, announce_status)
    assert client.get(URL, headers=headers).status_code == 200


def test_another_workspaces_improvements_and_responses_are_out_of_reach(
    client: TestClient, session: Session, tenant: Tenant, survey_id: int
) -> None:
    theirs = Tenant(session)
    session.commit()
    their_survey = create(client, theirs)
    go_live(client, theirs, their_survey["id"])
    their_response = answer(client, theirs, their_survey["id"], None, 1)
    their_imp = new_improvement(client, theirs)
    mine = new_improvement(client, tenant)

    assert client.get(f"{URL}/{their_imp['id']}", headers=tenant.api).status_code == 404
    assert client.post(f"{URL}/{their_imp['id']}/announce", headers=tenant.api).status_code == 404
    assert link(client, tenant, mine["id"], {"response_ids": [their_response]}).status_code == 422
    by_filter = link(client, tenant, mine["id"], {"filter": {"metric": "nps", "score_max": 6}})
    assert by_filter.json() == {"linked": 0, "matching": 0}
    assert [i["id"] for i in client.get(URL, headers=tenant.api).json()["items"]] == [mine["id"]]
