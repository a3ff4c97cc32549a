"""The closed loop in Chromium against a live server: a member of the owning team sees the bell
count go up when a detractor answers, follows the notice to the follow-up and marks it done."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cxloop.accounts import service as accounts
from cxloop.core.db import Database
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import FollowUp
from tests.factories import PASSWORD, make_customer, make_user, make_workspace, unique
from tests.helpers.surveys import nps_definition

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_member_is_notified_of_a_detractor_and_closes_the_loop(
    live_server: str, database: Database, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    # given a workspace whose "delivery" team has one member, and a live survey it owns
    with database.session() as session:
        workspace = make_workspace(session, name="나눔 스토어")
        member = make_user(session, workspace=workspace, role="agent", locale="ko")
        accounts.set_member_teams(
            session, workspace_id=workspace.id, user_id=member.id, teams=["delivery"]
        )
        customer = make_customer(session, workspace=workspace, email=f"{unique('c')}@example.com")
        customer.display_name = "김민지"
        survey = survey_service.create_survey(
            session,
            workspace_id=workspace.id,
            key="after-delivery",
            name="배송 후 설문",
            kind="nps",
            definition=nps_definition(),
            owner_team="delivery",
        )
        survey_service.set_status(session, survey=survey, status="live")
        email, workspace_id, survey_id, customer_id = (
            member.email,
            workspace.id,
            survey.id,
            customer.id,
        )

    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(f"{live_server}/customers")
    count = page.locator(".bell .bell-count")
    expect(count).to_have_text("0")

    # when a customer answers with a detractor score
    with database.session() as session:
        survey = survey_service.get_survey(session, workspace_id=workspace_id, survey_id=survey_id)
        response_service.submit_response(
            session,
            survey=survey,
            answers={"nps": 2, "why_low": "delivery", "comment": "배송이 늦어요"},
            customer_id=customer_id,
        )

    # then the bell counts it on the next page
    page.get_by_role("link", name="후속 조치").first.click()
    expect(page.locator("h1")).to_have_text("후속 조치")
    expect(count).to_have_text("1")
    expect(page.locator(".bell")).to_have_class(re.compile("has-unread"))

    # the notice leads to the follow-up
    page.locator(".bell").click()
    expect(page.locator("h1")).to_have_text("알림")
    notice = page.locator(".notice-item.unread").first
    expect(notice).to_contain_text("NPS 2점 · 비추천 고객")
    notice.locator(".notice-title").click()
    expect(page).to_have_url(re.compile(r"/follow-ups/\d+$"))
    expect(count).to_have_text("0")
    expect(page.locator(".verbatim")).to_have_text("배송이 늦어요")
    expect(page.get_by_role("link", name="김민지")).to_be_visible()

    # and marking it done closes it
    page.get_by_label("상태").select_option("done")
    page.get_by_label("메모").fill("고객에게 전화로 사과드렸습니다")
    page.get_by_role("button", name="저장").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator("#follow-up-status")).to_have_text("완료")
    follow_up_id = int(page.url.rsplit("/", 1)[1])
    with database.session() as session:
        stored = session.get(FollowUp, follow_up_id)
        assert stored is not None
        assert (stored.status, stored.note) == ("done", "고객에게 전화로 사과드렸습니다")
    assert page.problems == []
