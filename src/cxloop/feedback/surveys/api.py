"""REST API of surveys: create, edit (new versions), status and versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.feedback.surveys import service
from cxloop.feedback.surveys.definition import load_definition
from cxloop.feedback.surveys.schemas import (
    StatusIn,
    SurveyCreate,
    SurveyDetail,
    SurveyOut,
    SurveyPage,
    SurveyStatus,
    SurveyUpdate,
    VersionOut,
)
from cxloop.models import Survey

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])

SurveyId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Survey id")]
VersionNumber = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Version number")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


def load_survey(session: DbSession, principal: Principal, survey_id: int) -> Survey:
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
    return _detail(session, load_survey(session, principal, survey_id))


@router.patch("/{survey_id}", response_model=SurveyDetail)
def update_survey(
    survey_id: SurveyId, body: SurveyUpdate, principal: ApiPrincipal, session: DbSession
) -> SurveyDetail:
    """Rename or re-own a survey; a changed definition becomes a new version, and responses
    already collected keep the version they answered."""
    require(principal, "surveys:write")
    survey = load_survey(session, principal, survey_id)
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
        survey=load_survey(session, principal, survey_id),
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
        session, survey=load_survey(session, principal, survey_id), number=number
    )
    return VersionOut(
        survey_id=version.survey_id,
        number=version.number,
        created_at=version.created_at,
        definition=load_definition(version.definition),
    )
