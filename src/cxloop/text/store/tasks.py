"""Batch work on stored analyses: reanalyse the texts of the sources in batches (``cxloop text
reanalyze``, the demo).

It opens its own transactions; a reanalysis commits batch by batch and skips unchanged texts, so
a rerun after a crash only does what is left."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cxloop.core.db import Database
from cxloop.text.sources import get_source, sources
from cxloop.text.store import service

REANALYSE_BATCH = 500


@dataclass
class ReanalysisReport:
    texts: int = 0
    analysed: int = 0
    skipped: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


def reanalysis_total(
    database: Database,
    *,
    workspace_ids: Sequence[int],
    source_types: Sequence[str] | None = None,
    since: datetime | None = None,
) -> int:
    """How many texts :func:`reanalyse` will read (for its progress bar)."""
    names = list(source_types) if source_types else sorted(sources)
    with database.read_session() as session:
        return sum(
            get_source(name).count(session, workspace_id=ws, since=since)
            for ws in workspace_ids
            for name in names
        )


def reanalyse(
    database: Database,
    *,
    workspace_ids: Sequence[int],
    source_types: Sequence[str] | None = None,
    since: datetime | None = None,
    force: bool = False,
    batch_size: int = REANALYSE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ReanalysisReport:
    """Analyse the texts of the sources (all registered ones by default) of the workspaces,
    ``batch_size`` per transaction; unchanged texts are skipped unless ``force``."""
    names = list(source_types) if source_types else sorted(sources)
    for name in names:
        get_source(name)  # an unknown source fails before any work
    report = ReanalysisReport()
    for workspace_id in workspace_ids:
        for name in names:
            source = get_source(name)
            after_id = 0
            while True:
                # The texts are read and analysed without SQLite's write lock; it is taken
                # only to store the batch's analyses.
                with database.session(write_on_demand=True) as session:
                    items = source.batch(
                        session,
                        workspace_id=workspace_id,
                        after_id=after_id,
                        limit=batch_size,
                        since=since,
                    )
                    if not items:
                        break
                    stored = service.analyse_and_store(
                        session,
                        workspace_id=workspace_id,
                        source_type=name,
                        items=items,
                        force=force,
                    )
                after_id = items[-1].source_id
                report.texts += len(items)
                report.analysed += stored.analysed
                report.skipped += len(items) - stored.analysed
                report.by_source[name] = report.by_source.get(name, 0) + len(items)
                if progress is not None:
                    progress(len(items))
    return report
