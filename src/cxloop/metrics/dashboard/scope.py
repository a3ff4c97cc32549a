"""What a dashboard block counts: the names its filters take (metrics, dimensions, blocks)
and the scope every query filters by (one workspace, a half-open period in the workspace's time
zone, maybe one survey)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc
from cxloop.metrics import kpis
from cxloop.models import Response, Survey, Workspace

Metric = Literal["nps", "csat", "ces"]
Dimension = Literal["channel", "touchpoint", "survey", "lifecycle_stage", "product", "trait"]
DriverSource = Literal["touchpoint", "question"]
Block = Literal["scores", "trend", "breakdown", "drivers", "kpis"]
BLOCKS: tuple[Block, ...] = ("scores", "trend", "breakdown", "drivers", "kpis")
METRICS: tuple[Metric, ...] = ("nps", "csat", "ces")
DIMENSIONS: tuple[Dimension, ...] = (
    "channel",
    "touchpoint",
    "survey",
    "lifecycle_stage",
    "product",
    "trait",
)
MAX_PERIOD_DAYS = 3 * 366


# --- what a block counts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The completed responses a dashboard block counts: one workspace, a period, maybe one
    survey."""

    workspace_id: int
    start: datetime
    end: datetime
    survey_id: int | None = None

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def make_scope(
    *, workspace_id: int, start: datetime, end: datetime, survey_id: int | None = None
) -> Scope:
    """A checked scope: the period ends after it starts and spans at most three years."""
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise ValidationFailed(
            "The period must end after it starts.",
            errors=[{"field": "from", "message": "must be before the end of the period"}],
        )
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise ValidationFailed(
            "The period may span at most three years.",
            errors=[{"field": "from", "message": "the period may span at most three years"}],
        )
    return Scope(workspace_id=workspace_id, start=start, end=end, survey_id=survey_id)


def local_period(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants of ``first`` 00:00 and the day after ``last`` 00:00 in ``tz``, in UTC:
    the half-open period of the calendar days ``first`` to ``last`` (both included)."""
    if first > last:
        raise ValidationFailed(
            "The first day of the period comes after its last day.",
            errors=[{"field": "from", "message": "must not be after 'to'"}],
        )
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC)


DEFAULT_PERIOD_DAYS = 90
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone or kpis.DEFAULT_TZ)
    except (KeyError, ValueError):
        return ZoneInfo(kpis.DEFAULT_TZ)


def resolve_scope(
    session: Session,
    *,
    workspace: Workspace,
    first: date | None = None,
    last: date | None = None,
    survey_id: int | None = None,
    today: date | None = None,
) -> Scope:
    """The scope of calendar days ``first``..``last`` in the workspace's time zone (by default
    the last 90 days up to today), checked, optionally one of the workspace's surveys."""
    zone = workspace_zone(workspace)
    today = today or datetime.now(UTC).astimezone(zone).date()
    for name, day in (("from", first), ("to", last)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationFailed(
                f"The {name} date is out of range.",
                errors=[
                    {"field": name, "message": f"must lie between {EARLIEST_DAY} and {LATEST_DAY}"}
                ],
            )
    last = last or (today if first is None else max(first, today))
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if survey_id is not None and not session.scalar(
        select(func.count())
        .select_from(Survey)
        .where(Survey.workspace_id == workspace.id, Survey.id == survey_id)
    ):
        raise ValidationFailed(
            "No such survey in this workspace.",
            errors=[{"field": "survey_id", "message": "not a survey of this workspace"}],
        )
    start, end = local_period(first, last, zone)
    return make_scope(workspace_id=workspace.id, start=start, end=end, survey_id=survey_id)


def _counted(scope: Scope, *, start: datetime | None = None) -> list[ColumnElement[bool]]:
    """Conditions of the completed responses in the scope (from ``start`` when given)."""
    clauses = [
        Response.workspace_id == scope.workspace_id,
        Response.completed.is_(True),
        Response.submitted_at >= (scope.start if start is None else start),
        Response.submitted_at < scope.end,
    ]
    if scope.survey_id is not None:
        clauses.append(Response.survey_id == scope.survey_id)
    return clauses
