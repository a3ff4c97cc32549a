"""The respondent's side of a survey for the survey-page tests: a definition with a branch, a live
survey, a personal invitation, the form's token and a page's text."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Invitation, Survey
from tests.factories import Tenant, make_customer, unique

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def respondent_definition() -> dict[str, Any]:
    """NPS, a reason asked of detractors only, a choice, a short comment, a hidden order id."""
    return {
        "questions": [
            {
                "id": "nps",
                "type": "nps",
                "required": True,
                "text": {"ko": "친구에게 추천하시겠어요?", "en": "Would you recommend us?"},
            },
            {
                "id": "why_low",
                "type": "text",
                "required": True,
                "max_length": 30,
                "text": {"ko": "무엇이 아쉬웠나요?", "en": "What went wrong?"},
                "show_if": {"question": "nps", "op": "<=", "value": 6},
            },
            {
                "id": "liked",
                "type": "multiple",
                "text": {"ko": "좋았던 점", "en": "What did you like?"},
                "options": [
                    {"id": "speed", "label": {"ko": "빠른 배송", "en": "Fast delivery"}},
                    {"id": "staff", "label": {"ko": "친절한 상담", "en": "Kind staff"}},
                ],
            },
        ],
        "hidden_fields": ["order_id", "touchpoint"],
        "thank_you": {
            "promoter": {"ko": "추천 감사합니다!", "en": "Thanks for the love!"},
            "detractor": {"ko": "불편을 드려 죄송합니다.", "en": "Sorry, we will do better."},
        },
    }


def live_survey(
    session: Session, tenant: Tenant, *, public_link: bool = False, key: str | None = None
) -> Survey:
    survey = survey_service.create_survey(
        session,
        workspace_id=tenant.id,
        key=key or unique("s-"),
        name="구매 후 설문",
        kind="nps",
        definition=respondent_definition(),
        distribution={"channels": ["link"], "public_link": public_link},
    )
    survey_service.set_status(session, survey=survey, status="live")
    session.flush()
    return survey


def invite(
    session: Session,
    tenant: Tenant,
    survey: Survey,
    *,
    locale: str | None = None,
    expires_in: timedelta = timedelta(days=14),
    status: str = "sent",
) -> tuple[Invitation, str]:
    token = unique("tok-") + "-abcdefgh"
    customer = make_customer(session, workspace=tenant.workspace)
    customer.locale = locale
    invitation = Invitation(
        workspace_id=tenant.id,
        survey_id=survey.id,
        customer_id=customer.id,
        token_hash=invitation_links.hash_token(token),
        channel="email",
        status=status,
        hidden={"order_id": "O-7"},
        send_at=utcnow(),
        expires_at=utcnow() + expires_in,
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def form_token(page_html: str) -> str:
    match = FORM_TOKEN.search(page_html)
    assert match, page_html[:500]
    return html.unescape(match.group(1))


def text_of(page_html: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_html)))
