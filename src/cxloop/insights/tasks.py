"""Insights jobs: a run asked for from the API, every night each workspace's customer models
fitted and scored again, runs whose job was lost picked up, and every hour the segments
refreshed in full. A run is claimed before it is executed, so running a job twice runs once."""

from __future__ import annotations

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import get_database
from cxloop.core.jobs import after_commit, huey
from cxloop.insights import runs
from cxloop.insights.segments import service as segments
from cxloop.models import Segment, Workspace


@huey.task()
def perform_run(run_id: int) -> str | None:
    """Execute one queued run; returns its status afterwards."""
    run = runs.perform_run(get_database(), run_id=run_id)
    return run.status if run else None


def queue_run(session: Session, run_id: int) -> None:
    """Ask a worker to execute the run once ``session`` commits it."""
    after_commit(session, perform_run, run_id)


@huey.periodic_task(crontab(minute="*/10"))
def perform_queued_runs() -> int:
    """Every ten minutes: execute runs still queued (a job lost with a restarted worker)."""
    database = get_database()
    with database.read_session() as session:
        run_ids = runs.queued_runs(session)
    for run_id in run_ids:
        runs.perform_run(database, run_id=run_id)
    return len(run_ids)


@huey.periodic_task(crontab(hour="18", minute="30"))  # 03:30 KST
def nightly_insights() -> int:
    """Every night: each workspace's models as of now; a workspace whose run fails does not
    stop the others (its run is recorded as failed)."""
    database = get_database()
    with database.read_session() as session:
        workspace_ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    done = 0
    for workspace_id in workspace_ids:
        with database.session() as session:
            run_id = runs.start_run(
                session, principal=None, workspace_id=workspace_id, trigger="schedule"
            ).id
        run = runs.perform_run(database, run_id=run_id)
        done += run is not None and run.status == "ready"
    return done


@huey.periodic_task(crontab(minute="7"))
def refresh_segments() -> int:
    """Every hour: every workspace's segments in full, for the rules that move with time alone
    ("bought in the last 90 days") and so see no event."""
    database = get_database()
    with database.read_session() as session:
        workspace_ids = list(
            session.scalars(
                select(Segment.workspace_id)
                .where(Segment.archived_at.is_(None))
                .distinct()
                .order_by(Segment.workspace_id)
            )
        )
    for workspace_id in workspace_ids:
        with database.session() as session:
            segments.refresh_workspace(session, workspace_id=workspace_id)
    return len(workspace_ids)
