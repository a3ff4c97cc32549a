"""Text analytics jobs: find every workspace's themes again daily, and tell the owning teams of
spiking categories hourly (one transaction per workspace)."""

from __future__ import annotations

from huey import crontab
from sqlalchemy import select

from cxloop.core.db import Database, get_database
from cxloop.core.jobs import huey
from cxloop.models import TextAnalysis
from cxloop.text.analytics import service as analytics
from cxloop.text.analytics import themes


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
