"""The voice-of-the-customer story in Chromium, end to end: a CX manager's dashboard has no
answers; a customer answers through their personal link and a visitor through the widget on
the shop's own page; the dashboard then counts both, and the unhappy answer is a follow-up."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.feedback.distribution import service as distribution
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import FollowUp, Response
from tests.factories import PASSWORD, make_customer, make_key, make_user, make_workspace, unique
from tests.helpers.distribution import shop_page
from tests.helpers.surveys import nps_definition

pytestmark = [pytest.mark.browser, pytest.mark.live]


def nps_card(page: Any) -> str:
    return str(page.locator("article[data-metric=nps]").inner_text())


@pytest.mark.browser
def test_answers_by_link_and_widget_show_up_on_the_dashboard(
    browser_page: Any,
    live_server: str,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a shop with a live NPS survey offered by link and in the widget, a customer to
    # invite, and a CX manager
    monkeypatch.setattr(settings, "public_url", live_server)
    with database.session() as s:
        workspace = make_workspace(s, name="바다 상점")
        manager = make_user(s, workspace=workspace, role="analyst", locale="ko")
        _key, write_key = make_key(s, workspace=workspace, kind="write")
        survey = survey_service.create_survey(
            s,
            workspace_id=workspace.id,
            key=unique("story-"),
            name="추천 설문",
            kind="nps",
            definition=nps_definition(),
            owner_team="cs",
            distribution={"channels": ["link", "widget"]},
        )
        survey_service.set_status(s, survey=survey, status="live")
        buyer = make_customer(s, workspace=workspace, email=f"{unique('buyer')}@example.com")
        [issued] = distribution.invite_customers(
            s, survey=survey, customer_ids=[buyer.id], channel="link", settings=settings
        )
        link = issued.link
        survey_id, workspace_id = survey.id, workspace.id
    assert link is not None

    page = browser_page
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.goto(f"{live_server}/cx")
    assert page.locator("article[data-metric=nps] .score-value.empty").count() == 1

    # when the customer answers through their personal link (unhappy, with a comment) …
    customer_page = page.context.new_page()
    customer_page.set_viewport_size({"width": 390, "height": 844})
    customer_page.goto(link)
    customer_page.locator("label[for$='-3']").first.click()
    customer_page.locator("label.rq-option").first.click()  # the branch: what went wrong
    customer_page.locator("textarea").fill("배송이 너무 늦어요")
    customer_page.locator(".r-submit").click()
    customer_page.locator("text=죄송합니다").first.wait_for()
    customer_page.close()

    # … and a visitor answers in the widget on the shop's page (a promoter)
    visitor_page = page.context.new_page()
    with shop_page(f"{live_server}/widget/survey.js", write_key) as url:
        visitor_page.goto(url)
        frame = visitor_page.frame_locator(".cxloop-survey-widget iframe")
        frame.locator("label[for$='-10']").first.click()
        frame.locator(".r-submit").click()
        frame.locator("text=/감사|Thank/").first.wait_for()
    visitor_page.close()

    # then the dashboard counts both answers: one promoter, one detractor, NPS 0, too few
    page.reload()
    card = nps_card(page)
    assert page.locator("article[data-metric=nps] .score-value.empty").count() == 0
    assert "2건" in card  # "응답이 적습니다 (2건)"
    assert page.locator("article[data-metric=nps] .score-value").inner_text().startswith("0")
    with database.session() as s:
        answers = s.scalars(
            select(Response).where(Response.survey_id == survey_id, Response.completed)
        ).all()
        assert sorted((r.channel, r.nps) for r in answers) == [("link", 3), ("widget", 10)]
        unhappy = next(r for r in answers if r.nps == 3)
        follow_up = s.scalars(
            select(FollowUp).where(
                FollowUp.workspace_id == workspace_id, FollowUp.response_id == unhappy.id
            )
        ).one()
        assert (follow_up.team, follow_up.status) == ("cs", "open")
        assert unhappy.comment == "배송이 너무 늦어요"
    assert page.problems == []
