"""The CX dashboard page (/cx): score cards with intervals and the change from the previous
period, trend charts, a breakdown by any dimension, key drivers and business KPIs, drawn as
inline SVG; each block downloads as CSV (/cx/export/<block>.csv)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cxloop.accounts.access import require
from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.core.http import database_of
from cxloop.metrics import dashboard
from cxloop.text.analytics import service as text_analytics
from cxloop.web import errors
from cxloop.web.care.metrics import care_card, dashboard_metrics
from cxloop.web.charts import (
    interval_bar,
    interval_bar_chart,
    interval_trend_chart,
    period_label,
)
from cxloop.web.exports import column_names
from cxloop.web.journeys.saved import dashboard_funnel_cards, pinned_funnels
from cxloop.web.labels import touchpoint_label
from cxloop.web.rendering import link, render, zone
from cxloop.web.session import Page, WebContext, verify_csrf
from cxloop.web.text.analytics import emotion_view

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

# Each metric's scale (for the plots), unit and number format.
SCALES: dict[dashboard.Metric, tuple[float, float]] = {
    "nps": (-100.0, 100.0),
    "csat": (0.0, 100.0),
    "ces": (1.0, 7.0),
}
DECIMALS: dict[dashboard.Metric, int] = {"nps": 0, "csat": 1, "ces": 2}
PRESETS = (30, 90, 365)
# Catalog keys by value (looked up through these maps, so every key is written out here).
METRIC_NAMES = {
    "nps": "dash.metric_name.nps",
    "csat": "dash.metric_name.csat",
    "ces": "dash.metric_name.ces",
}
UNITS = {"nps": "dash.unit.nps", "csat": "dash.unit.csat", "ces": "dash.unit.ces"}
SINCE = {"day": "dash.since.day", "week": "dash.since.week", "month": "dash.since.month"}
TREND_HEADINGS = {
    "day": "dash.trend.heading_day",
    "week": "dash.trend.heading_week",
    "month": "dash.trend.heading_month",
}
TREND_GAPS = {
    "day": "dash.trend.gaps_day",
    "week": "dash.trend.gaps_week",
    "month": "dash.trend.gaps_month",
}
DIMENSION_NAMES = {
    "channel": "dash.dimension.channel",
    "touchpoint": "dash.dimension.touchpoint",
    "survey": "dash.dimension.survey",
    "lifecycle_stage": "dash.dimension.lifecycle_stage",
    "product": "dash.dimension.product",
    "trait": "dash.dimension.trait",
}
DRIVER_TITLES = {
    "touchpoint": "dash.driver.title_touchpoint",
    "question": "dash.driver.title_question",
}
FIELD_NAMES = {"from": "dash.from", "to": "dash.to"}
PROBLEMS = {
    "from": "dash.problem.period",
    "to": "dash.problem.period",
    "survey_id": "dash.problem.survey",
    "trait": "dash.problem.trait",
}
BREAKDOWN_ROWS = 20
DRIVER_ROWS = 12


@dataclass(frozen=True)
class Filters:
    """The page's query parameters, checked (a bad one is reported, and left at its default)."""

    first: date | None
    last: date | None
    survey_id: int | None
    period: dashboard.TrendPeriod | None  # None: by the period's length
    dimension: dashboard.Dimension
    trait: str
    metric: dashboard.Metric
    by: dashboard.DriverSource

    def params(self, **changes: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "survey_id": self.survey_id,
            "period": self.period,
            "dimension": self.dimension,
            "trait": self.trait or None,
            "metric": self.metric,
            "by": self.by,
        }
        values.update(changes)
        return values


def _day(value: str, field: str, problems: list[str], page: WebContext) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        problems.append(page.t("dash.bad_date", field=page.t(FIELD_NAMES[field])))
        return None


