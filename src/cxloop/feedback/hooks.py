"""Survey answers follow their customer: moved on a merge, included in a data-subject export,
and stripped of what names the person on erasure (the scores stay for the statistics)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.feedback.surveys.definition import load_definition
from cxloop.models import (
    Customer,
    FollowUp,
    ImprovementLink,
    Invitation,
    Response,
    SurveyVersion,
)
from cxloop.profiles import identity


def move_feedback_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    return identity.move_customer_rows(
        session,
        (Response, Invitation, FollowUp, ImprovementLink),
        workspace_id,
        survivor_id,
        merged_id,
    )


def _responses(session: Session, customer: Customer) -> list[Response]:
    return list(
        session.scalars(
            select(Response)
            .where(
                Response.workspace_id == customer.workspace_id, Response.customer_id == customer.id
            )
            .order_by(Response.submitted_at, Response.id)
        )
    )


def export_feedback(session: Session, customer: Customer) -> dict[str, Any]:
    return {
        "survey_responses": [
            {
                "survey_id": r.survey_id,
                "version": r.version,
                "channel": r.channel,
                "touchpoint": r.touchpoint,
                "locale": r.locale,
                "answers": r.answers,
                "hidden": r.hidden,
                "comment": r.comment,
                "completed": r.completed,
                "submitted_at": r.submitted_at,
            }
            for r in _responses(session, customer)
        ]
    }


def scrub_feedback(session: Session, customer: Customer) -> dict[str, int]:
    """Keep each response's scores and choices; drop its free text and hidden fields."""
    # Per survey version, the ids of its open-text questions (None: version unknown, so every
    # text answer goes).
    text_questions: dict[tuple[int, int], set[str] | None] = {}
    responses = _responses(session, customer)
    for response in responses:
        key = (response.survey_id, response.version)
        if key not in text_questions:
            version = session.scalar(
                select(SurveyVersion).where(
                    SurveyVersion.workspace_id == customer.workspace_id,
                    SurveyVersion.survey_id == response.survey_id,
                    SurveyVersion.number == response.version,
                )
            )
            text_questions[key] = (
                {q.id for q in load_definition(version.definition).questions if q.type == "text"}
                if version is not None
                else None
            )
        texts = text_questions[key]
        response.answers = {
            k: v
            for k, v in (response.answers or {}).items()
            if (k not in texts if texts is not None else not isinstance(v, str))
        }
        response.comment = None
        response.hidden = {}
    return {"survey_responses_scrubbed": len(responses)}
