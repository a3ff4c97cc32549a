"""A survey's response list: its answers and verbatims, filtered and paged."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.surveys.definition import load_definition
from cxloop.feedback.texts import SOURCE as SURVEY_TEXTS
from cxloop.models import Survey
from cxloop.profiles.service import customers_by_ids
from cxloop.web.feedback.surveys.shared import _load
from cxloop.web.rendering import render, zone
from cxloop.web.session import Page, WebContext, verify_csrf
from cxloop.web.text.admin import text_tags

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

RESPONSES_PAGE = 30


# --- responses ---------------------------------------------------------------------------------


def _score(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,4}", text) else None


def _day(text: str) -> datetime | None:
    """A YYYY-MM-DD filter day; None when it is not one or lies outside 1970–2999 (a day
    at the calendar's end would overflow the day after it)."""
    try:
        day = datetime.strptime(text.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return None
    return day if 1970 <= day.year <= 2999 else None


@router.get("/surveys/{survey_id:int}/responses")
def responses(
    page: Page,
    survey_id: int,
    metric: str = "",
    score_min: str = "",
    score_max: str = "",
    state: str = "",
    comment: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
    cursor: str = "",
) -> Response:
    """The survey's answers, newest first, with their verbatims, filtered and paged."""
    require(page.principal, "responses:read")
    survey = _load(page, survey_id)
    metric = (
        survey.kind
        if survey.kind in ("nps", "csat", "ces")
        else (metric if metric in ("nps", "csat", "ces") else "nps")
    )
    tz = zone(page.workspace.timezone)
    since_day, until_day = _day(since), _day(until)
    q = q.strip()[:200]
    filters = response_service.ResponseFilter(
        completed={"completed": True, "partial": False}.get(state),
        metric=metric,
        score_min=_score(score_min),
        score_max=_score(score_max),
        since=datetime.combine(since_day.date(), time(0), tzinfo=tz) if since_day else None,
        until=(
            datetime.combine(until_day.date() + timedelta(days=1), time(0), tzinfo=tz)
            if until_day
            else None
        ),
        has_comment={"yes": True, "no": False}.get(comment),
        text=q or None,
    )
    rows, next_cursor = response_service.list_responses(
        page.db, survey=survey, filters=filters, cursor=cursor[:500] or None, limit=RESPONSES_PAGE
    )
    filtered = any((score_min, score_max, state, comment, since, until, q))
    question_labels, option_labels = _answer_labels(page, survey)
    return render(
        page.request,
        "feedback/survey_responses.html",
        page=page,
        section="surveys",
        survey=survey,
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        metric=metric,
        score_min=score_min[:5],
        score_max=score_max[:5],
        state=state if state in ("completed", "partial") else "",
        comment=comment if comment in ("yes", "no") else "",
        since=since_day.strftime("%Y-%m-%d") if since_day else "",
        until=until_day.strftime("%Y-%m-%d") if until_day else "",
        q=q,
        filtered=filtered,
        outcome=score_outcome,
        definition_questions=question_labels,
        option_labels=option_labels,
        tags=text_tags(page, source_type=SURVEY_TEXTS, source_ids=[r.id for r in rows]),
        customers=customers_by_ids(
            page.db, workspace_id=page.workspace.id, ids=[r.customer_id for r in rows]
        ),
    )


def score_outcome(kind: str, value: int | None) -> str:
    """promoter, passive or detractor for a headline score (its chip's colour)."""
    if value is None:
        return ""
    low, high = {"nps": (6, 8), "csat": (2, 3), "ces": (3, 4)}[kind]
    return "detractor" if value <= low else "passive" if value <= high else "promoter"


def _answer_labels(
    page: WebContext, survey: Survey
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """In the user's language (current version; older ids fall back): question id → its text,
    and (question id, option id) → the option's label, so a choice answer reads as what the
    respondent picked."""
    definition = load_definition(survey_service.get_version(page.db, survey=survey).definition)
    ko = page.locale == "ko"
    questions = {q.id: (q.text.ko if ko else q.text.en) for q in definition.questions}
    options = {
        (q.id, o.id): (o.label.ko if ko else o.label.en)
        for q in definition.questions
        for o in q.options or []
    }
    return questions, options
