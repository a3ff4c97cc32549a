"""API models of the CX dashboard: scores with intervals, changes, trends, breakdowns, drivers
and KPIs. Percentages (CSAT, rates) are 0..100, NPS −100..100, CES on its 1–7 scale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel

from cxloop.core import stats


class EstimateOut(BaseModel):
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    too_few: bool

    @classmethod
    def of(cls, estimate: stats.Estimate | None) -> EstimateOut | None:
        if estimate is None:
            return None
        return cls(
            n=estimate.n,
            estimate=estimate.estimate,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
            confidence=estimate.confidence,
            too_few=estimate.too_few,
        )


class ChangeOut(BaseModel):
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    too_few: bool
    test: str

    @classmethod
    def of(cls, change: stats.Change | None) -> ChangeOut | None:
        if change is None:
            return None
        return cls(
            difference=change.difference,
            ci_low=change.ci_low,
            ci_high=change.ci_high,
            p_value=change.p_value,
            significant=change.significant,
            too_few=change.too_few,
            test=change.test,
        )


class MetricOut(BaseModel):
    current: EstimateOut | None
    previous: EstimateOut | None
    change: ChangeOut | None


class ResponseRateOut(BaseModel):
    invitations: int
    answered: int
    rate: EstimateOut | None


class ScoresOut(BaseModel):
    start: datetime
    end: datetime
    previous_start: datetime
    survey_id: int | None
    responses: int
    previous_responses: int
    nps: MetricOut
    csat: MetricOut
    ces: MetricOut
    response_rate: ResponseRateOut


class TrendMetricOut(BaseModel):
    estimate: EstimateOut | None
    change: ChangeOut | None


class TrendBucketOut(BaseModel):
    label: str
    start: date
    responses: int
    nps: TrendMetricOut
    csat: TrendMetricOut
    ces: TrendMetricOut


class TrendOut(BaseModel):
    period: str
    tz: str
    end: datetime
    survey_id: int | None
    buckets: list[TrendBucketOut]


class SegmentOut(BaseModel):
    key: str | None
    label: str | None
    responses: int
    nps: EstimateOut | None
    csat: EstimateOut | None
    ces: EstimateOut | None


class BreakdownOut(BaseModel):
    dimension: str
    trait: str | None
    start: datetime
    end: datetime
    survey_id: int | None
    items: list[SegmentOut]
    next_cursor: str | None


class DriverOut(BaseModel):
    name: str
    label: dict[str, str] | None  # a question's text in Korean and English
    n: int
    mean: float | None
    correlation: float | None
    p_value: float | None
    beta: float | None
    relative_weight: float | None
    share: float | None
    too_few: bool


class DriversOut(BaseModel):
    by: str
    start: datetime
    end: datetime
    survey_id: int | None
    r_squared: float | None
    n_complete: int
    too_few: bool
    drivers: list[DriverOut]


class RateOut(BaseModel):
    rate: float | None  # 0..1
    numerator: int
    denominator: int


class OrderValueOut(BaseModel):
    currency: str
    orders: int
    revenue: Decimal
    average: Decimal


class CohortOut(BaseModel):
    cohort: date
    label: str
    customers: int
    revenue: Decimal
    cumulative_per_customer: list[Decimal]


class KpisOut(BaseModel):
    start: datetime
    end: datetime
    currency: str
    retention: RateOut
    churn: RateOut
    churn_inactive_days: int
    repeat_purchase: RateOut
    order_values: list[OrderValueOut]
    cohorts: list[CohortOut]
