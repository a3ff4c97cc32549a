"""REST of the text library: analyse texts on demand (``POST /api/v1/text/analyze``) with the
shipped model or the workspace's active one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import SessionlessApiPrincipal
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.http import database_of
from cxloop.text.pipeline import Analysis, Analyzer, default_analyzer
from cxloop.text.registry import service
from cxloop.text.schemas import AnalysisOut, AnalyzeIn, AnalyzeOut, TextIn

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
