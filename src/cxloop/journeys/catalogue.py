"""What the journeys pages offer to pick from: the workspace's event names, most frequent first,
and the customers behind a page of funnel persons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc, utcnow
from cxloop.events.consumers import SYSTEM_CHANNEL
from cxloop.journeys.attempts import STREAM_TYPES
from cxloop.models import Customer, Event
from cxloop.profiles.service import customers_by_ids

NAME_DAYS = 90
MAX_NAMES = 200
MAX_CUSTOMERS = 1000


def event_names(
    session: Session,
    *,
    workspace_id: int,
    days: int = NAME_DAYS,
    limit: int = MAX_NAMES,
    now: datetime | None = None,
) -> list[str]:
    """The workspace's distinct event names of the last ``days`` days, most frequent first."""
    since = as_utc(now or utcnow()) - timedelta(days=days)
    count = func.count()
    rows = session.execute(
        select(Event.name, count)
        .where(
            Event.workspace_id == workspace_id,
            Event.timestamp >= since,
            Event.name.is_not(None),
            Event.type.in_(STREAM_TYPES),
            Event.channel != SYSTEM_CHANNEL,
        )
        .group_by(Event.name)
        .order_by(count.desc(), Event.name)
        .limit(max(1, min(limit, MAX_NAMES)))
    ).all()
    return [name for name, _ in rows if name]


def customers_by_id(session: Session, *, workspace_id: int, ids: Sequence[int]) -> list[Customer]:
    """The workspace's customers with these ids, in the order given (unknown ids left out)."""
    wanted = list(dict.fromkeys(ids))[:MAX_CUSTOMERS]
    found = customers_by_ids(session, workspace_id=workspace_id, ids=wanted)
    return [found[i] for i in wanted if i in found]