def _filters(page: WebContext, params: dict[str, str], problems: list[str]) -> Filters:
    survey = params.get("survey_id", "")
    period = params.get("period", "")
    dimension = params.get("dimension", "touchpoint")
    metric = params.get("metric", "nps")
    by = params.get("by", "touchpoint")
    return Filters(
        first=_day(params.get("from", ""), "from", problems, page),
        last=_day(params.get("to", ""), "to", problems, page),
        survey_id=int(survey) if survey.isdigit() and 0 < len(survey) < 10 else None,
        period=period if period in dashboard.TREND_PERIODS else None,
        dimension=dimension if dimension in dashboard.DIMENSIONS else "touchpoint",
        trait=params.get("trait", "").strip()[: dashboard.MAX_TRAIT_KEY],
        metric=metric if metric in dashboard.METRICS else "nps",
        by=by if by in ("touchpoint", "question") else "touchpoint",  # type: ignore[arg-type]
    )


def _scope(page: WebContext, filters: Filters, problems: list[str]) -> dashboard.Scope:
    try:
        return dashboard.resolve_scope(
            page.db,
            workspace=page.workspace,
            first=filters.first,
            last=filters.last,
            survey_id=filters.survey_id,
        )
    except ValidationFailed as exc:
        problems.append(_problem(page, exc))
        return dashboard.resolve_scope(page.db, workspace=page.workspace)


def _problem(page: WebContext, exc: ValidationFailed) -> str:
    """A dashboard parameter problem in the page's language."""
    field = exc.errors[0]["field"] if exc.errors else ""
    key = PROBLEMS.get(field)
    return page.t(key) if key else errors.describe(page.locale, exc)


# --- words for numbers -------------------------------------------------------------------------


def _number(page: WebContext, value: float, decimals: int) -> str:
    # Korean and English group thousands with commas and use a decimal point alike.
    return f"{value:,.{decimals}f}"


def _p(p_value: float) -> str:
    if p_value < 0.001:
        return "<0.001"
    return "=" + (f"{p_value:.3f}" if p_value < 0.01 else f"{p_value:.2f}")


def change_sentence(
    page: WebContext, metric: dashboard.Metric, change: stats.Change | None, since: str
) -> str:
    """ "up 6.2 points since last month, significant (p=0.01)", in the page's language."""
    if change is None:
        return ""
    unit = page.t(UNITS[metric])
    amount = _number(page, abs(change.difference), 1 if metric != "ces" else 2)
    if round(change.difference, 2) == 0:
        moved = page.t("dash.change.flat", since=since)
    else:
        key = "dash.change.up" if change.difference > 0 else "dash.change.down"
        moved = page.t(key, amount=amount, unit=unit, since=since)
    verdict = page.t(
        "dash.change.significant" if change.significant else "dash.change.not_significant",
        p=_p(change.p_value),
    )
    sentence = page.t("dash.change.sentence", moved=moved, verdict=verdict)
    if change.too_few:
        sentence += " " + page.t("dash.change.too_few")
    return sentence


def _shown(page: WebContext, metric: dashboard.Metric, estimate: stats.Estimate) -> str:
    decimals = DECIMALS[metric]
    half = (estimate.ci_high - estimate.ci_low) / 2
    value = _number(page, estimate.estimate, decimals)
    if metric == "csat":
        value += "%"
    return f"{value} (±{_number(page, half, max(decimals, 1))})"


def _interval_words(page: WebContext, metric: dashboard.Metric, e: stats.Estimate) -> str:
    d = max(DECIMALS[metric], 1)
    return page.t(
        "dash.interval",
        low=_number(page, e.ci_low, d),
        high=_number(page, e.ci_high, d),
        n=f"{e.n:,}",
    )


# --- blocks ------------------------------------------------------------------------------------


def _cards(page: WebContext, result: dashboard.PeriodScores) -> list[dict[str, Any]]:
    cards = []
    for metric in dashboard.METRICS:
        estimate = result.current.get(metric)
        card: dict[str, Any] = {"metric": metric, "estimate": estimate}
        if estimate is not None:
            lo, hi = SCALES[metric]
            words = _interval_words(page, metric, estimate)
            card.update(
                shown=_shown(page, metric, estimate),
                bar=interval_bar(
                    estimate.estimate, estimate.ci_low, estimate.ci_high, lo=lo, hi=hi, label=words
                ),
                words=words,
                change=change_sentence(
                    page, metric, result.changes[metric], page.t("dash.since.period")
                ),
            )
        cards.append(card)
    return cards


