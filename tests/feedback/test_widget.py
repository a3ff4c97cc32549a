"""The survey widget: its script, the prompt (write key, CORS, the visitor's profile by their
anonymous id, pending invitations first, sampling and fatigue) and "you said, we did"
notices shown once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.widget_identity import identity_secret, user_hash
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import (
    Customer,
    Identity,
    Improvement,
    ImprovementLink,
    Invitation,
    Response,
    Survey,
)
from tests.factories import Tenant, make_customer, make_key, make_workspace, unique
from tests.helpers.distribution import customer, invite, live_survey, shop_page
from tests.helpers.surveys import nps_definition

PROMPT = "/widget/v1/prompt"


def prompt(client: TestClient, tenant: Tenant, **params: Any) -> Any:
    query = {"writeKey": tenant.write_secret, **params}
    return client.get(PROMPT, params=query, headers={"Origin": "https://shop.example"})


def signed(tenant: Tenant, settings: Settings, user_id: str) -> dict[str, str]:
    """The userId and the userHash the shop's server makes for it."""
    secret = identity_secret(tenant.workspace, settings=settings)
    return {"userId": user_id, "userHash": user_hash(secret, user_id)}


def profile_of(session: Session, tenant: Tenant, kind: str, value: str) -> Customer:
    session.expire_all()
    ids = set(
        session.scalars(
            select(Identity.customer_id).where(
                Identity.workspace_id == tenant.id, Identity.kind == kind, Identity.value == value
            )
        )
    )
    assert len(ids) == 1, ids
    found = session.get(Customer, ids.pop())
    assert found is not None
    return found


def test_the_script_is_served_as_cacheable_javascript(client: TestClient) -> None:
    reply = client.get("/widget/survey.js")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/javascript; charset=utf-8"
    assert reply.headers["cache-control"] == "public, max-age=3600"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "ajs_anonymous_id" in reply.text and "/widget/v1/prompt" in reply.text
    assert "eval(" not in reply.text and "innerHTML" not in reply.text


def test_a_bad_write_key_is_a_401_problem_readable_cross_origin(client: TestClient) -> None:
    reply = client.get(PROMPT, params={"writeKey": "cxw_nope", "anonymousId": "a-1"})
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.json()["status"] == 401
    assert client.get(PROMPT, params={"anonymousId": "a-1"}).status_code == 401


def test_a_prompt_without_a_visitor_id_is_a_422(client: TestClient, tenant: Tenant) -> None:
    reply = prompt(client, tenant)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "anonymousId"
    long = prompt(client, tenant, anonymousId="x" * 400)
    assert long.status_code == 422


