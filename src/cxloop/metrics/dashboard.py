"""The CX dashboard's queries: headline scores with their intervals and the change from the
previous period, response rate, weekly or monthly trends, breakdowns by any dimension, key
drivers, business KPIs, and the CSV tables of each block.

Every query counts completed responses of one workspace, aggregates in the database (counts per
score group, sums for CES) and hands the few aggregated rows to the estimators of
:mod:`cxloop.core.stats`; nothing here reads responses one by one, so the dashboard stays
fast with millions of answers. Periods are half-open, ``start <= submitted_at < end``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc
from cxloop.feedback.definition import load_definition
from cxloop.metrics import kpis
from cxloop.models import (
    Customer,
    Invitation,
    Order,
    OrderItem,
    Product,
    Response,
    Survey,
    SurveyVersion,
    Workspace,
)

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
# Hidden fields a response names its product or its order by (the survey declares them).
PRODUCT_FIELD = "product_id"
ORDER_FIELD = "order_id"
# Question types whose answers are ratings that can drive the NPS.
DRIVER_QUESTION_TYPES = ("rating", "csat", "ces")
MAX_DRIVER_QUESTIONS = 8
MAX_TRAIT_KEY = 100
MAX_TREND_BUCKETS = 156
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


# --- tallies: what SQL returns per group -------------------------------------------------------


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _tally_columns(nps: Any, csat: Any, ces: Any) -> list[ColumnElement[Any]]:
    """Counts per score group and the sums CES needs, as aggregate columns."""
    return [
        func.count().label("responses"),
        _count_when(nps >= 9).label("promoters"),
        _count_when(and_(nps >= 7, nps <= 8)).label("passives"),
        _count_when(nps <= 6).label("detractors"),
        func.count(csat).label("csat_n"),
        _count_when(csat >= stats.CSAT_SATISFIED_FROM).label("satisfied"),
        func.count(ces).label("ces_n"),
        func.coalesce(func.sum(ces), 0).label("ces_sum"),
        func.coalesce(func.sum(ces * ces), 0).label("ces_squares"),
    ]


TALLY_WIDTH = 9


@dataclass(frozen=True, slots=True)
class Tally:
    """Aggregated answers of one group: enough to compute every score and its interval."""

    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_n: int = 0
    satisfied: int = 0
    ces_n: int = 0
    ces_sum: int = 0
    ces_squares: int = 0

    @classmethod
    def of(cls, values: Sequence[Any]) -> Tally:
        return cls(*(int(v or 0) for v in values))


@dataclass(frozen=True, slots=True)
class Scores:
    """NPS, CSAT and CES of a group of responses; None where nobody gave that score."""

    responses: int
    nps: stats.NpsEstimate | None
    csat: stats.ProportionEstimate | None
    ces: stats.MeanEstimate | None

    def get(self, metric: Metric) -> stats.Estimate | None:
        return {"nps": self.nps, "csat": self.csat, "ces": self.ces}[metric]


def scores_of(tally: Tally, *, min_n: int = stats.DEFAULT_MIN_N) -> Scores:
    """The estimates of a tally, each with its 95% interval and its too-few flag."""
    t = tally
    nps = (
        stats.nps_from_counts(
            promoters=t.promoters, passives=t.passives, detractors=t.detractors, min_n=min_n
        )
        if t.promoters + t.passives + t.detractors
        else None
    )
    csat = (
        stats.csat_from_counts(satisfied=t.satisfied, total=t.csat_n, min_n=min_n)
        if t.csat_n
        else None
    )
    ces = None
    if t.ces_n:
        n = t.ces_n
        # Exact integer arithmetic for the sample variance (ddof 1).
        variance = (n * t.ces_squares - t.ces_sum**2) / (n * (n - 1)) if n > 1 else 0.0
        ces = stats.mean_from_summary(
            n=n,
            mean=t.ces_sum / n,
            std=math.sqrt(max(variance, 0.0)),
            min_n=min_n,
            bounds=(float(stats.CES_SCALE[0]), float(stats.CES_SCALE[1])),
        )
    return Scores(responses=t.responses, nps=nps, csat=csat, ces=ces)


def _changes(before: Scores, after: Scores, alpha: float) -> dict[Metric, stats.Change | None]:
    changes: dict[Metric, stats.Change | None] = {}
    for metric in METRICS:
        old, new = before.get(metric), after.get(metric)
        changes[metric] = (
            stats.compare(old, new, alpha=alpha) if old is not None and new is not None else None
        )
    return changes


# --- headline scores ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodScores:
    """The period's scores, the previous period of equal length, and the change of each."""

    scope: Scope
    previous_start: datetime
    current: Scores
    previous: Scores
    changes: dict[Metric, stats.Change | None]