def _axis_labels(page: WebContext, trend: dashboard.Trend) -> list[str]:
    """Each bucket's name in the page's language, with the year on the first and where the
    year turns."""
    labels = []
    year = None
    for bucket in trend.buckets:
        labels.append(
            period_label(
                bucket.start, trend.period, page.locale, with_year=bucket.start.year != year
            )
        )
        year = bucket.start.year
    return labels


def _trend_charts(page: WebContext, trend: dashboard.Trend) -> list[dict[str, Any]]:
    charts = []
    since = page.t(SINCE[trend.period])
    labels = _axis_labels(page, trend)
    for metric in dashboard.METRICS:
        points = []
        faint = []
        described = []
        for label, bucket in zip(labels, trend.buckets, strict=True):
            e = bucket.scores.get(metric)
            points.append(
                (label, e.estimate, e.ci_low, e.ci_high) if e else (label, None, None, None)
            )
            faint.append(e is not None and e.too_few)
            if e is not None:
                described.append(
                    f"{label} {_shown(page, metric, e)} n={e.n:,}"
                    + (f" {page.t('dash.too_few_short')}" if e.too_few else "")
                )
        name = page.t(METRIC_NAMES[metric])
        title = page.t("dash.trend.title", metric=name)
        desc = page.t("dash.trend.desc", count=len(described)) + (
            ": " + "; ".join(described) if described else ""
        )
        empty = len(points) - len(described)
        notes = []
        if described and empty:
            notes.append(
                page.t(TREND_GAPS[trend.period], metric=name, empty=empty, total=len(points))
            )
        if any(faint):
            notes.append(page.t("dash.trend.faint", min_n=stats.DEFAULT_MIN_N))
        lo, hi = SCALES[metric]
        charts.append(
            {
                "metric": metric,
                "title": title,
                "empty": not described,
                "notes": notes,
                "svg": interval_trend_chart(
                    points,
                    lo=lo,
                    hi=hi,
                    chart_id=f"trend-{metric}",
                    title=title,
                    desc=desc,
                    faint=faint,
                ),
                "change": change_sentence(page, metric, trend.last_change(metric), since),
            }
        )
    return charts


def _segment_label(page: WebContext, dimension: str, segment: dashboard.Segment) -> str:
    if segment.key is None:
        return page.t("dash.none")
    if dimension == "lifecycle_stage":
        key = "stage." + segment.key
        text = page.t(key)
        return segment.key if text == key else text
    if dimension == "touchpoint":
        return touchpoint_label(page, segment.key)
    return segment.label or segment.key


def _coverage(
    page: WebContext, result: dashboard.Breakdown, metric: dashboard.Metric, filters: Filters
) -> dict[str, Any] | None:
    """When the chosen score was asked in fewer of the groups than another score: how many,
    with links to the scores that cover more (each survey asks one score, at its touchpoints)."""
    counts = {
        m: sum(1 for segment in result.segments if segment.scores.get(m) is not None)
        for m in dashboard.METRICS
    }
    better = [m for m in dashboard.METRICS if counts[m] > counts[metric]]
    if not better:
        return None
    return {
        "sentence": page.t(
            "dash.coverage",
            metric=page.t(METRIC_NAMES[metric]),
            count=counts[metric],
            total=len(result.segments),
        ),
        "links": [
            (
                page.t("dash.coverage_link", metric=page.t(METRIC_NAMES[m]), count=counts[m]),
                link("/cx", **filters.params(metric=m)),
            )
            for m in better
        ],
    }


