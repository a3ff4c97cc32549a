"""Survey answers with known scores in March 2025 (Seoul) for the dashboard tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cxloop.feedback.surveys import service as survey_service
from cxloop.models import (
    Customer,
    Invitation,
    Response,
    Survey,
    Workspace,
)
from tests.factories import unique

KST_OFFSET = timedelta(hours=9)

# The period of the tests: March 2025 in Seoul.
START = datetime(2025, 3, 1, tzinfo=UTC) - KST_OFFSET
END = datetime(2025, 4, 1, tzinfo=UTC) - KST_OFFSET
IN_MARCH = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
IN_FEBRUARY = datetime(2025, 2, 10, 3, 0, tzinfo=UTC)

# Ten answers, each with all three scores.
NPS = [10, 10, 9, 9, 9, 8, 7, 6, 3, 0]  # 5 promoters, 2 passives, 3 detractors
CSAT = [5, 5, 4, 4, 4, 3, 2, 1, 5, 4]  # 7 of 10 satisfied
CES = [7, 6, 5, 5, 4, 3, 2, 7, 6, 5]  # mean 5, squared deviations sum to 24

RATING = {"ko": "평가", "en": "Rating"}


def definition(*, ratings: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "questions": [
            {"id": "nps", "type": "nps", "required": True, "text": RATING},
            {"id": "csat", "type": "csat", "text": RATING},
            {"id": "ces", "type": "ces", "text": RATING},
            *[
                {"id": r, "type": "rating", "min": 1, "max": 5, "text": {"ko": r, "en": r}}
                for r in ratings
            ],
        ],
        "hidden_fields": ["order_id", "product_id", "touchpoint"],
    }


def make_survey(
    session: Session, workspace: Workspace, *, name: str = "구매 후 설문", **kw: Any
) -> Survey:
    survey = survey_service.create_survey(
        session,
        workspace_id=workspace.id,
        key=unique("s"),
        name=name,
        kind="nps",
        definition=definition(**kw),
    )
    survey.status = "live"
    return survey


def answer(
    session: Session,
    survey: Survey,
    *,
    at: datetime = IN_MARCH,
    nps: int | None = None,
    csat: int | None = None,
    ces: int | None = None,
    touchpoint: str | None = None,
    channel: str = "link",
    customer: Customer | None = None,
    completed: bool = True,
    hidden: dict[str, Any] | None = None,
    answers: dict[str, Any] | None = None,
    invitation: Invitation | None = None,
) -> Response:
    row = Response(
        workspace_id=survey.workspace_id,
        survey_id=survey.id,
        version=1,
        invitation_id=invitation.id if invitation else None,
        customer_id=customer.id if customer else None,
        channel=channel,
        touchpoint=touchpoint,
        answers={"nps": nps, **(answers or {})},
        hidden=hidden or {},
        nps=nps,
        csat=csat,
        ces=ces,
        completed=completed,
        started_at=at,
        submitted_at=at,
    )
    session.add(row)
    session.flush()
    return row


def ten_answers(session: Session, survey: Survey, at: datetime = IN_MARCH) -> None:
    for i, (n, c, e) in enumerate(zip(NPS, CSAT, CES, strict=True)):
        answer(session, survey, at=at + timedelta(hours=i), nps=n, csat=c, ces=e)