def test_cors_preflight_is_answered_for_any_origin(client: TestClient) -> None:
    reply = client.options(
        PROMPT,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "GET" in reply.headers["access-control-allow-methods"]
    assert "Authorization" in reply.headers["access-control-allow-headers"]


def test_a_visitor_gets_a_widget_invitation_on_the_profile_of_their_anonymous_id(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given a visitor analytics.js already knows, and a live survey offered in the widget
    anonymous_id = unique("anon-")
    tracked = client.post(
        "/v1/page",
        json={"anonymousId": anonymous_id, "name": "Home", "messageId": unique("m-")},
        headers=tenant.write,
    )
    assert tracked.status_code == 200
    known = profile_of(session, tenant, "anonymous_id", anonymous_id)
    survey_id = live_survey(client, tenant, channels=["widget"])

    # when their page asks the widget what to show
    reply = prompt(client, tenant, anonymousId=anonymous_id, locale="ko-KR")

    # then a framed personal link to the survey, tied to that same profile
    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] == "*"
    body = reply.json()
    survey = body["survey"]
    assert survey["survey_id"] == survey_id
    assert survey["url"].endswith("?embed=1") and "/s/" in survey["url"]
    token = survey["url"].split("/s/", 1)[1].removesuffix("?embed=1")
    stored = session.get(Survey, survey_id)
    assert stored is not None
    invitation = invitation_links.find_invitation(session, survey=stored, token=token)
    assert (invitation.customer_id, invitation.channel, invitation.status) == (
        known.id,
        "widget",
        "sent",
    )
    assert body["labels"]["close"] == "닫기" and body["lang"] == "ko"
    assert profile_of(session, tenant, "anonymous_id", anonymous_id).id == known.id

    # and asking again returns the same pending invitation, not a second one
    again = prompt(client, tenant, anonymousId=anonymous_id).json()
    assert again["survey"]["invitation_id"] == survey["invitation_id"]
    count = session.scalar(select(func.count()).where(Invitation.survey_id == survey_id))
    assert count == 1


def test_a_new_visitor_gets_a_profile_holding_their_ids(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    live_survey(client, tenant, channels=["widget"])
    anonymous_id, user_id = unique("anon-"), unique("user-")

    reply = prompt(
        client, tenant, anonymousId=anonymous_id, locale="en", **signed(tenant, settings, user_id)
    )

    assert reply.status_code == 200
    assert reply.json()["labels"]["close"] == "Close"
    by_anonymous = profile_of(session, tenant, "anonymous_id", anonymous_id)
    by_user = profile_of(session, tenant, "user_id", user_id)
    assert by_anonymous.id == by_user.id
    invitation = session.get(Invitation, reply.json()["survey"]["invitation_id"])
    assert invitation is not None and invitation.customer_id == by_user.id


def test_a_pending_triggered_widget_invitation_comes_first(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    # given a customer with a pending widget invitation made for them
    person = customer(session, tenant)
    user_id = session.scalars(
        select(Identity.value).where(Identity.customer_id == person.id, Identity.kind == "user_id")
    ).one()
    triggered = live_survey(
        client, tenant, channels=["widget"], trigger={"event": "Order Completed"}
    )
    from cxloop.feedback.distribution import service as distribution

    issued = distribution.create_invitation(
        session,
        survey=session.get(Survey, triggered),  # type: ignore[arg-type]
        workspace=tenant.workspace,
        customer=person,
        channel="widget",
    )
    live_survey(client, tenant, channels=["widget"])  # an on-visit survey too

    reply = prompt(
        client, tenant, anonymousId=unique("anon-"), **signed(tenant, settings, user_id)
    ).json()

    assert reply["survey"]["invitation_id"] == issued.invitation.id
    assert reply["survey"]["url"] == f"{issued.link}?embed=1"


def test_fatigue_and_sampling_keep_the_widget_quiet(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    email_survey = live_survey(client, tenant, channels=["email"])
    live_survey(client, tenant, channels=["widget"])
    tired_user = unique("tired-")
    tired = make_customer(
        session, workspace=tenant.workspace, user_id=tired_user, email=f"{tired_user}@example.com"
    )
    invite(client, tenant, email_survey, customer_ids=[tired.id], channel="email")

    reply = prompt(client, tenant, **signed(tenant, settings, tired_user)).json()
    assert (reply["survey"], reply["verified"]) == (None, True)

    other = Tenant(session)
    live_survey(client, other, channels=["widget"], sample_rate=0.0)
    assert prompt(client, other, anonymousId=unique("anon-")).json()["survey"] is None


def test_notices_are_shown_until_the_widget_says_they_were_seen(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given an announced improvement linked to this visitor's answer
    anonymous_id = unique("anon-")
    client.post(
        "/v1/page",
        json={"anonymousId": anonymous_id, "name": "Home", "messageId": unique("m-")},
        headers=tenant.write,
    )
    person = profile_of(session, tenant, "anonymous_id", anonymous_id)
    survey_id = live_survey(client, tenant, channels=["link"])
    response = Response(
        workspace_id=tenant.id, survey_id=survey_id, version=1, customer_id=person.id,
        answers={"nps": 3}, nps=3, completed=True,
    )  # fmt: skip
    improvement = Improvement(
        workspace_id=tenant.id, title_ko="배송이 빨라졌어요", title_en="Faster delivery",
        body_ko="이제 다음 날 도착합니다.", body_en="Orders now arrive the next day.",
        announced_at=utcnow(),
    )  # fmt: skip
    session.add_all([response, improvement])
    session.flush()
    link = ImprovementLink(
        workspace_id=tenant.id,
        improvement_id=improvement.id,
        response_id=response.id,
        customer_id=person.id,
    )
    session.add(link)
    session.flush()

    # when the widget asks, in Korean
    notices = prompt(client, tenant, anonymousId=anonymous_id, locale="ko").json()["notices"]
    assert [(n["id"], n["title"]) for n in notices] == [(link.id, "배송이 빨라졌어요")]

    # and reports it shown
    seen = client.post(
        f"/widget/v1/notices/{link.id}/seen",
        params={"writeKey": tenant.write_secret, "anonymousId": anonymous_id},
    )
    assert seen.status_code == 200, seen.text
    assert seen.headers["access-control-allow-origin"] == "*"

    # then it is not shown again, and someone else cannot mark it
    assert prompt(client, tenant, anonymousId=anonymous_id).json()["notices"] == []
    session.expire_all()
    assert session.get(ImprovementLink, link.id).widget_shown_at is not None  # type: ignore[union-attr]
    stranger = client.post(
        f"/widget/v1/notices/{link.id}/seen",
        params={"writeKey": tenant.write_secret, "anonymousId": unique("nobody-")},
    )
    assert stranger.status_code == 422
    bad = client.post(
        "/widget/v1/notices/abc/seen",
        params={"writeKey": tenant.write_secret, "anonymousId": anonymous_id},
    )
    assert bad.status_code == 422


# --- in the browser ----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.live
def test_a_visitor_answers_in_the_widget_and_the_answer_lands_on_their_profile(
    browser_page: Any,
    live_server: str,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a committed workspace with a live widget survey, and links pointing at the server
    monkeypatch.setattr(settings, "public_url", live_server)
    with database.session() as s:
        workspace = make_workspace(s, name="나눔 스토어")
        _key, write_secret = make_key(s, workspace=workspace, kind="write")
        survey = survey_service.create_survey(
            s,
            workspace_id=workspace.id,
            key=unique("widget-"),
            name="방문 설문",
            kind="nps",
            definition=nps_definition(),
            distribution={"channels": ["widget"]},
        )
        survey_service.set_status(s, survey=survey, status="live")
    page = browser_page

    # when a visitor opens a shop page that embeds the widget
    with shop_page(f"{live_server}/widget/survey.js", write_secret) as url:
        page.goto(url)
        frame_element = page.wait_for_selector(".cxloop-survey-widget iframe")
        src = frame_element.get_attribute("src")
        anonymous_id = page.evaluate("JSON.parse(localStorage.getItem('ajs_anonymous_id'))")
        # and answers the survey inside it
        frame = page.frame_locator(".cxloop-survey-widget iframe")
        frame.locator("label[for$='-9']").first.click()
        frame.locator(".r-submit").click()
        frame.locator("text=/감사|Thank/").first.wait_for()
        page.screenshot(path="/tmp/cxloop-widget.png")

    # then the widget framed the personal link, and the answer is on the visitor's profile
    assert src.startswith(f"{live_server}/s/") and src.endswith("?embed=1")
    assert anonymous_id
    with database.session() as s:
        holder = s.scalars(
            select(Identity.customer_id).where(
                Identity.workspace_id == workspace.id,
                Identity.kind == "anonymous_id",
                Identity.value == anonymous_id,
            )
        ).one()
        answered = s.scalars(
            select(Response).where(Response.workspace_id == workspace.id, Response.completed)
        ).one()
        assert (answered.customer_id, answered.nps, answered.channel) == (holder, 9, "widget")
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.live
def test_a_signed_in_customer_answers_in_the_widget_on_their_own_profile(
    browser_page: Any,
    live_server: str,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a committed workspace with a customer and a live widget survey
    monkeypatch.setattr(settings, "public_url", live_server)
    user_id = unique("member-")
    with database.session() as s:
        workspace = make_workspace(s, name="나눔 스토어")
        _key, write_secret = make_key(s, workspace=workspace, kind="write")
        shopper = make_customer(s, workspace=workspace, user_id=user_id)
        survey = survey_service.create_survey(
            s,
            workspace_id=workspace.id,
            key=unique("widget-"),
            name="방문 설문",
            kind="nps",
            definition=nps_definition(),
            distribution={"channels": ["widget"]},
        )
        survey_service.set_status(s, survey=survey, status="live")
        secret = identity_secret(workspace, settings=settings)
    page = browser_page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/widget/v1/prompt" in r.url else None)

    # when the shop's page passes the signed-in user's id with the hash its server made
    signature = f'data-user-id="{user_id}" data-user-hash="{user_hash(secret, user_id)}"'
    with shop_page(f"{live_server}/widget/survey.js", write_secret, signature) as url:
        page.goto(url)
        frame = page.frame_locator(".cxloop-survey-widget iframe")
        frame.locator("label[for$='-3']").first.click()
        frame.locator("label:has-text('배송')").first.click()
        frame.locator(".r-submit").click()
        frame.locator("text=/감사|Thank|죄송|Sorry/").first.wait_for()

    # then the widget sent the hash, and the answer is on that customer's profile
    assert len(asked) == 1 and "userHash=" in asked[0] and f"userId={user_id}" in asked[0]
    with database.session() as s:
        answered = s.scalars(
            select(Response).where(Response.workspace_id == workspace.id, Response.completed)
        ).one()
        assert (answered.customer_id, answered.nps, answered.channel) == (shopper.id, 3, "widget")
    assert page.problems == []
