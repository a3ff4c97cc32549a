"""Insights jobs: every night each workspace's customer models are fitted and scored again."""

from __future__ import annotations

from huey import crontab
from sqlalchemy import select

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.insights import runs
from cxloop.models import Workspace


@huey.periodic_task(crontab(hour="18", minute="30"))  # 03:30 KST
def nightly_insights() -> int:
    """Run every workspace's models as of now; a workspace whose run fails does not stop the
    others (its run is recorded as failed)."""
    database = get_database()
    with database.read_session() as session:
        workspace_ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    done = 0
    for workspace_id in workspace_ids:
        with database.session() as session:
            run_id = runs.start_run(
                session, principal=None, workspace_id=workspace_id, trigger="schedule"
            ).id
        try:
            with database.session() as session:
                runs.execute_run(session, run_id=run_id)
            done += 1
        except Exception as exc:  # recorded on the run; the next workspace still runs
            with database.session() as session:
                runs.fail_run(session, run_id=run_id, error=f"{type(exc).__name__}: {exc}")
    return done