def _breakdown_chart(
    page: WebContext, result: dashboard.Breakdown, metric: dashboard.Metric
) -> dict[str, Any]:
    rows = []
    described = []
    for segment in result.segments:
        label = _segment_label(page, result.dimension, segment)
        e = segment.scores.get(metric)
        if e is None:
            continue
        rows.append((label, e.estimate, e.ci_low, e.ci_high, e.too_few))
        described.append(
            f"{label} {_shown(page, metric, e)} n={e.n:,}"
            + (f" {page.t('dash.too_few_short')}" if e.too_few else "")
        )
    title = page.t(
        "dash.breakdown_chart.title",
        metric=page.t(METRIC_NAMES[metric]),
        dimension=page.t(DIMENSION_NAMES[result.dimension])
        + (f" · {result.trait}" if result.trait else ""),
    )
    lo, hi = SCALES[metric]
    return {
        "title": title,
        "empty": not rows,
        "svg": interval_bar_chart(
            rows,
            lo=lo,
            hi=hi,
            chart_id="breakdown",
            title=title,
            desc="; ".join(described) or page.t("dash.no_answers"),
            value_format="{:,." + str(DECIMALS[metric]) + "f}",
        ),
    }


def _driver_label(page: WebContext, result: dashboard.Drivers, name: str) -> str:
    if result.source == "touchpoint":
        return touchpoint_label(page, name)
    return result.labels.get(name, {}).get(page.locale, name)


def _drivers_note(
    page: WebContext, result: dashboard.Drivers, surveys: dict[int, str]
) -> str | None:
    """Why the drivers are not the touchpoints asked for, in words."""
    touchpoints = result.instead_of_touchpoints
    if touchpoints is not None:
        survey = surveys.get(result.scope.survey_id or 0, "")
        if not touchpoints:
            return page.t("dash.driver.instead_none", survey=survey)
        names = ", ".join(touchpoint_label(page, t) for t in touchpoints)
        return page.t("dash.driver.instead", touchpoints=names, survey=survey)
    if result.source == "touchpoint" and result.analysis and len(result.analysis.drivers) < 2:
        return page.t("dash.driver.one_touchpoint")
    return None


def _drivers_chart(
    page: WebContext, result: dashboard.Drivers, surveys: dict[int, str]
) -> dict[str, Any]:
    analysis = result.analysis
    rows = []
    described = []
    for d in (analysis.drivers if analysis else ())[:DRIVER_ROWS]:
        label = _driver_label(page, result, d.name)
        share = 100 * d.share if d.share is not None else None
        rows.append((label, share, None, None, d.too_few or d.share is None))
        r = f"r={d.correlation:+.2f}" if d.correlation is not None else "r=–"
        described.append(
            f"{label}: "
            + (page.t("dash.driver.share", share=f"{share:.0f}") if share is not None else "–")
            + f", {r}, n={d.n:,}"
        )
    title = page.t(DRIVER_TITLES[result.source])
    return {
        "title": title,
        "note": _drivers_note(page, result, surveys),
        "empty": not rows,
        "r_squared": analysis.r_squared if analysis else None,
        "too_few": analysis.too_few if analysis else True,
        "svg": interval_bar_chart(
            rows,
            lo=0.0,
            hi=100.0,
            chart_id="drivers",
            title=title,
            desc="; ".join(described) or page.t("dash.no_answers"),
            value_format="{:.0f}%",
        ),
    }


