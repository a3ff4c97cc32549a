"""The CSV export of each dashboard block: its header and rows, and the bytes Excel reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.csvfile import csv_bytes as csv_bytes
from cxloop.metrics.dashboard.breakdowns import Breakdown, breakdown
from cxloop.metrics.dashboard.business import BusinessKpis, business_kpis
from cxloop.metrics.dashboard.drivers import Drivers, nps_drivers
from cxloop.metrics.dashboard.scope import (
    METRICS,
    Block,
    Dimension,
    DriverSource,
    Scope,
    workspace_zone,
)
from cxloop.metrics.dashboard.scores import PeriodScores, period_scores
from cxloop.metrics.dashboard.trend import Trend, TrendPeriod, period_trend
from cxloop.models import Workspace

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
    period: TrendPeriod | None = None,
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
            period_trend(
                session, scope=scope, period=period, tz=workspace_zone(workspace).key, min_n=min_n
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
        return drivers_table(nps_drivers(session, scope=scope, source=by, min_n=min_n))
    return kpis_table(business_kpis(session, workspace=workspace, start=scope.start, end=scope.end))


def export_filename(block: str, scope: Scope, workspace: Workspace) -> str:
    zone = workspace_zone(workspace)
    first = scope.start.astimezone(zone).date()
    last = (scope.end.astimezone(zone) - timedelta(microseconds=1)).date()
    return f"cx-{block}-{first.isoformat()}-{last.isoformat()}.csv"
