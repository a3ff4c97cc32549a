"""REST of the stored analyses: list a workspace's analysed texts, read one with its corrections,
correct its sentiment or categories."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.timeutil import as_utc
from cxloop.models import TextAnalysis, TextCorrection
from cxloop.text.store import service
from cxloop.text.store.schemas import (
    CorrectedAnalysisOut,
    CorrectionIn,
    CorrectionOut,
    Sentiment,
    StoredAnalysisOut,
    StoredAnalysisPage,
)

router = APIRouter(prefix="/api/v1/text", tags=["text"])

AnalysisId = Annotated[int, FastPath(ge=1, le=2**53, description="Analysis id")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _analysis_out(analysis: TextAnalysis) -> StoredAnalysisOut:
    return StoredAnalysisOut.model_validate(
        {name: getattr(analysis, name) for name in StoredAnalysisOut.model_fields}
    )


def _correction_out(correction: TextCorrection) -> CorrectionOut:
    return CorrectionOut.model_validate(
        {name: getattr(correction, name) for name in CorrectionOut.model_fields}
    )


@router.get("/analyses", response_model=StoredAnalysisPage)
def list_analyses(
    principal: ApiPrincipal,
    session: DbSession,
    source_type: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    sentiment: Sentiment | None = None,
    lang: Annotated[str | None, Query(pattern="^(ko|en|other)$")] = None,
    since: Annotated[datetime | None, Query(description="Written at or after")] = None,
    until: Annotated[datetime | None, Query(description="Written before")] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> StoredAnalysisPage:
    """The workspace's analysed texts, newest first, with filters and cursor pagination."""
    require(principal, "text:read")
    rows, next_cursor = service.list_analyses(
        session,
        workspace_id=principal.workspace_id,
        filters=service.AnalysisFilter(
            source_type=source_type,
            category=category,
            sentiment=sentiment,
            lang=lang,
            since=as_utc(since) if since else None,
            until=as_utc(until) if until else None,
            customer_id=customer_id,
        ),
        cursor=cursor,
        limit=limit,
    )
    return StoredAnalysisPage(items=[_analysis_out(a) for a in rows], next_cursor=next_cursor)


@router.get("/analyses/{analysis_id}", response_model=CorrectedAnalysisOut)
def get_analysis(
    analysis_id: AnalysisId, principal: ApiPrincipal, session: DbSession
) -> CorrectedAnalysisOut:
    """One analysis and the corrections made to it."""
    require(principal, "text:read")
    analysis = service.get_analysis(
        session, workspace_id=principal.workspace_id, analysis_id=analysis_id
    )
    return CorrectedAnalysisOut(
        analysis=_analysis_out(analysis),
        corrections=[
            _correction_out(c) for c in service.corrections_of(session, analysis=analysis)
        ],
    )


@router.post(
    "/analyses/{analysis_id}/corrections", response_model=CorrectedAnalysisOut, status_code=201
)
def correct_analysis(
    analysis_id: AnalysisId, body: CorrectionIn, principal: ApiPrincipal, session: DbSession
) -> CorrectedAnalysisOut:
    """Correct an analysis's sentiment and/or categories (keys of the workspace taxonomy). The
    corrected values are shown from now on and teach the next retrained model."""
    require(principal, "text:correct")
    analysis = service.get_analysis(
        session, workspace_id=principal.workspace_id, analysis_id=analysis_id
    )
    service.correct(
        session,
        analysis=analysis,
        user_id=principal.user_id,
        actor=principal.label,
        sentiment=body.sentiment,
        categories=body.categories,
        principal=principal,
    )
    return CorrectedAnalysisOut(
        analysis=_analysis_out(analysis),
        corrections=[
            _correction_out(c) for c in service.corrections_of(session, analysis=analysis)
        ],
    )
