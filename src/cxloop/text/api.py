"""REST of the text domain: analyse texts on demand (``POST /api/v1/text/analyze``); the
workspace's stored analyses and their corrections; its taxonomy; its models (list, retrain,
activate)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession, SessionlessApiPrincipal
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.timeutil import as_utc
from cxloop.models import TextAnalysis, TextCategory, TextCorrection, TextModelRun
from cxloop.text import service, tasks
from cxloop.text.pipeline import Analysis, Analyzer, default_analyzer
from cxloop.text.schemas import (
    AnalysisOut,
    AnalyzeIn,
    AnalyzeOut,
    CategoryIn,
    CategoryOut,
    CategoryPage,
    CategoryUpdate,
    CorrectedAnalysisOut,
    CorrectionIn,
    CorrectionOut,
    ModelRunOut,
    ModelRunPage,
    Sentiment,
    StoredAnalysisOut,
    StoredAnalysisPage,
    TextIn,
)

router = APIRouter(prefix="/api/v1/text", tags=["text"])


def analysis_out(analysis: Analysis) -> dict[str, Any]:
    """The public fields of an analysis (tokens stay internal)."""
    data = analysis.as_dict()
    data.pop("tokens", None)
    return data


def _workspace_analyzer(database: Database, workspace_id: int) -> Analyzer:
    # Only reads, and the request holds no other session: it waits for no lock, takes none.
    with database.read_session() as session:
        return service.analyzer_in_use(session, workspace_id=workspace_id)


@router.post("/analyze", response_model=AnalyzeOut)
async def analyze(
    body: AnalyzeIn, principal: SessionlessApiPrincipal, request: Request
) -> AnalyzeOut:
    """Language, sentiment with its score, categories, aspects per clause and keywords of one
    text (``text``) or of up to 100 (``texts``), with the shipped Korean/English model or, with
    ``"model": "workspace"``, the workspace's active model and taxonomy. Writes nothing: the
    analysis holds no transaction open while it works."""
    require(principal, "text:analyze")
    if (body.text is None) == (body.texts is None):
        raise ValidationFailed(
            "Send either 'text' or 'texts'.",
            errors=[{"field": "text", "message": "give exactly one of text and texts"}],
        )
    items = (
        [TextIn(text=body.text or "", lang=body.lang)]
        if body.texts is None
        else [t if isinstance(t, TextIn) else TextIn(text=t) for t in body.texts]
    )
    analyzer = (
        default_analyzer()
        if body.model == "shipped"
        else await run_in_threadpool(
            _workspace_analyzer, database_of(request), principal.workspace_id
        )
    )
    # The analysis is CPU work: off the event loop, like any other blocking call.
    results = await run_in_threadpool(
        analyzer.analyze_many, [i.text for i in items], [i.lang for i in items]
    )
    return AnalyzeOut(items=[AnalysisOut.model_validate(analysis_out(r)) for r in results])


# --- stored analyses -----------------------------------------------------------------------------

AnalysisId = Annotated[int, FastPath(ge=1, le=2**53, description="Analysis id")]
RunId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Model run id")]
CategoryKeyPath = Annotated[str, FastPath(min_length=1, max_length=64, description="Category key")]
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


# --- taxonomy ------------------------------------------------------------------------------------


def _category_out(category: TextCategory) -> CategoryOut:
    return CategoryOut.model_validate(
        {name: getattr(category, name) for name in CategoryOut.model_fields}
    )


@router.get("/categories", response_model=CategoryPage)
def list_categories(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 50
) -> CategoryPage:
    """The workspace's taxonomy (seeded from the default one on first use), inactive ones too."""
    require(principal, "text:read")
    rows, next_cursor = service.list_categories(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    return CategoryPage(items=[_category_out(c) for c in rows], next_cursor=next_cursor)


@router.post("/categories", response_model=CategoryOut, status_code=201)
def create_category(body: CategoryIn, principal: ApiPrincipal, session: DbSession) -> CategoryOut:
    """Add a category with its Korean and English names and keyword seeds."""
    require(principal, "text:manage")
    return _category_out(
        service.create_category(
            session,
            workspace_id=principal.workspace_id,
            key=body.key,
            name_ko=body.name_ko,
            name_en=body.name_en,
            seeds_ko=body.seeds_ko,
            seeds_en=body.seeds_en,
            principal=principal,
        )
    )


@router.patch("/categories/{key}", response_model=CategoryOut)
def update_category(
    key: CategoryKeyPath, body: CategoryUpdate, principal: ApiPrincipal, session: DbSession
) -> CategoryOut:
    """Rename a category, change its seeds or switch it off (new analyses then leave it out)."""
    require(principal, "text:manage")
    category = service.get_category(session, workspace_id=principal.workspace_id, key=key)
    return _category_out(
        service.update_category(
            session,
            category=category,
            name_ko=body.name_ko,
            name_en=body.name_en,
            seeds_ko=body.seeds_ko,
            seeds_en=body.seeds_en,
            active=body.active,
            principal=principal,
        )
    )


# --- models --------------------------------------------------------------------------------------


def _run_out(session: Session, principal: Principal, run: TextModelRun) -> ModelRunOut:
    data = {name: getattr(run, name, None) for name in ModelRunOut.model_fields}
    data["in_use"] = service.is_in_use(session, workspace_id=principal.workspace_id, run=run)
    return ModelRunOut.model_validate(data)


@router.get("/models", response_model=ModelRunPage)
def list_models(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 50
) -> ModelRunPage:
    """The workspace's model runs and the shipped model, newest first, with held-out figures."""
    require(principal, "text:read")
    rows, next_cursor = service.list_model_runs(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    return ModelRunPage(
        items=[_run_out(session, principal, r) for r in rows], next_cursor=next_cursor
    )


@router.post("/models/retrain", response_model=ModelRunOut, status_code=202)
def retrain_model(principal: ApiPrincipal, session: DbSession) -> ModelRunOut:
    """Queue a retraining of the workspace's model (the queued or running one if there is
    one); it is used once trained only if it is not worse than the model in use."""
    require(principal, "text:manage")
    run = service.request_retraining(
        session, workspace_id=principal.workspace_id, principal=principal
    )
    if run.status == "queued":
        tasks.queue_training(session, run.id)
    return _run_out(session, principal, run)


@router.post("/models/{run_id}/activate", response_model=ModelRunOut)
def activate_model(run_id: RunId, principal: ApiPrincipal, session: DbSession) -> ModelRunOut:
    """Use this ready model for the workspace's new analyses (the shipped one: go back to it)."""
    require(principal, "text:manage")
    run = service.get_model_run(session, workspace_id=principal.workspace_id, run_id=run_id)
    service.activate_model_run(
        session, workspace_id=principal.workspace_id, run=run, principal=principal
    )
    return _run_out(session, principal, run)
