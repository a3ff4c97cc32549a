"""REST: analyse texts on demand (``POST /api/v1/text/analyze``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal
from cxloop.core.errors import ValidationFailed
from cxloop.text.pipeline import Analysis, default_analyzer
from cxloop.text.schemas import AnalysisOut, AnalyzeIn, AnalyzeOut, TextIn

router = APIRouter(prefix="/api/v1/text", tags=["text"])


def analysis_out(analysis: Analysis) -> dict[str, Any]:
    """The public fields of an analysis (tokens stay internal)."""
    data = analysis.as_dict()
    data.pop("tokens", None)
    return data


@router.post("/analyze", response_model=AnalyzeOut)
async def analyze(body: AnalyzeIn, principal: ApiPrincipal) -> AnalyzeOut:
    """Language, sentiment with its score, categories, aspects per clause and keywords of one
    text (``text``) or of up to 100 (``texts``), with the shipped Korean/English model."""
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
    analyzer = default_analyzer()
    # The analysis is CPU work: off the event loop, like any other blocking call.
    results = await run_in_threadpool(
        analyzer.analyze_many, [i.text for i in items], [i.lang for i in items]
    )
    return AnalyzeOut(items=[AnalysisOut.model_validate(analysis_out(r)) for r in results])