def _kpi_view(page: WebContext, result: dashboard.BusinessKpis) -> dict[str, Any]:
    def rate(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}%"

    cohorts = result.cohorts.rows[-12:]
    values = [float(c.cumulative_per_customer[-1]) for c in cohorts if c.cumulative_per_customer]
    peak = max(values, default=0.0) or 1.0
    rows = [
        (c.label, float(c.cumulative_per_customer[-1]), None, None, c.customers < 30)
        for c in cohorts
        if c.cumulative_per_customer
    ]
    title = page.t("dash.kpi.cohorts", currency=result.currency)
    desc = "; ".join(
        page.t(
            "dash.kpi.cohort_line",
            cohort=c.label,
            value=page.t("dash.money", amount=f"{float(c.cumulative_per_customer[-1]):,.0f}"),
            customers=f"{c.customers:,}",
        )
        for c in cohorts
        if c.cumulative_per_customer
    )
    order_value = result.order_value
    return {
        "retention": rate(result.retention.rate),
        "retention_detail": page.t(
            "dash.kpi.of",
            part=f"{result.retention.retained:,}",
            whole=f"{result.retention.previous_active:,}",
        ),
        "churn": rate(result.churn.rate),
        "churn_detail": page.t("dash.kpi.churn_detail", days=result.churn.inactive_days),
        "repeat": rate(result.repeat_purchase.rate),
        "repeat_detail": page.t(
            "dash.kpi.of",
            part=f"{result.repeat_purchase.repeat_buyers:,}",
            whole=f"{result.repeat_purchase.buyers:,}",
        ),
        "aov": order_value,
        "currency": result.currency,
        "cohorts_empty": not rows,
        "cohorts_title": title,
        "cohorts_svg": interval_bar_chart(
            rows,
            lo=0.0,
            hi=peak * 1.05,
            chart_id="cohorts",
            title=title,
            desc=desc or page.t("dash.no_answers"),
            value_format="{:,.0f}",
        ),
    }


# --- pages -------------------------------------------------------------------------------------


@router.get("/cx")
def dashboard_page(page: Page) -> Response:
    """The CX dashboard for the chosen period and survey."""
    require(page.principal, "metrics:read")
    problems: list[str] = []
    filters = _filters(page, dict(page.request.query_params), problems)
    scope = _scope(page, filters, problems)
    db, workspace = page.db, page.workspace
    zone = dashboard.workspace_zone(workspace)
    today = datetime.now(UTC).astimezone(zone).date()
    first = scope.start.astimezone(zone).date()
    last = (scope.end.astimezone(zone) - timedelta(microseconds=1)).date()
    shown = Filters(
        first=first,
        last=last,
        survey_id=scope.survey_id,
        period=filters.period,
        dimension=filters.dimension,
        trait=filters.trait,
        metric=filters.metric,
        by=filters.by if scope.survey_id is not None else "touchpoint",
    )
    workspace_id = workspace.id

    def trend(session: Session) -> dashboard.Trend:
        return dashboard.period_trend(session, scope=scope, period=shown.period, tz=zone.key)

    def breakdown(session: Session) -> dashboard.Breakdown | ValidationFailed | None:
        if shown.dimension == "trait" and not shown.trait:
            return None  # the picker asks for the trait's name first
        try:
            return dashboard.breakdown(
                session,
                scope=scope,
                dimension=shown.dimension,
                trait=shown.trait or None,
                limit=BREAKDOWN_ROWS,
            )
        except ValidationFailed as exc:
            return exc

    work: dict[str, Callable[[Session], Any]] = {
        # the period and the one before it: the page's longest scan, in two halves
        "scores.current": lambda session: dashboard.period_tally(session, scope=scope),
        "scores.previous": lambda session: dashboard.period_tally(
            session, scope=scope, previous=True
        ),
        "rate": lambda session: dashboard.response_rate(session, scope=scope),
        "trend": trend,
        "breakdown": breakdown,
        "drivers": lambda session: dashboard.nps_drivers(session, scope=scope, source=shown.by),
    }
    # The KPIs' queries run as blocks of their own, so the longest piece of the page is shorter.
    kpi_work = dashboard.business_kpi_work(workspace=workspace, start=scope.start, end=scope.end)
    work.update({f"kpi.{name}": run for name, run in kpi_work.parts.items()})
    if page.can("text:read"):
        work["emotion"] = lambda session: text_analytics.emotion_curve(
            session, workspace_id=workspace_id, start=scope.start, end=scope.end
        )
    if page.can("care:work"):
        work["care"] = lambda session: dashboard_metrics(
            session, workspace_id=workspace_id, start=scope.start, end=scope.end
        )
    if page.can("journeys:read"):
        work["funnels"] = lambda session: pinned_funnels(
            session, workspace_id=workspace_id, start=scope.start, end=scope.end
        )
    # The blocks are independent: they run side by side, each in a read session of its own,
    # after the request's own transaction (which only looked up who is asking) has ended.
    db.commit()
    blocks = database_of(page.request).read_all(work)
    scores = dashboard.period_scores_of(scope, blocks["scores.current"], blocks["scores.previous"])
    breakdown_result = blocks["breakdown"]
    if isinstance(breakdown_result, ValidationFailed):
        problems.append(_problem(page, breakdown_result))
        breakdown_result = None

    def export(block: str, **extra: Any) -> str:
        return link(f"/cx/export/{block}.csv", **shown.params(**extra))

    surveys = dashboard.workspace_surveys(db, workspace_id=workspace.id)
    trend_result: dashboard.Trend = blocks["trend"]

    return render(
        page.request,
        "metrics/dashboard.html",
        page=page,
        section="cx",
        filters=shown,
        problems=problems,
        surveys=surveys,
        trait_keys=dashboard.trait_keys(db, workspace_id=workspace.id),
        dimensions=dashboard.DIMENSIONS,
        metrics=dashboard.METRICS,
        presets=[
            (
                days,
                link(
                    "/cx",
                    **shown.params(
                        **{"from": (today - timedelta(days=days - 1)).isoformat(), "to": today}
                    ),
                ),
            )
            for days in PRESETS
        ],
        metric_names={m: page.t(METRIC_NAMES[m]) for m in dashboard.METRICS},
        dimension_names={d: page.t(DIMENSION_NAMES[d]) for d in dashboard.DIMENSIONS},
        previous_first=scores.previous_start.astimezone(zone).date(),
        cards=_cards(page, scores),
        responses=scores.current.responses,
        rate=blocks["rate"],
        trend_period=trend_result.period,
        trend_heading=page.t(TREND_HEADINGS[trend_result.period], n=len(trend_result.buckets)),
        trend_charts=_trend_charts(page, trend_result),
        breakdown=(
            _breakdown_chart(page, breakdown_result, shown.metric) if breakdown_result else None
        ),
        coverage=(
            _coverage(page, breakdown_result, shown.metric, shown) if breakdown_result else None
        ),
        drivers=_drivers_chart(page, blocks["drivers"], {s.id: s.name for s in surveys}),
        kpis=_kpi_view(
            page, kpi_work.result({name: blocks[f"kpi.{name}"] for name in kpi_work.parts})
        ),
        emotion=emotion_view(page, blocks["emotion"]) if "emotion" in blocks else None,
        care=care_card(page, blocks["care"]) if "care" in blocks else None,
        pinned_funnels=(
            dashboard_funnel_cards(page, blocks["funnels"], first, last)
            if "funnels" in blocks
            else None
        ),
        export=export,
        tz=zone.key,
    )


