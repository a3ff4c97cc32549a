"""Training jobs: train a queued model run (asked for from the API or the CLI), retrain every
workspace with texts once a week, and pick up queued runs whose job was lost.

Each opens its own transactions; a run is claimed before training, so running a job twice trains
once."""

from __future__ import annotations

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import get_database
from cxloop.core.jobs import after_commit, huey
from cxloop.models import TextAnalysis
from cxloop.text.registry import service as text_registry
from cxloop.text.training import service as text_training


@huey.task()
def train_model_run(run_id: int) -> str:
    """Train one queued run; returns its status afterwards."""
    return text_training.run_training(get_database(), run_id=run_id).status


def queue_training(session: Session, run_id: int) -> None:
    """Ask a worker to train the run once ``session`` commits it (the periodic sweep trains
    it if this job is lost)."""
    after_commit(session, train_model_run, run_id)


@huey.periodic_task(crontab(minute="*/10"))
def train_queued_runs() -> int:
    """Every ten minutes: train runs still queued (a job lost with a restarted worker)."""
    database = get_database()
    with database.session() as session:
        run_ids = text_training.queued_runs(session)
    for run_id in run_ids:
        text_training.run_training(database, run_id=run_id)
    return len(run_ids)


@huey.periodic_task(crontab(day_of_week="0", hour="3", minute="17"))
def retrain_every_workspace() -> int:
    """Sunday 03:17: retrain the model of every workspace that has analysed texts."""
    database = get_database()
    with database.session() as session:
        workspace_ids = list(session.scalars(select(TextAnalysis.workspace_id).distinct()))
    for workspace_id in workspace_ids:
        with database.session() as session:
            run_id = text_registry.request_retraining(
                session, workspace_id=workspace_id, trigger="schedule"
            ).id
        text_training.run_training(database, run_id=run_id)
    return len(workspace_ids)