def overall_scores(session: Session, *, scope: Scope, min_n: int = stats.DEFAULT_MIN_N) -> Scores:
    """NPS, CSAT and CES of the scope's completed responses with their intervals."""
    row = session.execute(
        select(*_tally_columns(Response.nps, Response.csat, Response.ces)).where(*_counted(scope))
    ).one()
    return scores_of(Tally.of(row), min_n=min_n)


def period_scores(
    session: Session,
    *,
    scope: Scope,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> PeriodScores:
    """The scope's scores and their change from the previous period of equal length, each
    change with its significance test."""
    return period_scores_of(
        scope,
        period_tally(session, scope=scope),
        period_tally(session, scope=scope, previous=True),
        min_n=min_n,
        alpha=alpha,
    )


def period_tally(session: Session, *, scope: Scope, previous: bool = False) -> Tally:
    """The tally of the scope's period, or of the period of equal length before it (the two
    halves of :func:`period_scores`, which a caller may also run side by side)."""
    if previous:
        start, end = scope.start - scope.length, scope.start
    else:
        start, end = scope.start, scope.end
    row = session.execute(
        select(*_tally_columns(Response.nps, Response.csat, Response.ces)).where(
            *_counted(scope, start=start), Response.submitted_at < end
        )
    ).one()
    return Tally.of(row)


def period_scores_of(
    scope: Scope,
    current: Tally,
    previous: Tally,
    *,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> PeriodScores:
    """The scores of both periods' tallies and the change of each, with its test."""
    now = scores_of(current, min_n=min_n)
    before = scores_of(previous, min_n=min_n)
    return PeriodScores(
        scope=scope,
        previous_start=scope.start - scope.length,
        current=now,
        previous=before,
        changes=_changes(before, now, alpha),
    )


@dataclass(frozen=True, slots=True)
class ResponseRate:
    invitations: int  # invitations sent in the period
    answered: int  # of those, answered with a completed response (at any time since)
    rate: stats.ProportionEstimate | None  # percent, None without invitations


def response_rate(
    session: Session, *, scope: Scope, min_n: int = stats.DEFAULT_MIN_N
) -> ResponseRate:
    """Share of the invitations sent in the period that were answered, with its interval."""
    clauses = [
        Invitation.workspace_id == scope.workspace_id,
        Invitation.sent_at >= scope.start,
        Invitation.sent_at < scope.end,
    ]
    if scope.survey_id is not None:
        clauses.append(Invitation.survey_id == scope.survey_id)
    invitations, answered = session.execute(
        select(func.count(), func.count(Response.id))
        .select_from(Invitation)
        .outerjoin(
            Response,
            and_(
                Response.invitation_id == Invitation.id,
                Response.workspace_id == scope.workspace_id,
                Response.completed.is_(True),
            ),
        )
        .where(*clauses)
    ).one()
    rate = stats.response_rate(answered, invitations, min_n=min_n) if invitations else None
    return ResponseRate(invitations=invitations, answered=answered, rate=rate)


# --- trends ------------------------------------------------------------------------------------


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


# --- breakdowns --------------------------------------------------------------------------------


def check_trait_key(trait: str | None) -> str:
    """A trait name fit for a JSON path: 1–100 characters, no quotes, backslashes or dots."""
    name = (trait or "").strip()
    if not name:
        raise ValidationFailed(
            "Breaking down by a trait needs the trait's name.",
            errors=[{"field": "trait", "message": "name the customer trait, e.g. region"}],
        )
    if (
        len(name) > MAX_TRAIT_KEY
        or any(ch in name for ch in "\"'\\.$[]*")
        or any(ord(ch) < 32 for ch in name)
    ):
        raise ValidationFailed(
            "That is not a trait name.",
            errors=[
                {
                    "field": "trait",
                    "message": f"at most {MAX_TRAIT_KEY} characters, without quotes, "
                    "backslashes, dots or brackets",
                }
            ],
        )
    return name


@dataclass(frozen=True, slots=True)
class Segment:
    key: str | None  # the dimension's value; None for responses without one
    label: str | None  # a readable name where the key is an id (survey, product)
    scores: Scores


@dataclass(frozen=True, slots=True)
class Breakdown:
    dimension: Dimension
    trait: str | None
    scope: Scope
    segments: tuple[Segment, ...]  # most responses first
    next_offset: int | None


def _segment_statement(
    scope: Scope, dimension: Dimension, trait: str | None
) -> tuple[Select[Any], Any]:
    """The grouped statement of a dimension (before ordering and paging) and its key."""
    tally = _tally_columns(Response.nps, Response.csat, Response.ces)
    if dimension in ("channel", "touchpoint", "survey"):
        key: Any = {
            "channel": Response.channel,
            "touchpoint": Response.touchpoint,
            "survey": Response.survey_id,
        }[dimension].label("key")
        return select(key, *tally).where(*_counted(scope)).group_by(key), key
    if dimension in ("lifecycle_stage", "trait"):
        if dimension == "trait":
            key = Customer.traits[check_trait_key(trait)].as_string().label("key")
        else:
            key = Customer.lifecycle_stage.label("key")
        # Tallies add up, so the answers are tallied per customer first (from the dashboard
        # index alone) and each customer's profile is read once, not once per answer.
        per_customer = (
            select(Response.customer_id, *tally)
            .where(*_counted(scope))
            .group_by(Response.customer_id)
            .subquery("per_customer")
        )
        statement = (
            select(
                key,
                *(
                    func.sum(column).label(column.name)
                    for column in per_customer.c
                    if column.name != "customer_id"
                ),
            )
            .select_from(per_customer)
            .outerjoin(
                Customer,
                and_(
                    Customer.id == per_customer.c.customer_id,
                    Customer.workspace_id == scope.workspace_id,
                ),
            )
            .group_by(key)
        )
        return statement, key
    if dimension == "product":
        return _product_statement(scope)
    raise ValidationFailed(
        f"Unknown dimension {dimension!r}.",
        errors=[{"field": "dimension", "message": f"must be one of {', '.join(DIMENSIONS)}"}],
    )


def _product_statement(scope: Scope) -> tuple[Select[Any], Any]:
    """Responses by product: the ``product_id`` hidden field when the response has one, else
    every product of the order its ``order_id`` hidden field names (an answer about an order
    of three products counts once for each of them); responses with neither are one group."""
    # The hidden fields are read once per response (a CTE used three times is materialised on
    # SQLite and PostgreSQL alike), not once per branch of the union.
    answers = (
        select(
            Response.hidden[PRODUCT_FIELD].as_string().label("named"),
            Response.hidden[ORDER_FIELD].as_string().label("order_ref"),
            Response.nps,
            Response.csat,
            Response.ces,
        )
        .where(*_counted(scope))
        .cte("answers")
    )
    scores = (answers.c.nps, answers.c.csat, answers.c.ces)
    named, order_ref = answers.c.named, answers.c.order_ref
    by_field = select(named.label("key"), *scores).where(named.is_not(None))
    by_order = (
        select(OrderItem.external_product_id.label("key"), *scores)
        .select_from(answers)
        .join(
            Order,
            and_(Order.workspace_id == scope.workspace_id, Order.external_id == order_ref),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(named.is_(None), order_ref.is_not(None))
    )
    unknown = select(literal(None).label("key"), *scores).where(
        named.is_(None), order_ref.is_(None)
    )
    rows = union_all(by_field, by_order, unknown).subquery("by_product")
    key = rows.c.key
    statement = (
        select(key, *_tally_columns(rows.c.nps, rows.c.csat, rows.c.ces))
        .select_from(rows)
        .group_by(key)
    )
    return statement, key


def breakdown(
    session: Session,
    *,
    scope: Scope,
    dimension: Dimension,
    trait: str | None = None,
    min_n: int = stats.DEFAULT_MIN_N,
    limit: int = 50,
    offset: int = 0,
) -> Breakdown:
    """Scores per value of ``dimension`` (channel, touchpoint, survey, lifecycle_stage,
    product or a customer ``trait``), the groups with most responses first, one page."""
    statement, key = _segment_statement(scope, dimension, trait)
    responses = statement.selected_columns.responses
    rows = session.execute(
        statement.order_by(responses.desc(), key.is_(None), key).limit(limit + 1).offset(offset)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [None if row[0] is None else str(row[0]) for row in rows]
    labels = _labels(session, scope.workspace_id, dimension, [k for k in keys if k is not None])
    segments = tuple(
        Segment(
            key=k,
            label=labels.get(k) if k is not None else None,
            scores=scores_of(Tally.of(row[1:]), min_n=min_n),
        )
        for k, row in zip(keys, rows, strict=True)
    )
    return Breakdown(
        dimension=dimension,
        trait=check_trait_key(trait) if dimension == "trait" else None,
        scope=scope,
        segments=segments,
        next_offset=offset + limit if more else None,
    )


def _labels(
    session: Session, workspace_id: int, dimension: Dimension, keys: list[str]
) -> dict[str, str]:
    """Names for keys that are ids: survey names, product names."""
    if not keys:
        return {}
    if dimension == "survey":
        ids = [int(k) for k in keys if k.isdigit()]
        found = session.execute(
            select(Survey.id, Survey.name).where(
                Survey.workspace_id == workspace_id, Survey.id.in_(ids)
            )
        )
        return {str(i): name for i, name in found}
    if dimension == "product":
        found = session.execute(
            select(Product.external_id, Product.name).where(
                Product.workspace_id == workspace_id, Product.external_id.in_(keys)
            )
        )
        return {k: name for k, name in found if name}
    return {}


# --- key drivers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drivers:
    source: DriverSource
    scope: Scope
    analysis: stats.DriverAnalysis | None  # None when no response had an NPS and a driver
    # driver → its question's text by language ({"ko": …, "en": …}); touchpoints need none
    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def key_drivers(
    session: Session,
    *,
    scope: Scope,
    source: DriverSource = "touchpoint",
    min_n: int = stats.DEFAULT_MIN_N,
) -> Drivers:
    """Which touchpoints (or, for one survey, which rating questions) move the NPS most, by
    :func:`cxloop.core.stats.key_drivers` over answers counted per value in SQL."""
    if source == "touchpoint":
        return _touchpoint_drivers(session, scope, min_n)
    if source == "question":
        return _question_drivers(session, scope, min_n)
    raise ValidationFailed(
        f"Unknown driver source {source!r}.",
        errors=[{"field": "by", "message": "must be touchpoint or question"}],
    )


def _touchpoint_drivers(session: Session, scope: Scope, min_n: int) -> Drivers:
    rows = session.execute(
        select(Response.touchpoint, Response.nps, func.count())
        .where(*_counted(scope), Response.nps.is_not(None), Response.touchpoint.is_not(None))
        .group_by(Response.touchpoint, Response.nps)
    ).all()
    if not rows:
        return Drivers(source="touchpoint", scope=scope, analysis=None)
    touchpoints = sorted({row[0] for row in rows})
    analysis = stats.key_drivers(
        {t: [1.0 if row[0] == t else 0.0 for row in rows] for t in touchpoints},
        [row[1] for row in rows],
        counts=[row[2] for row in rows],
        min_n=min_n,
    )
    return Drivers(source="touchpoint", scope=scope, analysis=analysis)


def _question_drivers(session: Session, scope: Scope, min_n: int) -> Drivers:
    if scope.survey_id is None:
        raise ValidationFailed(
            "Question drivers are the questions of one survey: choose a survey.",
            errors=[{"field": "survey_id", "message": "required for drivers by question"}],
        )
    stored = session.scalar(
        select(SurveyVersion.definition)
        .join(Survey, Survey.id == SurveyVersion.survey_id)
        .where(
            Survey.workspace_id == scope.workspace_id,
            Survey.id == scope.survey_id,
            SurveyVersion.number == Survey.current_version,
        )
    )
    questions = (
        [q for q in load_definition(stored).questions if q.type in DRIVER_QUESTION_TYPES]
        if stored is not None
        else []
    )[:MAX_DRIVER_QUESTIONS]
    labels = {q.id: {"ko": q.text.ko, "en": q.text.en} for q in questions}
    if not questions:
        return Drivers(source="question", scope=scope, analysis=None, labels=labels)
    answers = [Response.answers[q.id].as_float().label(f"q{i}") for i, q in enumerate(questions)]
    rows = session.execute(
        select(Response.nps, *answers, func.count())
        .where(*_counted(scope), Response.nps.is_not(None))
        .group_by(Response.nps, *answers)
    ).all()
    if not rows:
        return Drivers(source="question", scope=scope, analysis=None, labels=labels)
    analysis = stats.key_drivers(
        {
            q.id: [math.nan if row[1 + i] is None else float(row[1 + i]) for row in rows]
            for i, q in enumerate(questions)
        },
        [row[0] for row in rows],
        counts=[row[-1] for row in rows],
        min_n=min_n,
    )
    return Drivers(source="question", scope=scope, analysis=analysis, labels=labels)


# --- business KPIs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessKpis:
    scope: Scope
    currency: str
    retention: kpis.Retention
    churn: kpis.Churn
    repeat_purchase: kpis.RepeatPurchase
    order_values: list[kpis.OrderValue]
    cohorts: kpis.CohortTable

    @property
    def order_value(self) -> kpis.OrderValue | None:
        """The average order value in the dashboard's currency, if anyone paid in it."""
        return next((v for v in self.order_values if v.currency == self.currency), None)


@dataclass(frozen=True, slots=True)
class KpiWork:
    """The business KPIs as independent pieces of work (each takes a session), to be run one
    after another or side by side, then put together by :meth:`result`."""

    scope: Scope
    currency: str
    parts: dict[str, Callable[[Session], Any]]

    def result(self, done: Mapping[str, Any]) -> BusinessKpis:
        return BusinessKpis(scope=self.scope, currency=self.currency, **done)


def business_kpi_work(
    *,
    workspace: Workspace,
    start: datetime,
    end: datetime,
    tz: str | None = None,
    currency: str | None = None,
) -> KpiWork:
    """The pieces of :func:`business_kpis`; the workspace's settings are read here, so the
    pieces touch no ORM object of the caller's session."""
    scope = make_scope(workspace_id=workspace.id, start=start, end=end)
    code = (currency or workspace.default_currency or "KRW").upper()
    workspace_id, churn_days = workspace.id, workspace.churn_after_days
    zone = tz or workspace.timezone or kpis.DEFAULT_TZ
    return KpiWork(
        scope=scope,
        currency=code,
        parts={
            "retention": lambda session: kpis.retention_rate(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "churn": lambda session: kpis.churn_rate(
                session, workspace_id=workspace_id, as_of=scope.end, inactive_days=churn_days
            ),
            "repeat_purchase": lambda session: kpis.repeat_purchase_rate(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "order_values": lambda session: kpis.average_order_value(
                session, workspace_id=workspace_id, start=scope.start, end=scope.end
            ),
            "cohorts": lambda session: kpis.cohort_table(
                session, workspace_id=workspace_id, as_of=scope.end, currency=code, tz=zone
            ),
        },
    )


def business_kpis(
    session: Session,
    *,
    workspace: Workspace,
    start: datetime,
    end: datetime,
    tz: str | None = None,
    currency: str | None = None,
) -> BusinessKpis:
    """Retention, churn (the workspace's inactivity window, as of the period's end), repeat
    purchase rate, average order value and cumulative value per customer by monthly cohort."""
    work = business_kpi_work(workspace=workspace, start=start, end=end, tz=tz, currency=currency)
    return work.result({name: run(session) for name, run in work.parts.items()})


# --- pickers -----------------------------------------------------------------------------------


def workspace_surveys(session: Session, *, workspace_id: int, limit: int = 200) -> list[Survey]:
    """Surveys for the dashboard's filter, live ones first, then by name."""
    return list(
        session.scalars(
            select(Survey)
            .where(Survey.workspace_id == workspace_id)
            .order_by((Survey.status != "live"), Survey.name, Survey.id)
            .limit(limit)
        )
    )


def trait_keys(session: Session, *, workspace_id: int, sample: int = 500) -> list[str]:
    """Trait names seen on the workspace's most recently active customers (a sample, so the
    picker stays cheap on large workspaces)."""
    found: set[str] = set()
    for traits in session.scalars(
        select(Customer.traits)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        .order_by(Customer.last_seen_at.desc(), Customer.id.desc())
        .limit(sample)
    ):
        if isinstance(traits, dict):
            found |= {
                k for k, v in traits.items() if isinstance(v, str | int) and not isinstance(v, bool)
            }
    names = []
    for key in sorted(found):
        try:
            names.append(check_trait_key(key))
        except ValidationFailed:
            continue
    return names


# --- CSV ---------------------------------------------------------------------------------------

CSV_BOM = "\ufeff"


def _cell(value: Any) -> Any:
    """A CSV cell: numbers rounded sensibly; text that a spreadsheet would run as a formula
    is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else round(value, 4)
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads Korean right) and CRLF line ends."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


ESTIMATE_COLUMNS = ("n", "estimate", "ci_low", "ci_high", "too_few")


def _estimate_cells(estimate: stats.Estimate | None) -> list[Any]:
    if estimate is None:
        return [0, None, None, None, True]
    return [estimate.n, estimate.estimate, estimate.ci_low, estimate.ci_high, estimate.too_few]


def scores_table(result: PeriodScores) -> tuple[list[str], list[list[Any]]]:
    header = [
        "metric",
        "period_start",
        "period_end",
        *ESTIMATE_COLUMNS,
        "previous_n",
        "previous_estimate",
        "change",
        "change_ci_low",
        "change_ci_high",
        "p_value",
        "significant",
    ]
    rows = []
    for metric in METRICS:
        before = result.previous.get(metric)
        change = result.changes[metric]
        rows.append(
            [
                metric,
                result.scope.start,
                result.scope.end,
                *_estimate_cells(result.current.get(metric)),
                before.n if before else 0,
                before.estimate if before else None,
                *(
                    [
                        change.difference,
                        change.ci_low,
                        change.ci_high,
                        change.p_value,
                        change.significant,
                    ]
                    if change
                    else [None] * 5
                ),
            ]
        )
    return header, rows


def trend_table(trend: Trend) -> tuple[list[str], list[list[Any]]]:
    header = ["bucket", "start"]
    for metric in METRICS:
        header += [f"{metric}_{c}" for c in ESTIMATE_COLUMNS]
        header += [f"{metric}_change", f"{metric}_p_value"]
    rows = []
    for bucket in trend.buckets:
        row: list[Any] = [bucket.label, bucket.start]
        for metric in METRICS:
            change = bucket.changes[metric]
            row += _estimate_cells(bucket.scores.get(metric))
            row += [change.difference, change.p_value] if change else [None, None]
        rows.append(row)
    return header, rows


def breakdown_table(result: Breakdown) -> tuple[list[str], list[list[Any]]]:
    header = [result.dimension, "label", "responses"]
    for metric in METRICS:
        header += [f"{metric}_{c}" for c in ESTIMATE_COLUMNS]
    rows = []
    for segment in result.segments:
        row: list[Any] = [segment.key, segment.label, segment.scores.responses]
        for metric in METRICS:
            row += _estimate_cells(segment.scores.get(metric))
        rows.append(row)
    return header, rows


def drivers_table(result: Drivers) -> tuple[list[str], list[list[Any]]]:
    header = [
        "driver",
        "label",
        "n",
        "mean",
        "correlation",
        "p_value",
        "beta",
        "relative_weight",
        "share",
        "too_few",
    ]
    rows: list[list[Any]] = []
    for d in result.analysis.drivers if result.analysis else ():
        rows.append(
            [
                d.name,
                result.labels.get(d.name, {}).get("ko"),
                d.n,
                d.mean,
                d.correlation,
                d.p_value,
                d.beta,
                d.relative_weight,
                d.share,
                d.too_few,
            ]
        )
    return header, rows


def kpis_table(result: BusinessKpis) -> tuple[list[str], list[list[Any]]]:
    header = ["kpi", "value", "numerator", "denominator", "currency", "detail"]
    r, c, p = result.retention, result.churn, result.repeat_purchase
    rows: list[list[Any]] = [
        ["retention_rate", r.rate, r.retained, r.previous_active, None, r.previous_start],
        ["churn_rate", c.rate, c.churned, c.customers, None, f"{c.inactive_days} days"],
        ["repeat_purchase_rate", p.rate, p.repeat_buyers, p.buyers, None, None],
    ]
    for value in result.order_values:
        rows.append(
            [
                "average_order_value",
                value.average,
                value.revenue,
                value.orders,
                value.currency,
                None,
            ]
        )
    for cohort in result.cohorts.rows:
        latest = cohort.cumulative_per_customer[-1] if cohort.cumulative_per_customer else None
        rows.append(
            [
                "cohort_value_per_customer",
                latest,
                cohort.revenue,
                cohort.customers,
                result.cohorts.currency,
                cohort.label,
            ]
        )
    return header, rows


def export_table(
    session: Session,
    *,
    workspace: Workspace,
    scope: Scope,
    block: Block,
    period: stats.TrendPeriod = "week",
    dimension: Dimension = "touchpoint",
    trait: str | None = None,
    by: DriverSource = "touchpoint",
    min_n: int = stats.DEFAULT_MIN_N,
) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one dashboard block, as its CSV export has them."""
    if block == "scores":
        return scores_table(period_scores(session, scope=scope, min_n=min_n))
    if block == "trend":
        return trend_table(
            score_trend(
                session,
                workspace_id=workspace.id,
                end=scope.end,
                survey_id=scope.survey_id,
                period=period,
                count=52 if period == "week" else 12,
                tz=workspace_zone(workspace).key,
                min_n=min_n,
            )
        )
    if block == "breakdown":
        return breakdown_table(
            breakdown(
                session,
                scope=scope,
                dimension=dimension,
                trait=trait,
                min_n=min_n,
                limit=10_000,
            )
        )
    if block == "drivers":
        return drivers_table(key_drivers(session, scope=scope, source=by, min_n=min_n))
    return kpis_table(business_kpis(session, workspace=workspace, start=scope.start, end=scope.end))


def export_filename(block: str, scope: Scope, workspace: Workspace) -> str:
    zone = workspace_zone(workspace)
    first = scope.start.astimezone(zone).date()
    last = (scope.end.astimezone(zone) - timedelta(microseconds=1)).date()
    return f"cx-{block}-{first.isoformat()}-{last.isoformat()}.csv"
