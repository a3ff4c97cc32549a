"""Correcting a tag in Chromium against a live server: an agent opens a survey's response list,
opens the correction form of a comment the model read as negative, picks another sentiment and
a category, saves, and sees the corrected tags at once; the stored analysis changed with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.feedback import texts as survey_texts
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import TextAnalysis
from cxloop.text.store import service as text
from tests.factories import PASSWORD, make_customer, make_user, make_workspace, unique
from tests.helpers.text import LATE, definition

pytestmark = [pytest.mark.browser, pytest.mark.live]


@dataclass
class Setup:
    email: str
    survey_id: int
    analysis_id: int


@pytest.fixture
def tagged_response(database: Database) -> Setup:
    """Committed: a workspace with an agent (Korean UI) and one analysed unhappy comment."""
    with database.session() as session:
        workspace = make_workspace(session, name=unique("태그 가게 "))
        agent = make_user(session, workspace=workspace, role="agent", locale="ko")
        survey = survey_service.create_survey(
            session,
            workspace_id=workspace.id,
            key=unique("after-order-"),
            name="주문 후 설문",
            kind="nps",
            definition=definition(),
        )
        survey_service.set_status(session, survey=survey, status="live")
        customer = make_customer(session, workspace=workspace)
        response = response_service.submit_response(
            session, survey=survey, answers={"nps": 3, "comment": LATE}, customer_id=customer.id
        )
        session.flush()
        report = text.analyse_and_store(
            session,
            workspace_id=workspace.id,
            source_type=survey_texts.SOURCE,
            items=survey_texts.survey_texts.fetch(
                session, workspace_id=workspace.id, ids=[response.id]
            ),
        )
        return Setup(agent.email, survey.id, report.analysis_ids[0])


def test_an_agent_corrects_a_comments_sentiment_in_the_response_list(
    live_server: str, tagged_response: Setup, browser_page: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(tagged_response.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.goto(f"{live_server}/surveys/{tagged_response.survey_id}/responses")

    tags = page.locator(f"#text-{tagged_response.analysis_id}")
    sentiment = tags.locator("> .tt-sent")
    expect(sentiment).to_have_class("tt-chip tt-sent tt-negative")
    expect(sentiment).to_contain_text("부정")
    expect(tags.locator("> .tt-cat")).to_have_text(["분류: 배송"])
    form = tags.locator("form.tt-form")
    expect(form).to_be_hidden()

    tags.get_by_text("태그 수정").click()
    expect(form).to_be_visible()
    form.get_by_label("중립").check()
    form.get_by_label("가격").check()
    form.get_by_role("button", name="수정 저장").click()

    expect(page.locator(".flash.success")).to_have_text(
        "태그를 수정했습니다. 다음 재학습에 반영됩니다."
    )
    tags = page.locator(f"#text-{tagged_response.analysis_id}")
    expect(tags.locator("> .tt-sent")).to_have_class("tt-chip tt-sent tt-neutral tt-corrected")
    expect(tags.locator("> .tt-sent")).to_contain_text("중립")
    expect(tags.locator("> .tt-cat")).to_have_text(["분류: 배송", "분류: 가격"])
    assert page.url.endswith(f"#text-{tagged_response.analysis_id}")
    assert page.problems == []

    with database.session() as session:
        analysis = session.scalars(
            select(TextAnalysis).where(TextAnalysis.id == tagged_response.analysis_id)
        ).one()
        assert (analysis.sentiment, analysis.categories, analysis.corrected) == (
            "neutral",
            ["delivery", "price"],
            ["sentiment", "categories"],
        )
