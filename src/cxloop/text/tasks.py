"""Text jobs and batch work: reanalyse the texts of the sources in batches (``cxloop text
reanalyze``, the demo), train a queued model run (asked for from the API or the CLI), retrain
every workspace with texts once a week, and pick up queued runs whose job was lost.

Each opens its own transactions; a reanalysis commits batch by batch and skips unchanged texts,
so a rerun after a crash only does what is left, and a run is claimed before training, so
running a job twice trains once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database, get_database
from cxloop.core.jobs import after_commit, huey
from cxloop.models import TextAnalysis
from cxloop.text import analytics, retrain, service, themes
from cxloop.text.sources import get_source, sources

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


@huey.task()
def train_model_run(run_id: int) -> str:
    """Train one queued run; returns its status afterwards."""
    return retrain.run_training(get_database(), run_id=run_id).status


def queue_training(session: Session, run_id: int) -> None:
    """Ask a worker to train the run once ``session`` commits it (the periodic sweep trains
    it if this job is lost)."""
    after_commit(session, train_model_run, run_id)


@huey.periodic_task(crontab(minute="*/10"))
def train_queued_runs() -> int:
    """Every ten minutes: train runs still queued (a job lost with a restarted worker)."""
    database = get_database()
    with database.session() as session:
        run_ids = retrain.queued_runs(session)
    for run_id in run_ids:
        retrain.run_training(database, run_id=run_id)
    return len(run_ids)


@huey.periodic_task(crontab(day_of_week="0", hour="3", minute="17"))
def retrain_every_workspace() -> int:
    """Sunday 03:17: retrain the model of every workspace that has analysed texts."""
    database = get_database()
    with database.session() as session:
        workspace_ids = list(session.scalars(select(TextAnalysis.workspace_id).distinct()))
    for workspace_id in workspace_ids:
        with database.session() as session:
            run_id = service.request_retraining(
                session, workspace_id=workspace_id, trigger="schedule"
            ).id
        retrain.run_training(database, run_id=run_id)
    return len(workspace_ids)


# --- themes and spikes (text analytics) ----------------------------------------------------------


def _workspaces_with_texts(database: Database) -> list[int]:
    with database.read_session() as session:
        return sorted(session.scalars(select(TextAnalysis.workspace_id).distinct()))


@huey.periodic_task(crontab(hour="4", minute="23"))
def recompute_every_workspace_themes() -> int:
    """Daily 04:23: the themes of the last 12 weeks of every workspace with texts, found
    again (one transaction per workspace)."""
    database = get_database()
    workspace_ids = _workspaces_with_texts(database)
    for workspace_id in workspace_ids:
        themes.recompute_themes_in(database, workspace_id=workspace_id)
    return len(workspace_ids)


@huey.periodic_task(crontab(minute="41"))
def notify_text_spikes() -> int:
    """Hourly: tell the owning team of every category whose negative texts spike this week
    (once per category and week: the notices are deduplicated)."""
    database = get_database()
    told = 0
    for workspace_id in _workspaces_with_texts(database):
        with database.session() as session:
            told += len(analytics.notify_spikes(session, workspace_id=workspace_id))
    return told
