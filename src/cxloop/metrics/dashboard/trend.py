"""The trend block: scores per week or month, bucketed in the database at local midnights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
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


def bucket_starts(
    end: datetime, *, period: stats.TrendPeriod, count: int, tz: ZoneInfo
) -> list[date]:
    """The first days of the ``count`` weeks or months up to the one holding ``end``."""
    last = stats.bucket_start(as_utc(end) - timedelta(microseconds=1), period=period, tz=tz)
    starts = [last]
    for _ in range(count - 1):
        if period == "week":
            starts.append(starts[-1] - timedelta(weeks=1))
        else:
            starts.append((starts[-1] - timedelta(days=1)).replace(day=1))
    return starts[::-1]


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
    period: stats.TrendPeriod
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
    period: stats.TrendPeriod = "week",
    count: int = 52,
    tz: str = kpis.DEFAULT_TZ,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> Trend:
    """NPS, CSAT and CES per ISO week or calendar month (in ``tz``) for the ``count`` buckets
    up to ``end``, each with the significance of its change from the previous bucket."""
    if period not in ("week", "month"):
        raise ValidationFailed(
            f"Unknown trend period {period!r}; expected week or month.",
            errors=[{"field": "period", "message": "must be week or month"}],
        )
    if not 1 <= count <= MAX_TREND_BUCKETS:
        raise ValidationFailed(
            f"A trend has 1 to {MAX_TREND_BUCKETS} buckets.",
            errors=[{"field": "count", "message": f"must be from 1 to {MAX_TREND_BUCKETS}"}],
        )
    zone = ZoneInfo(tz)
    end = as_utc(end)
    starts = bucket_starts(end, period=period, count=count, tz=zone)
    bounds = [_local_midnight(day, zone) for day in starts]
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
    for i, start in enumerate(starts):
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
        buckets.append(TrendBucket(start, stats.bucket_label(start, period), scores, changes))
    return Trend(period=period, tz=tz, end=end, buckets=tuple(buckets))
