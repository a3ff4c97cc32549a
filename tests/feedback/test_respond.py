"""The respondent pages through HTTP: a customer's personal link (opened, partial then complete,
used, expired, unknown), field-level 422s in Korean and English, the public link with its
double-submit guard, the signed form token, and the headers of the framed variant."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Event, FollowUp, Invitation, Response
from tests.factories import Tenant
from tests.helpers.respondent import form_token, invite, live_survey, text_of


def response_of(session: Session, invitation: Invitation) -> Response | None:
    session.expire_all()
    return session.scalar(select(Response).where(Response.invitation_id == invitation.id))


# --- the personal link -------------------------------------------------------------------------


def test_opening_the_link_shows_the_survey_in_the_customers_language_and_marks_it_opened(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey, locale="en-US")

    page = client.get(f"/s/{token}", headers={"Accept-Language": "ko"})

    assert page.status_code == 200
    body = text_of(page.text)
    assert "Would you recommend us?" in body  # the customer's locale beats the browser's
    assert "Not at all likely" in body and "Extremely likely" in body
    assert 'name="q.nps" value="10"' in page.text and 'name="q.nps" value="0"' in page.text
    # the branch question carries its condition for the page's script
    assert 'data-show-if="{&#34;question&#34;: &#34;nps&#34;' in page.text
    assert 'maxlength="30"' in page.text
    session.refresh(invitation)
    assert invitation.status == "opened"
    # the team's session cookie is not set on a customer's page
    assert "set-cookie" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("query", "accept", "locale", "expected"),
    [
        ("?lang=en", "ko", "ko-KR", "Would you recommend us?"),
        ("?lang=ko", "en", "en", "친구에게 추천하시겠어요?"),
        ("", "en-US,en;q=0.9", None, "Would you recommend us?"),
        ("", "", None, "친구에게 추천하시겠어요?"),
        ("?lang=fr", "fr", None, "친구에게 추천하시겠어요?"),
    ],
    ids=["query-en", "query-ko", "browser-en", "default-ko", "unknown-lang-ko"],
)
def test_the_language_is_the_query_then_the_customer_then_the_browser(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    query: str,
    accept: str,
    locale: str | None,
    expected: str,
) -> None:
    survey = live_survey(session, tenant)
    _invitation, token = invite(session, tenant, survey, locale=locale)
    page = client.get(f"/s/{token}{query}", headers={"Accept-Language": accept})
    assert expected in text_of(page.text)


def test_a_score_is_kept_at_once_then_the_submit_completes_the_same_response(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}?lang=ko").text)

    # the page's script posts the NPS answer as soon as it is clicked
    saved = client.post(
        f"/s/{token}",
        data={"form_token": token_field, "lang": "ko", "q.nps": "3", "partial": "1"},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"saved": True, "answers": ["nps"]}
    partial = response_of(session, invitation)
    assert partial is not None
    assert (partial.completed, partial.nps, partial.answers) == (False, 3, {"nps": 3})
    assert session.scalar(select(FollowUp).where(FollowUp.response_id == partial.id)) is None

    # coming back, the page shows the kept score
    again = client.get(f"/s/{token}?lang=ko")
    assert 'value="3" checked' in again.text

    done = client.post(
        f"/s/{token}",
        data={
            "form_token": form_token(again.text),
            "lang": "ko",
            "q.nps": "3",
            "q.why_low": "  배송이 너무 늦었어요  ",
            "q.liked": ["staff", "speed"],
        },
    )
    assert done.status_code == 200, done.text
    assert "불편을 드려 죄송합니다." in text_of(done.text)  # the detractor's thank-you

    response = response_of(session, invitation)
    assert response is not None and response.id == partial.id
    assert response.completed is True
    assert response.answers == {
        "nps": 3,
        "why_low": "배송이 너무 늦었어요",
        "liked": ["speed", "staff"],
    }
    assert response.comment == "배송이 너무 늦었어요"
    assert response.hidden == {"order_id": "O-7"}
    assert (response.channel, response.locale, response.customer_id) == (
        "email",
        "ko",
        invitation.customer_id,
    )
    session.refresh(invitation)
    assert invitation.status == "answered"
    # an unhappy answer opens a follow-up, and the answer joins the customer's timeline
    assert session.scalar(select(FollowUp).where(FollowUp.response_id == response.id))
    timeline = session.scalars(
        select(Event).where(
            Event.workspace_id == tenant.id, Event.customer_id == invitation.customer_id
        )
    ).all()
    assert [e.name for e in timeline if e.name == "Survey Answered"] == ["Survey Answered"]


def test_answers_of_a_hidden_branch_are_dropped_by_the_server(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}").text)
    done = client.post(
        f"/s/{token}",
        data={"form_token": token_field, "q.nps": "10", "q.why_low": "stale text from a branch"},
    )
    assert done.status_code == 200
    assert "추천 감사합니다!" in done.text
    response = response_of(session, invitation)
    assert response is not None and response.answers == {"nps": 10}


@pytest.mark.parametrize(
    ("lang", "data", "expected"),
    [
        ("ko", {}, {"nps": "답변해 주세요."}),
        ("en", {}, {"nps": "Please answer this question."}),
        ("en", {"q.nps": "11"}, {"nps": "Choose a score from 0 to 10."}),
        ("ko", {"q.nps": "abc"}, {"nps": "점수를 골라 주세요."}),
        ("ko", {"q.nps": "2"}, {"why_low": "답변해 주세요."}),
        (
            "en",
            {"q.nps": "2", "q.why_low": "가" * 31},
            {"why_low": "Please keep it to 30 characters (now 31)."},
        ),
        ("ko", {"q.nps": "9", "q.liked": "nope"}, {"liked": "제시된 항목 중에서 골라 주세요."}),
    ],
    ids=["missing-ko", "missing-en", "range", "garbage", "branch-required", "too-long", "option"],
)
def test_invalid_answers_get_field_messages_in_the_pages_language(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    lang: str,
    data: dict[str, str],
    expected: dict[str, str],
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}?lang={lang}").text)

    reply = client.post(f"/s/{token}", data={"form_token": token_field, "lang": lang, **data})

    assert reply.status_code == 422
    for qid, message in expected.items():
        block = re.search(rf'<fieldset[^>]*id="q-{qid}".*?</fieldset>', reply.text, flags=re.DOTALL)
        assert block, qid
        assert 'aria-invalid="true"' in block.group(0)
        assert message in html.unescape(block.group(0))
    response = response_of(session, invitation)
    assert response is None or response.completed is False


def test_a_refused_submit_keeps_the_valid_answers_as_partial(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}").text)
    reply = client.post(f"/s/{token}", data={"form_token": token_field, "q.nps": "4"})
    assert reply.status_code == 422
    assert 'value="4" checked' in reply.text  # the answer stays on the page
    kept = response_of(session, invitation)
    assert kept is not None and (kept.completed, kept.answers) == (False, {"nps": 4})


@pytest.mark.parametrize(
    "data",
    [
        {"q.no_such_question": "1", "q.nps": "5"},
        {"q.nps": "9" * 5000},
        {"q.nps": "10", "h.order_id": "forged"},
        {"q.nps": "\x00"},
        {"q.liked": ["speed"] * 400, "q.nps": "8"},
    ],
    ids=["unknown-question", "huge-number", "undeclared-hidden", "nul", "many-values"],
)
def test_garbage_is_a_page_never_a_500(
    client: TestClient, session: Session, tenant: Tenant, data: dict[str, Any]
) -> None:
    survey = live_survey(session, tenant)
    _invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}").text)
    reply = client.post(f"/s/{token}", data={"form_token": token_field, **data})
    assert reply.status_code in (200, 422), reply.text
    assert reply.headers["content-type"].startswith("text/html")


def test_a_huge_form_is_refused_with_413(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    _invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}").text)
    reply = client.post(
        f"/s/{token}", data={"form_token": token_field, "q.nps": "5", "q.why_low": "x" * 300_000}
    )
    assert reply.status_code == 413
    assert "응답이 너무 깁니다" in reply.text


def test_a_used_link_says_thank_you_and_takes_no_second_answer(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    token_field = form_token(client.get(f"/s/{token}").text)
    first = client.post(f"/s/{token}", data={"form_token": token_field, "q.nps": "9"})
    assert first.status_code == 200

    page = client.get(f"/s/{token}?lang=en")
    assert page.status_code == 200
    assert "You have already answered" in text_of(page.text)
    assert "form_token" not in page.text

    second = client.post(f"/s/{token}", data={"form_token": token_field, "q.nps": "0"})
    assert second.status_code == 409
    assert "이미 응답하신 설문입니다" in text_of(second.text)
    response = response_of(session, invitation)
    assert response is not None and response.nps == 9


def test_an_expired_link_is_a_closed_page_410(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey, expires_in=timedelta(seconds=-1))
    page = client.get(f"/s/{token}")
    assert page.status_code == 410
    assert "종료된 설문입니다" in text_of(page.text)
    assert "응답 기간이 지나" in text_of(page.text)
    posted = client.post(f"/s/{token}", data={"q.nps": "5"})
    assert posted.status_code == 410
    session.refresh(invitation)
    assert invitation.status == "sent"  # an expired link is not "opened"
    assert response_of(session, invitation) is None


def test_a_closed_survey_is_a_closed_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    _invitation, token = invite(session, tenant, survey)
    survey_service.set_status(session, survey=survey, status="closed")
    session.flush()
    page = client.get(f"/s/{token}?lang=en")
    assert page.status_code == 410
    assert "This survey no longer takes answers" in text_of(page.text)


@pytest.mark.parametrize(
    "token", ["unknown-token-123456", "short", "x" * 300, "bad$chars!!~~"], ids=str
)
def test_an_unknown_link_is_a_404_page(client: TestClient, token: str) -> None:
    page = client.get(f"/s/{token}", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert "Survey not found" in text_of(page.text)
    assert client.post(f"/s/{token}", data={"q.nps": "1"}).status_code == 404


def test_a_submit_without_a_valid_form_token_is_refused_and_keeps_the_answers(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    invitation, token = invite(session, tenant, survey)
    other_survey_token = form_token(
        client.get(f"/s/{invite(session, tenant, survey)[1]}").text
    )  # signed, but for another invitation

    for sent in ({}, {"form_token": "forged"}, {"form_token": other_survey_token}):
        reply = client.post(f"/s/{token}", data={**sent, "q.nps": "7", "lang": "en"})
        assert reply.status_code == 403
        assert "This page had expired" in text_of(reply.text)
        assert 'value="7" checked' in reply.text
        assert form_token(reply.text)  # a fresh token to submit again with
    partial = client.post(f"/s/{token}", data={"q.nps": "7", "partial": "1"})
    assert partial.status_code == 403
    assert response_of(session, invitation) is None


def test_the_embedded_variant_may_be_framed_and_has_no_chrome(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant)
    _invitation, token = invite(session, tenant, survey)

    page = client.get(f"/s/{token}?embed=1")

    assert page.status_code == 200
    assert "x-frame-options" not in page.headers
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert 'class="respondent embed"' in page.text
    assert "r-foot" not in page.text
    assert f'action="/s/{token}?embed=1"' in page.text
    done = client.post(
        f"/s/{token}?embed=1", data={"form_token": form_token(page.text), "q.nps": "10"}
    )
    assert "frame-ancestors *" in done.headers["content-security-policy"]
    assert "추천 감사합니다!" in done.text
    # the full page may not be framed
    assert "frame-ancestors 'none'" in client.get(f"/s/{token}").headers["content-security-policy"]


# --- the public link ---------------------------------------------------------------------------


def test_the_public_link_takes_one_anonymous_response_per_submitted_form(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"

    page = client.get(f"{url}?touchpoint=store&order_id=O-9&unknown=x&lang=en")
    assert page.status_code == 200
    assert "Would you recommend us?" in text_of(page.text)
    assert 'name="h.touchpoint" value="store"' in page.text
    assert "unknown" not in page.text.split("<main")[1]
    token_field = form_token(page.text)
    data = {"form_token": token_field, "lang": "en", "q.nps": "8", "h.touchpoint": "store"}

    first = client.post(url, data=data)
    again = client.post(url, data=data)  # a double click, or a reload of the result

    assert first.status_code == again.status_code == 200
    assert "Thank you" in text_of(first.text)
    rows = session.scalars(select(Response).where(Response.survey_id == survey.id)).all()
    assert len(rows) == 1
    (response,) = rows
    assert (response.channel, response.customer_id, response.completed) == ("link", None, True)
    assert (response.nps, response.touchpoint, response.locale) == (8, "store", "en")

    # a new visit is a new form, and so a new response
    second_visit = form_token(client.get(url).text)
    assert client.post(url, data={**data, "form_token": second_visit}).status_code == 200
    assert len(session.scalars(select(Response).where(Response.survey_id == survey.id)).all()) == 2


def test_the_public_link_refuses_bad_tokens_and_bad_answers(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"
    assert client.post(url, data={"q.nps": "8"}).status_code == 403
    token_field = form_token(client.get(url).text)
    bad = client.post(url, data={"form_token": token_field, "q.nps": "99", "lang": "en"})
    assert bad.status_code == 422
    assert "Choose a score from 0 to 10." in text_of(bad.text)
    assert session.scalars(select(Response).where(Response.survey_id == survey.id)).all() == []


def test_a_survey_without_a_public_link_or_not_live_has_none(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    private = live_survey(session, tenant, public_link=False)
    assert client.get(f"/p/{tenant.workspace.slug}/{private.key}").status_code == 404
    assert client.get(f"/p/{tenant.workspace.slug}/nope").status_code == 404
    assert client.get(f"/p/no-such-workspace/{private.key}").status_code == 404
    public = live_survey(session, tenant, public_link=True)
    survey_service.set_status(session, survey=public, status="closed")
    session.flush()
    closed = client.get(f"/p/{tenant.workspace.slug}/{public.key}")
    assert closed.status_code == 410
