"""REST API of surveys: create, edit (new versions), status, responses, import and scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath
from pydantic import BaseModel

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.feedback import service
from cxloop.feedback.definition import load_definition, thank_you_message
from cxloop.feedback.schemas import (
    CesOut,
    CsatOut,
    ImportIn,
    ImportOut,
    NpsOut,
    ResponseChannel,
    ResponseIn,
    ResponseOut,
    ResponsePage,
    StatusIn,
    SubmittedOut,
    SummaryOut,
    SurveyCreate,
    SurveyDetail,
    SurveyOut,
    SurveyPage,
    SurveyStatus,
    SurveyUpdate,
    ThankYouOut,
    VersionOut,
)
from cxloop.models import Survey

E = TypeVar("E", bound=BaseModel)
router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])

SurveyId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Survey id")]
VersionNumber = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Version number")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]
Score = Annotated[int | None, Query(ge=-1000, le=1000)]


def _load(session: DbSession, principal: Principal, survey_id: int) -> Survey:
    return service.get_survey(session, workspace_id=principal.workspace_id, survey_id=survey_id)


def _detail(session: DbSession, survey: Survey) -> SurveyDetail:
    return SurveyDetail(
        **SurveyOut.model_validate(survey).model_dump(),
        definition=service.current_definition(session, survey=survey),
    )


@router.get("", response_model=SurveyPage)
def list_surveys(
    principal: ApiPrincipal,
    session: DbSession,
    status: SurveyStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> SurveyPage:
    """The workspace's surveys, newest first, with cursor pagination."""
    require(principal, "surveys:read")
    rows, next_cursor = service.list_surveys(
        session, workspace_id=principal.workspace_id, status=status, cursor=cursor, limit=limit
    )
    return SurveyPage(items=[SurveyOut.model_validate(s) for s in rows], next_cursor=next_cursor)


@router.post("", response_model=SurveyDetail, status_code=status.HTTP_201_CREATED)
def create_survey(body: SurveyCreate, principal: ApiPrincipal, session: DbSession) -> SurveyDetail:
    """Create a draft survey; its definition becomes version 1."""
    require(principal, "surveys:write")
    survey = service.create_survey(
        session,
        workspace_id=principal.workspace_id,
        key=body.key,
        name=body.name,
        kind=body.kind,
        definition=body.definition,
        owner_team=body.owner_team,
        distribution=body.distribution,
    )
    return _detail(session, survey)


@router.get("/{survey_id}", response_model=SurveyDetail)
def get_survey(survey_id: SurveyId, principal: ApiPrincipal, session: DbSession) -> SurveyDetail:
    """One survey with its current definition."""
    require(principal, "surveys:read")
    return _detail(session, _load(session, principal, survey_id))


@router.patch("/{survey_id}", response_model=SurveyDetail)
def update_survey(
    survey_id: SurveyId, body: SurveyUpdate, principal: ApiPrincipal, session: DbSession
) -> SurveyDetail:
    """Rename or re-own a survey; a changed definition becomes a new version, and responses
    already collected keep the version they answered."""
    require(principal, "surveys:write")
    survey = _load(session, principal, survey_id)
    service.update_survey(
        session,
        survey=survey,
        name=body.name,
        owner_team=body.owner_team,
        definition=body.definition,
        distribution=body.distribution,
    )
    return _detail(session, survey)


@router.post("/{survey_id}/status", response_model=SurveyOut)
def set_status(
    survey_id: SurveyId, body: StatusIn, principal: ApiPrincipal, session: DbSession
) -> SurveyOut:
    """Put a survey live (it takes responses), close it, or take it back to draft."""
    require(principal, "surveys:write")
    survey = service.set_status(
        session,
        survey=_load(session, principal, survey_id),
        status=body.status,
        principal=principal,
    )
    return SurveyOut.model_validate(survey)


@router.get("/{survey_id}/versions/{number}", response_model=VersionOut)
def get_version(
    survey_id: SurveyId, number: VersionNumber, principal: ApiPrincipal, session: DbSession
) -> VersionOut:
    """One version of a survey's definition, as its respondents saw it."""
    require(principal, "surveys:read")
    version = service.get_version(
        session, survey=_load(session, principal, survey_id), number=number
    )
    return VersionOut(
        survey_id=version.survey_id,
        number=version.number,
        created_at=version.created_at,
        definition=load_definition(version.definition),
    )


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
    survey = _load(session, principal, survey_id)
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
    survey = _load(session, principal, survey_id)
    invitation = (
        service.find_invitation(session, survey=survey, token=body.invitation_token)
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
        service.get_version(session, survey=survey, number=response.version).definition
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
    survey = _load(session, principal, survey_id)
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
    survey = _load(session, principal, survey_id)
    result = service.score_summary(
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