@router.get("/cx/export/{block}.csv")
def export_csv(page: Page, block: str) -> Response:
    """One block of the dashboard as CSV (UTF-8 with BOM), for the page's filters."""
    require(page.principal, "metrics:read")
    if block not in dashboard.BLOCKS:
        raise ValidationFailed(
            f"Unknown dashboard block {block!r}.",
            errors=[{"field": "block", "message": f"must be one of {', '.join(dashboard.BLOCKS)}"}],
        )
    problems: list[str] = []
    filters = _filters(page, dict(page.request.query_params), problems)
    if problems:
        raise ValidationFailed(problems[0], errors=[{"field": "from", "message": problems[0]}])
    scope = dashboard.resolve_scope(
        page.db,
        workspace=page.workspace,
        first=filters.first,
        last=filters.last,
        survey_id=filters.survey_id,
    )
    header, rows = dashboard.export_table(
        page.db,
        workspace=page.workspace,
        scope=scope,
        block=block,
        period=filters.period,
        dimension=filters.dimension,
        trait=filters.trait or None,
        by=filters.by,
    )
    return Response(
        dashboard.csv_bytes(column_names(page, header), rows, tz=zone(page.workspace.timezone)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="'
            + dashboard.export_filename(block, scope, page.workspace)
            + '"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
