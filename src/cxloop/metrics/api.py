"""REST API of the CX dashboard (/api/v1/metrics): scores with intervals and their change,
trends, breakdowns, key drivers, business KPIs, and each block as CSV.

Periods are calendar days in the workspace's time zone: ``from`` and ``to`` (both included,
``YYYY-MM-DD``), by default the last 90 days.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from fastapi.responses import Response

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core import stats
from cxloop.core.errors import NotFound
from cxloop.core.pagination import decode_cursor, encode_cursor
from cxloop.metrics import dashboard
from cxloop.metrics.schemas import (
    BreakdownOut,
    ChangeOut,
    CohortOut,
    DriverOut,
    DriversOut,
    EstimateOut,
    KpisOut,
    MetricOut,
    OrderValueOut,
    RateOut,
    ResponseRateOut,
    ScoresOut,
    SegmentOut,
    TrendBucketOut,
    TrendMetricOut,
    TrendOut,
)
from cxloop.models import Workspace

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

From = Annotated[date | None, Query(alias="from", description="First day (workspace time)")]
To = Annotated[date | None, Query(alias="to", description="Last day, included")]
SurveyFilter = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this survey")]
MinN = Annotated[int, Query(ge=1, le=100_000, description="Fewer answers are flagged too_few")]
Period = Annotated[Literal["week", "month"], Query()]
Count = Annotated[int | None, Query(ge=1, le=dashboard.MAX_TREND_BUCKETS)]
DimensionParam = Annotated[dashboard.Dimension, Query()]
Trait = Annotated[str | None, Query(max_length=dashboard.MAX_TRAIT_KEY)]
DriverBy = Annotated[dashboard.DriverSource, Query()]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]
Currency = Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")]


def _workspace(session: DbSession, principal: Principal) -> Workspace:
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound("The workspace no longer exists.")
    return workspace


def _scope(
    session: DbSession,
    principal: Principal,
    first: date | None,
    last: date | None,
    survey_id: int | None,
) -> tuple[Workspace, dashboard.Scope]:
    require(principal, "metrics:read")
    workspace = _workspace(session, principal)
    scope = dashboard.resolve_scope(
        session, workspace=workspace, first=first, last=last, survey_id=survey_id
    )
    return workspace, scope


# --- shaping -----------------------------------------------------------------------------------


def scores_out(result: dashboard.PeriodScores, rate: dashboard.ResponseRate) -> ScoresOut:
    def metric(name: dashboard.Metric) -> MetricOut:
        return MetricOut(
            current=EstimateOut.of(result.current.get(name)),
            previous=EstimateOut.of(result.previous.get(name)),
            change=ChangeOut.of(result.changes[name]),
        )

    return ScoresOut(
        start=result.scope.start,
        end=result.scope.end,
        previous_start=result.previous_start,
        survey_id=result.scope.survey_id,
        responses=result.current.responses,
        previous_responses=result.previous.responses,
        nps=metric("nps"),
        csat=metric("csat"),
        ces=metric("ces"),
        response_rate=ResponseRateOut(
            invitations=rate.invitations, answered=rate.answered, rate=EstimateOut.of(rate.rate)
        ),
    )


def trend_out(trend: dashboard.Trend, survey_id: int | None) -> TrendOut:
    def point(bucket: dashboard.TrendBucket, name: dashboard.Metric) -> TrendMetricOut:
        return TrendMetricOut(
            estimate=EstimateOut.of(bucket.scores.get(name)),
            change=ChangeOut.of(bucket.changes[name]),
        )

    return TrendOut(
        period=trend.period,
        tz=trend.tz,
        end=trend.end,
        survey_id=survey_id,
        buckets=[
            TrendBucketOut(
                label=b.label,
                start=b.start,
                responses=b.scores.responses,
                nps=point(b, "nps"),
                csat=point(b, "csat"),
                ces=point(b, "ces"),
            )
            for b in trend.buckets
        ],
    )


def breakdown_out(result: dashboard.Breakdown) -> BreakdownOut:
    return BreakdownOut(
        dimension=result.dimension,
        trait=result.trait,
        start=result.scope.start,
        end=result.scope.end,
        survey_id=result.scope.survey_id,
        items=[
            SegmentOut(
                key=s.key,
                label=s.label,
                responses=s.scores.responses,
                nps=EstimateOut.of(s.scores.nps),
                csat=EstimateOut.of(s.scores.csat),
                ces=EstimateOut.of(s.scores.ces),
            )
            for s in result.segments
        ],
        next_cursor=encode_cursor([result.next_offset]) if result.next_offset else None,
    )


def drivers_out(result: dashboard.Drivers) -> DriversOut:
    analysis = result.analysis
    return DriversOut(
        by=result.source,
        start=result.scope.start,
        end=result.scope.end,
        survey_id=result.scope.survey_id,
        r_squared=analysis.r_squared if analysis else None,
        n_complete=analysis.n_complete if analysis else 0,
        too_few=analysis.too_few if analysis else True,
        drivers=[
            DriverOut(
                name=d.name,
                label=result.labels.get(d.name),
                n=d.n,
                mean=d.mean,
                correlation=d.correlation,
                p_value=d.p_value,
                beta=d.beta,
                relative_weight=d.relative_weight,
                share=d.share,
                too_few=d.too_few,
            )
            for d in (analysis.drivers if analysis else ())
        ],
    )


def kpis_out(result: dashboard.BusinessKpis) -> KpisOut:
    r, c, p = result.retention, result.churn, result.repeat_purchase
    return KpisOut(
        start=result.scope.start,
        end=result.scope.end,
        currency=result.currency,
        retention=RateOut(rate=r.rate, numerator=r.retained, denominator=r.previous_active),
        churn=RateOut(rate=c.rate, numerator=c.churned, denominator=c.customers),
        churn_inactive_days=c.inactive_days,
        repeat_purchase=RateOut(rate=p.rate, numerator=p.repeat_buyers, denominator=p.buyers),
        order_values=[
            OrderValueOut(
                currency=v.currency, orders=v.orders, revenue=v.revenue, average=v.average
            )
            for v in result.order_values
        ],
        cohorts=[
            CohortOut(
                cohort=row.cohort,
                label=row.label,
                customers=row.customers,
                revenue=row.revenue,
                cumulative_per_customer=list(row.cumulative_per_customer),
            )
            for row in result.cohorts.rows
        ],
    )


def _offset(cursor: str | None) -> int:
    return int(decode_cursor(cursor, 1)[0]) if cursor else 0


# --- endpoints ---------------------------------------------------------------------------------


@router.get("/scores", response_model=ScoresOut)
def scores(
    principal: ApiPrincipal,
    session: DbSession,
    first: From = None,
    last: To = None,
    survey_id: SurveyFilter = None,
    min_n: MinN = stats.DEFAULT_MIN_N,
) -> ScoresOut:
    """NPS, CSAT and CES of the period with 95% intervals, the previous period of equal length
    and the significance of the change; the response rate of the invitations sent in it."""
    _, scope = _scope(session, principal, first, last, survey_id)
    return scores_out(
        dashboard.period_scores(session, scope=scope, min_n=min_n),
        dashboard.response_rate(session, scope=scope, min_n=min_n),
    )


@router.get("/trend", response_model=TrendOut)
def trend(
    principal: ApiPrincipal,
    session: DbSession,
    last: To = None,
    survey_id: SurveyFilter = None,
    period: Period = "week",
    count: Count = None,
    min_n: MinN = stats.DEFAULT_MIN_N,
) -> TrendOut:
    """Scores per ISO week (52 by default) or month (12) up to ``to``, each with the
    significance of its change from the previous week or month with answers."""
    workspace, scope = _scope(session, principal, None, last, survey_id)
    result = dashboard.score_trend(
        session,
        workspace_id=workspace.id,
        end=scope.end,
        survey_id=survey_id,
        period=period,
        count=count or (52 if period == "week" else 12),
        tz=dashboard.workspace_zone(workspace).key,
        min_n=min_n,
    )
    return trend_out(result, survey_id)


@router.get("/breakdown", response_model=BreakdownOut)
def breakdown(
    principal: ApiPrincipal,
    session: DbSession,
    dimension: DimensionParam,
    trait: Trait = None,
    first: From = None,
    last: To = None,
    survey_id: SurveyFilter = None,
    min_n: MinN = stats.DEFAULT_MIN_N,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> BreakdownOut:
    """Scores per channel, touchpoint, survey, lifecycle stage, product, or value of a
    customer trait (``dimension=trait&trait=region``), largest groups first, paged."""
    _, scope = _scope(session, principal, first, last, survey_id)
    result = dashboard.breakdown(
        session,
        scope=scope,
        dimension=dimension,
        trait=trait,
        min_n=min_n,
        limit=limit,
        offset=_offset(cursor),
    )
    return breakdown_out(result)


@router.get("/drivers", response_model=DriversOut)
def drivers(
    principal: ApiPrincipal,
    session: DbSession,
    by: DriverBy = "touchpoint",
    first: From = None,
    last: To = None,
    survey_id: SurveyFilter = None,
    min_n: MinN = stats.DEFAULT_MIN_N,
) -> DriversOut:
    """Key drivers of the NPS: touchpoints, or the rating questions of one survey
    (``by=question&survey_id=…``), by their share of the explained variance."""
    _, scope = _scope(session, principal, first, last, survey_id)
    return drivers_out(dashboard.key_drivers(session, scope=scope, source=by, min_n=min_n))


@router.get("/kpis", response_model=KpisOut)
def business_kpis(
    principal: ApiPrincipal,
    session: DbSession,
    first: From = None,
    last: To = None,
    currency: Currency = None,
) -> KpisOut:
    """Retention, churn (the workspace's inactivity window), repeat purchase rate, average
    order value, and cumulative value per customer by monthly cohort."""
    workspace, scope = _scope(session, principal, first, last, None)
    return kpis_out(
        dashboard.business_kpis(
            session, workspace=workspace, start=scope.start, end=scope.end, currency=currency
        )
    )


def csv_response(content: bytes, filename: str) -> Response:
    """A CSV download: UTF-8 with BOM, an attachment with a plain and a UTF-8 file name."""
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/export/{block}.csv", response_class=Response)
def export_csv(
    principal: ApiPrincipal,
    session: DbSession,
    block: Annotated[dashboard.Block, FastPath()],
    first: From = None,
    last: To = None,
    survey_id: SurveyFilter = None,
    period: Period = "week",
    dimension: DimensionParam = "touchpoint",
    trait: Trait = None,
    by: DriverBy = "touchpoint",
    min_n: MinN = stats.DEFAULT_MIN_N,
) -> Response:
    """One dashboard block as CSV (UTF-8 with a byte-order mark, so Excel reads Korean)."""
    workspace, scope = _scope(session, principal, first, last, survey_id)
    header, rows = dashboard.export_table(
        session,
        workspace=workspace,
        scope=scope,
        block=block,
        period=period,
        dimension=dimension,
        trait=trait,
        by=by,
        min_n=min_n,
    )
    return csv_response(
        dashboard.csv_bytes(header, rows), dashboard.export_filename(block, scope, workspace)
    )
