"""Periodic profile jobs."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.core.timeutil import utcnow
from cxloop.models import Customer, Workspace


def mark_churned(session: Session, *, workspace: Workspace) -> int:
    """Mark as churned the identified customers inactive for the workspace's churn window."""
    cutoff = utcnow() - timedelta(days=workspace.churn_after_days)
    result = session.execute(
        update(Customer)
        .where(
            Customer.workspace_id == workspace.id,
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
            Customer.lifecycle_stage.in_(("lead", "customer", "repeat")),
            Customer.last_seen_at < cutoff,
        )
        .values(lifecycle_stage="churned")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


@huey.periodic_task(crontab(minute="17", hour="3"))
def mark_churned_everywhere() -> int:
    """Daily: churn marking for every workspace, each in a transaction of its own (one long
    transaction would hold SQLite's write lock, and so ingestion, for all of them); safe to
    run twice."""
    total = 0
    database = get_database()
    with database.read_session() as session:
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    for workspace_id in ids:
        with database.session() as session:
            workspace = session.get(Workspace, workspace_id)
            if workspace is not None:
                total += mark_churned(session, workspace=workspace)
    return total
