"""Demo phase: analyse every demo comment, as ``cxloop text reanalyze`` would, so the text
analytics pages have the year's verbatims to show when the demo opens."""

from __future__ import annotations

from cxloop.demo.context import DemoContext
from cxloop.feedback import texts  # noqa: F401  (registers the survey_response source)
from cxloop.text.analytics import themes
from cxloop.text.store import tasks


def analyse_texts(ctx: DemoContext) -> None:
    """Phase: every survey comment of the demo workspace analysed and stored (unchanged ones,
    already analysed by the bus consumer, are skipped)."""
    total = tasks.reanalysis_total(ctx.database, workspace_ids=[ctx.workspace_id])
    task = ctx.task("Comments (text analysis)", total)
    tasks.reanalyse(ctx.database, workspace_ids=[ctx.workspace_id], progress=task.advance)
    # The themes of the last weeks, as the daily job would find them.
    with ctx.database.session() as session:
        themes.recompute_themes(session, workspace_id=ctx.workspace_id)
