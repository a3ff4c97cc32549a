"""The funnel's pictures, drawn on the server as inline SVG: the steps as horizontal bars with
their drop-off, the time to convert and conversion over time (the last two through the shared
charts of web/charts.py); durations in words ("3시간", "3 h")."""

from __future__ import annotations

from markupsafe import Markup, escape

from cxloop.core.i18n import format_number, gettext
from cxloop.core.stats import EmptySample, proportion_interval
from cxloop.journeys.funnels import FunnelReport
from cxloop.web.charts import interval_bar_chart, interval_trend_chart

MINUTE, HOUR, DAY = 60, 3600, 86_400


def duration(locale: str, seconds: float | None) -> str:
    """A time span in the largest unit that keeps it readable: 45초, 30분, 6시간, 2.5일."""
    if seconds is None:
        return "—"
    if seconds < MINUTE:
        key, n = "journeys.dur.s", seconds
    elif seconds < HOUR:
        key, n = "journeys.dur.m", seconds / MINUTE
    elif seconds < DAY:
        key, n = "journeys.dur.h", seconds / HOUR
    else:
        key, n = "journeys.dur.d", seconds / DAY
    shown = f"{n:.1f}".removesuffix(".0") if n < 10 else f"{round(n):d}"
    return gettext(locale, key, n=shown)


def percent(locale: str, share: float | None) -> str:
    return "—" if share is None else f"{format_number(round(share * 100, 1), locale)}%"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def funnel_bars(report: FunnelReport, *, locale: str, chart_id: str = "funnel-chart") -> Markup:
    """One horizontal bar per step, as long as its persons against the first step's, with the
    persons lost since the previous step drawn as a pale band after it."""
    steps = report.overall.steps
    width, label_w, value_w, row_h, top = 1000, 220, 250, 44, 8
    plot_w = width - label_w - value_w
    height = top * 2 + row_h * len(steps)
    first = max(steps[0].persons, 1)
    title = gettext(locale, "journeys.funnel.chart_title")
    desc = gettext(
        locale,
        "journeys.funnel.chart_desc",
        steps=len(steps),
        entered=format_number(steps[0].persons, locale),
        converted=format_number(steps[-1].persons, locale),
        rate=percent(locale, steps[-1].from_first),
    )
    cid = escape(chart_id)
    parts = [
        f'<svg class="chart funnel-chart" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(desc)}</desc>',
        f'<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{height - top}" class="axis"/>',
    ]
    previous = steps[0].persons
    for i, step in enumerate(steps):
        y = top + i * row_h
        bar = plot_w * step.persons / first
        lost = plot_w * max(previous - step.persons, 0) / first
        name = f"{step.index}. {step.label}"
        tip = gettext(
            locale,
            "journeys.funnel.bar_tip",
            step=step.label,
            n=format_number(step.persons, locale),
            share=percent(locale, step.from_first),
            dropped=format_number(step.dropped, locale),
        )
        parts.append(
            f'<g class="step"><title>{escape(tip)}</title>'
            f'<text x="{label_w - 8}" y="{_f(y + row_h / 2 + 4)}" class="label" '
            f'text-anchor="end">{escape(_clip(name, 28))}</text>'
        )
        if step.persons:
            parts.append(
                f'<rect x="{label_w}" y="{_f(y + 8)}" width="{_f(max(bar, 2.0))}" '
                f'height="{row_h - 16}" rx="3" class="bar"/>'
            )
        if lost:
            parts.append(
                f'<rect x="{_f(label_w + bar)}" y="{_f(y + 8)}" width="{_f(lost)}" '
                f'height="{row_h - 16}" class="lost"/>'
            )
        value = gettext(
            locale,
            "journeys.funnel.bar_value",
            n=format_number(step.persons, locale),
            share=percent(locale, step.from_first),
        )
        parts.append(
            f'<text x="{width - value_w + 8}" y="{_f(y + row_h / 2 + 4)}" class="value">'
            f"{escape(value)}</text></g>"
        )
        previous = step.persons
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)


def time_bars_chart(report: FunnelReport, *, locale: str) -> Markup | None:
    """Persons by how long they took from the first step to the last, None if nobody did."""
    bars = report.time_bars
    if not any(b.persons for b in bars):
        return None
    rows = []
    last_bound = 0
    for bar in bars:
        if bar.up_to_seconds is None:
            label = gettext(locale, "journeys.funnel.longer", d=duration(locale, last_bound))
        else:
            label = gettext(locale, "journeys.funnel.up_to", d=duration(locale, bar.up_to_seconds))
            last_bound = bar.up_to_seconds
        rows.append((label, float(bar.persons), None, None, bar.persons == 0))
    peak = max(b.persons for b in bars)
    return interval_bar_chart(
        rows,
        lo=0.0,
        hi=float(peak),
        chart_id="time-to-convert",
        title=gettext(locale, "journeys.funnel.ttc_title"),
        desc=gettext(
            locale,
            "journeys.funnel.ttc_desc",
            n=format_number(report.overall.converted, locale),
            median=duration(locale, report.overall.time_to_convert.median),
        ),
        value_format="{:.0f}",
    )


def over_time_chart(report: FunnelReport, *, locale: str, labels: list[str]) -> Markup | None:
    """Conversion (%) of each day, week or month's entrants with its 95 % interval; gaps where
    nobody entered."""
    if len(report.over_time) < 2:
        return None
    points: list[tuple[str, float | None, float | None, float | None]] = []
    for label, bucket in zip(labels, report.over_time, strict=True):
        try:
            share = proportion_interval(bucket.converted, bucket.entered, scale=100.0)
        except EmptySample:
            points.append((label, None, None, None))
            continue
        points.append((label, share.estimate, share.ci_low, share.ci_high))
    return interval_trend_chart(
        points,
        lo=0.0,
        hi=100.0,
        chart_id="conversion-over-time",
        title=gettext(locale, "journeys.funnel.over_time_title"),
        desc=gettext(
            locale,
            "journeys.funnel.over_time_desc",
            n=len(points),
            first=labels[0],
            last=labels[-1],
        ),
    )
