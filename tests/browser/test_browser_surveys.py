"""The survey pages in Chromium against a live server: a customer answers their personal link
on a phone (the branch question appears for a low score, the score is kept at once, a Korean
comment, the thank-you), then a member adds a question in the builder, previews it in both
languages and saves a new version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Invitation, Response, Survey
from tests.factories import PASSWORD, make_customer, make_user, make_workspace, unique
from tests.helpers.respondent import respondent_definition

pytestmark = [pytest.mark.browser, pytest.mark.live]


@dataclass
class Setup:
    email: str
    survey_id: int
    invitation_id: int
    token: str


@pytest.fixture
def survey_setup(database: Database) -> Setup:
    """Committed: a workspace with an owner (Korean UI), a live NPS survey and an invitation
    of a Korean-speaking customer."""
    token = unique("browser-") + "-personal-token"
    with database.session() as session:
        workspace = make_workspace(session, name="설문 가게")
        owner = make_user(session, workspace=workspace, role="owner", locale="ko")
        survey = survey_service.create_survey(
            session,
            workspace_id=workspace.id,
            key=unique("post-purchase-"),
            name="구매 후 설문",
            kind="nps",
            definition=respondent_definition(),
        )
        survey_service.set_status(session, survey=survey, status="live")
        customer = make_customer(session, workspace=workspace)
        customer.locale = "ko-KR"
        invitation = Invitation(
            workspace_id=workspace.id,
            survey_id=survey.id,
            customer_id=customer.id,
            token_hash=invitation_links.hash_token(token),
            channel="email",
            status="sent",
            hidden={"order_id": "O-77"},
            send_at=utcnow(),
            expires_at=utcnow() + timedelta(days=14),
        )
        session.add(invitation)
        session.flush()
        return Setup(owner.email, survey.id, invitation.id, token)


def test_a_customer_answers_on_a_phone_and_a_member_edits_the_survey(
    live_server: str, survey_setup: Setup, browser_page: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})

    # --- the customer, on a phone
    page.goto(f"{live_server}/s/{survey_setup.token}")
    expect(page.locator("legend").first).to_contain_text("친구에게 추천하시겠어요?")
    why_low = page.locator("#q-why_low")
    expect(why_low).to_be_hidden()
    # the eleven NPS buttons fit the phone's width
    last_button = page.locator("label[for='q-nps-10']").bounding_box()
    assert last_button is not None and last_button["x"] + last_button["width"] <= 390

    page.locator("label[for='q-nps-3']").click()
    expect(why_low).to_be_visible()
    expect(page.locator(".r-saved")).to_have_text("응답이 임시 저장되었습니다.")
    with database.session() as session:
        kept = session.scalar(
            select(Response).where(Response.invitation_id == survey_setup.invitation_id)
        )
        assert kept is not None and (kept.completed, kept.answers) == (False, {"nps": 3})

    # a high score hides the branch again, a low one brings it back
    page.locator("label[for='q-nps-9']").click()
    expect(why_low).to_be_hidden()
    page.locator("label[for='q-nps-3']").click()
    expect(why_low).to_be_visible()
    page.locator("#q-why_low-text").fill("배송이 사흘이나 늦었어요")
    expect(page.locator("#q-why_low-count")).to_have_text("13 / 30")
    page.locator("label[for='q-liked-staff']").click()
    page.get_by_role("button", name="응답 제출").click()
    expect(page.locator("h1")).to_have_text("응답해 주셔서 감사합니다")
    expect(page.locator(".r-message p")).to_have_text("불편을 드려 죄송합니다.")

    with database.session() as session:
        response = session.scalar(
            select(Response).where(Response.invitation_id == survey_setup.invitation_id)
        )
        assert response is not None
        assert response.id == kept.id  # the kept score was completed, not duplicated
        assert response.completed is True
        assert response.answers == {
            "nps": 3,
            "why_low": "배송이 사흘이나 늦었어요",
            "liked": ["staff"],
        }
        assert (response.locale, response.hidden) == ("ko", {"order_id": "O-77"})
        invitation = session.get(Invitation, survey_setup.invitation_id)
        assert invitation is not None and invitation.status == "answered"

    # --- a member, on a laptop
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(survey_setup.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.get_by_role("link", name="설문").first.click()
    page.get_by_role("link", name="구매 후 설문").click()
    expect(page.locator(".status-card")).to_contain_text("새 버전(v2)")

    page.get_by_role("button", name="+ 질문 추가").click()
    card = page.locator("#question-3")
    expect(card).to_be_visible()
    # the builder's script shows only the fields of the question's type
    expect(card.locator("input[name='questions-3-opt-0-ko']")).to_be_hidden()
    card.locator("select[name='questions-3-type']").select_option("single")
    expect(card.locator("input[name='questions-3-opt-0-ko']")).to_be_visible()
    card.locator("textarea[name='questions-3-text_ko']").fill("다시 구매하시겠어요?")
    card.locator("textarea[name='questions-3-text_en']").fill("Would you buy from us again?")
    # a choice a row, in separate fields; a code left empty is made from the English label
    card.locator("input[name='questions-3-opt-0-ko']").fill("네")
    card.locator("input[name='questions-3-opt-0-en']").fill("Yes")
    card.locator("input[name='questions-3-opt-1-ko']").fill("아니요")
    card.locator("input[name='questions-3-opt-1-en']").fill("No")
    card.get_by_role("button", name="+ 보기 추가").click()
    card.locator("input[name='questions-3-opt-2-ko']").fill("잘 모르겠어요")
    card.locator("input[name='questions-3-opt-2-en']").fill("Not sure")
    card.get_by_role("button", name="보기 3 지우기").click()
    expect(card.locator("input[name='questions-3-opt-2-ko']")).to_have_count(0)
    page.get_by_role("button", name="미리보기 갱신").click()
    expect(card.locator("input[name='questions-3-opt-1-id']")).to_have_value("no")

    korean = page.locator(".preview-pane[lang=ko]")
    english = page.locator(".preview-pane[lang=en]")
    expect(korean).to_contain_text("다시 구매하시겠어요?")
    expect(korean.locator("label[for='pv-ko-q-q4-no']")).to_have_text("아니요")
    expect(english).to_contain_text("Would you buy from us again?")
    expect(english.locator("label[for='pv-en-q-q4-yes']")).to_have_text("Yes")
    # branching works in the preview too
    expect(english.locator("#pv-en-q-why_low")).to_be_hidden()
    english.locator("label[for='pv-en-q-nps-2']").click()
    expect(english.locator("#pv-en-q-why_low")).to_be_visible()

    # the condition is picked in words: the question, then what was picked of its choices
    card.locator("select[name='questions-3-cond_question']").select_option("liked")
    expect(card.locator("select[name='questions-3-cond_op'] option").first).to_have_text("선택함")
    card.get_by_label("빠른 배송").check()
    page.get_by_role("button", name="저장", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("버전 2")

    with database.session() as session:
        survey = session.get(Survey, survey_setup.survey_id)
        assert survey is not None and survey.current_version == 2
        definition = survey_service.current_definition(session, survey=survey)
        assert [q.id for q in definition.questions] == ["nps", "why_low", "liked", "q4"]
        assert definition.questions[3].text.en == "Would you buy from us again?"
        assert definition.questions[3].option_ids() == ["yes", "no"]
        show_if = definition.questions[3].show_if
        assert show_if is not None
        assert (show_if.question, show_if.op, show_if.value) == ("liked", "==", "speed")
        # the answer given before stays on version 1
        answered = session.scalar(
            select(Response).where(Response.invitation_id == survey_setup.invitation_id)
        )
        assert answered is not None and answered.version == 1

    assert page.problems == []  # no script error, no CSP violation
