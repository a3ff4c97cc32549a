"""The trend block: scores per day, week or month over the chosen period, bucketed in the
database at local midnights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal, select
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc
from cxloop.metrics import kpis
from cxloop.metrics.dashboard.scope import METRICS, Metric, Scope, _counted
from cxloop.metrics.dashboard.tally import Scores, Tally, _tally_columns, scores_of
from cxloop.models import Response

MAX_TREND_BUCKETS = 156
TrendPeriod = Literal["day", "week", "month"]
TREND_PERIODS: tuple[TrendPeriod, ...] = ("day", "week", "month")
# The longest period drawn by day by default (a month); longer ones are drawn by week.
DAILY_UP_TO_DAYS = 31


def trend_period(days: int, wanted: TrendPeriod | None = None) -> TrendPeriod:
    """The buckets of a trend over ``days`` days: the ``wanted`` ones, else days for a month
    or less and weeks beyond; coarser ones when those would pass :data:`MAX_TREND_BUCKETS`."""
    period = wanted or ("day" if days <= DAILY_UP_TO_DAYS else "week")
    if period == "day" and days > MAX_TREND_BUCKETS:
        period = "week"
    if period == "week" and days > 7 * (MAX_TREND_BUCKETS - 1):
        period = "month"
    return period


def _bucket_index(column: Any, bounds: Sequence[datetime], offset: int = 0) -> Any:
    """Index of the bucket a timestamp falls in, given the ascending inner bounds between
    buckets, as a balanced tree of CASE expressions: about log2(buckets) comparisons per row,
    the same SQL on SQLite and PostgreSQL."""
    if not bounds:
        return literal(offset)
    middle = len(bounds) // 2
    return case(
        (column < bounds[middle], _bucket_index(column, bounds[:middle], offset)),
        else_=_bucket_index(column, bounds[middle + 1 :], offset + middle + 1),
    )


def _bucket_start(moment: datetime, *, period: TrendPeriod, tz: ZoneInfo) -> date:
    if period == "day":
        return as_utc(moment).astimezone(tz).date()
    return stats.bucket_start(moment, period=period, tz=tz)


def bucket_starts(
    end: datetime,
    *,
    period: TrendPeriod,
    count: int,
    tz: ZoneInfo,
    start: datetime | None = None,
) -> list[date]:
    """The first days of the days, weeks or months up to the one holding ``end``: from the one
    holding ``start`` when given (at most ``count`` of them), else ``count`` of them."""
    last = _bucket_start(as_utc(end) - timedelta(microseconds=1), period=period, tz=tz)
    first = _bucket_start(start, period=period, tz=tz) if start is not None else None
    starts = [last]
    while len(starts) < count and (first is None or starts[-1] > first):
        if period == "day":
            starts.append(starts[-1] - timedelta(days=1))
        elif period == "week":
            starts.append(starts[-1] - timedelta(weeks=1))
        else:
            starts.append((starts[-1] - timedelta(days=1)).replace(day=1))
    return starts[::-1]


def _bucket_label(start: date, period: TrendPeriod) -> str:
    return start.isoformat() if period == "day" else stats.bucket_label(start, period)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TrendBucket:
    start: date
    label: str
    scores: Scores
    # Change of each score from the previous bucket that has that score (None for the first).
    changes: dict[Metric, stats.Change | None]


@dataclass(frozen=True, slots=True)
class Trend:
    period: TrendPeriod
    tz: str
    end: datetime
    buckets: tuple[TrendBucket, ...]  # oldest first; empty weeks or months included

    def last_change(self, metric: Metric) -> stats.Change | None:
        """The change between the last two buckets that have this score."""
        for bucket in reversed(self.buckets):
            if bucket.scores.get(metric) is not None:
                return bucket.changes[metric]
        return None


def score_trend(
    session: Session,
    *,
    workspace_id: int,
    end: datetime,
    survey_id: int | None = None,
    period: TrendPeriod = "week",
    count: int = 52,
    start: datetime | None = None,
    tz: str = kpis.DEFAULT_TZ,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> Trend:
    """NPS, CSAT and CES per day, ISO week or calendar month (in ``tz``) up to ``end``, each
    with the significance of its change from the previous bucket: from ``start`` when given
    (the first bucket counts only answers from ``start`` on; at most ``count`` buckets), else
    the ``count`` buckets up to ``end``."""
    if period not in TREND_PERIODS:
        raise ValidationFailed(
            f"Unknown trend period {period!r}; expected day, week or month.",
            errors=[{"field": "period", "message": "must be day, week or month"}],
        )
    if not 1 <= count <= MAX_TREND_BUCKETS:
        raise ValidationFailed(
            f"A trend has 1 to {MAX_TREND_BUCKETS} buckets.",
            errors=[{"field": "count", "message": f"must be from 1 to {MAX_TREND_BUCKETS}"}],
        )
    zone = ZoneInfo(tz)
    end = as_utc(end)
    starts = bucket_starts(end, period=period, count=count, tz=zone, start=start)
    bounds = [_local_midnight(day, zone) for day in starts]
    if start is not None:
        bounds[0] = max(bounds[0], as_utc(start))
    scope = Scope(workspace_id=workspace_id, start=bounds[0], end=end, survey_id=survey_id)
    index = _bucket_index(Response.submitted_at, bounds[1:]).label("bucket")
    rows = session.execute(
        select(index, *_tally_columns(Response.nps, Response.csat, Response.ces))
        .where(*_counted(scope))
        .group_by(index)
    ).all()
    tallies = {int(row[0]): Tally.of(row[1:]) for row in rows}
    buckets: list[TrendBucket] = []
    latest: dict[Metric, stats.Estimate] = {}
    for i, day in enumerate(starts):
        scores = scores_of(tallies.get(i, Tally()), min_n=min_n)
        changes: dict[Metric, stats.Change | None] = {}
        for metric in METRICS:
            estimate = scores.get(metric)
            before = latest.get(metric)
            changes[metric] = (
                stats.compare(before, estimate, alpha=alpha)
                if estimate is not None and before is not None
                else None
            )
            if estimate is not None:
                latest[metric] = estimate
        buckets.append(TrendBucket(day, _bucket_label(day, period), scores, changes))
    return Trend(period=period, tz=tz, end=end, buckets=tuple(buckets))


def period_trend(
    session: Session,
    *,
    scope: Scope,
    period: TrendPeriod | None = None,
    tz: str = kpis.DEFAULT_TZ,
    min_n: int = stats.DEFAULT_MIN_N,
) -> Trend:
    """The trend over the scope's own period, by the ``period`` asked for or the one
    :func:`trend_period` picks for its length (the dashboard's trend block)."""
    days = max(round((scope.end - scope.start).total_seconds() / 86400), 1)
    return score_trend(
        session,
        workspace_id=scope.workspace_id,
        start=scope.start,
        end=scope.end,
        survey_id=scope.survey_id,
        period=trend_period(days, period),
        count=MAX_TREND_BUCKETS,
        tz=tz,
        min_n=min_n,
    )
