"""REST API of a survey's responses: list, submit and import them, and the score summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.responses import service
from cxloop.feedback.responses import summaries as response_summaries
from cxloop.feedback.responses.schemas import (
    CesOut,
    CsatOut,
    ImportIn,
    ImportOut,
    NpsOut,
    ResponseChannel,
    ResponseIn,
    ResponseOut,
    ResponsePage,
    SubmittedOut,
    SummaryOut,
    ThankYouOut,
)
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.surveys.api import Cursor, Limit, SurveyId, load_survey
from cxloop.feedback.surveys.definition import load_definition, thank_you_message

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


E = TypeVar("E", bound=BaseModel)
Score = Annotated[int | None, Query(ge=-1000, le=1000)]


@router.get("/{survey_id}/responses", response_model=ResponsePage)
def list_responses(
    survey_id: SurveyId,
    principal: ApiPrincipal,
    session: DbSession,
    completed: bool | None = None,
    metric: Annotated[
        str | None,
        Query(pattern="^(nps|csat|ces)$", description="Score that min/max filter; survey kind"),
    ] = None,
    score_min: Score = None,
    score_max: Score = None,
    since: datetime | None = None,
    until: datetime | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    channel: ResponseChannel | None = None,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ResponsePage:
    """The survey's responses, newest first, filterable, with cursor pagination."""
    require(principal, "responses:read")
    survey = load_survey(session, principal, survey_id)
    rows, next_cursor = service.list_responses(
        session,
        survey=survey,
        filters=service.ResponseFilter(
            completed=completed,
            metric=metric,
            score_min=score_min,
            score_max=score_max,
            since=since,
            until=until,
            customer_id=customer_id,
            channel=channel,
            version=version,
        ),
        cursor=cursor,
        limit=limit,
    )
    return ResponsePage(
        items=[ResponseOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post(
    "/{survey_id}/responses", response_model=SubmittedOut, status_code=status.HTTP_201_CREATED
)
def submit_response(
    survey_id: SurveyId, body: ResponseIn, principal: ApiPrincipal, session: DbSession
) -> SubmittedOut:
    """Record one response to a live survey (for a customer, or for an invitation token;
    a partial response to an invitation is continued by the next submission)."""
    require(principal, "responses:write")
    survey = load_survey(session, principal, survey_id)
    invitation = (
        invitation_links.find_invitation(session, survey=survey, token=body.invitation_token)
        if body.invitation_token
        else None
    )
    response = service.submit_response(
        session,
        survey=survey,
        answers=body.answers,
        locale=body.locale,
        customer_id=body.customer_id,
        invitation=invitation,
        channel=body.channel or ("api" if invitation is None else None),
        hidden=body.hidden,
        partial=body.partial,
        version=body.version,
    )
    definition = load_definition(
        survey_service.get_version(session, survey=survey, number=response.version).definition
    )
    outcome, message = thank_you_message(definition, response.answers, response.locale)
    return SubmittedOut(
        response=ResponseOut.model_validate(response),
        thank_you=ThankYouOut(outcome=outcome, message=message),
    )


@router.post("/{survey_id}/responses/import", response_model=ImportOut)
def import_responses(
    survey_id: SurveyId, body: ImportIn, principal: ApiPrincipal, session: DbSession
) -> ImportOut:
    """Import responses collected elsewhere; an external id already imported is skipped.
    One invalid row rejects the whole batch."""
    require(principal, "responses:write")
    survey = load_survey(session, principal, survey_id)
    result = service.import_responses(
        session,
        survey=survey,
        rows=[service.ImportRow(**row.model_dump()) for row in body.rows],
        source=body.source,
    )
    return ImportOut(
        created=len(result.created),
        duplicates=result.duplicates,
        unlinked=result.unlinked,
        ids=[r.id for r in result.created],
    )


def _estimate_out(model: type[E], estimate: Any, **extra: Any) -> E:
    """An API model of a score estimate: the interval fields every kind shares, and its own."""
    return model(
        n=estimate.n,
        estimate=estimate.estimate,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        confidence=estimate.confidence,
        too_few=estimate.too_few,
        **extra,
    )


@router.get("/{survey_id}/summary", response_model=SummaryOut)
def summary(
    survey_id: SurveyId,
    principal: ApiPrincipal,
    session: DbSession,
    since: datetime | None = None,
    until: datetime | None = None,
    min_n: Annotated[int, Query(ge=1, le=100_000)] = 30,
) -> SummaryOut:
    """NPS, CSAT and CES of the completed responses in [since, until), with 95% intervals;
    ``too_few`` warns when a score rests on fewer than ``min_n`` answers."""
    require(principal, "responses:read")
    survey = load_survey(session, principal, survey_id)
    result = response_summaries.score_summary(
        session,
        workspace_id=principal.workspace_id,
        survey_id=survey.id,
        since=since,
        until=until,
        min_n=min_n,
    )
    nps = (
        _estimate_out(
            NpsOut,
            result.nps,
            promoters=result.nps.promoters,
            passives=result.nps.passives,
            detractors=result.nps.detractors,
        )
        if result.nps
        else None
    )
    csat = (
        _estimate_out(CsatOut, result.csat, satisfied=result.csat.successes)
        if result.csat
        else None
    )
    ces = _estimate_out(CesOut, result.ces, std=result.ces.std) if result.ces else None
    scores = [s for s in (nps, csat, ces) if s is not None]
    return SummaryOut(
        survey_id=survey.id,
        responses=result.responses,
        since=since,
        until=until,
        nps=nps,
        csat=csat,
        ces=ces,
        too_few=not scores or any(s.too_few for s in scores),
    )
