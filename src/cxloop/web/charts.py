"""Small plots drawn on the server as inline SVG (no JavaScript, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from babel.dates import format_skeleton
from markupsafe import Markup, escape

from cxloop.core.i18n import format_date, format_month, format_number, gettext

# Babel's locale for each of the catalog's languages (as cxloop.core.i18n formats them).
_BABEL_LOCALES = {"ko": "ko_KR", "en": "en_US"}


def weekly_totals(
    daily: dict[date, int], *, today: date, weeks: int = 53
) -> list[tuple[date, int]]:
    """Events per week (weeks start on Monday), the oldest first, ending with this week."""
    this_week = today - timedelta(days=today.weekday())
    starts = [this_week - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    totals = dict.fromkeys(starts, 0)
    for day, count in daily.items():
        start = day - timedelta(days=day.weekday())
        if start in totals:
            totals[start] += count
    return [(start, totals[start]) for start in starts]


def activity_chart(
    weeks: list[tuple[date, int]], *, locale: str, width: int = 720, height: int = 140
) -> Markup:
    """A bar chart of events per week, with month labels and a tooltip on every bar."""
    left, right, top, bottom = 34, 6, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((n for _, n in weeks), default=0)
    scale = max(peak, 1)
    slot = plot_w / max(len(weeks), 1)
    bar_w = max(slot - 2, 1)
    title = gettext(locale, "chart.title")
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" class="tick" text-anchor="end">'
        f"{escape(format_number(peak, locale))}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    last_month = None
    for i, (start, count) in enumerate(weeks):
        x = left + i * slot + 1
        if start.month != last_month:
            if last_month is not None:
                parts.append(
                    f'<text x="{x:.1f}" y="{height - 6}" class="tick">'
                    f"{escape(format_month(start, locale))}</text>"
                )
            last_month = start.month
        tip = gettext(
            locale,
            "chart.bar",
            week=format_date(start, locale),
            count=count,
            n=format_number(count, locale),
        )
        # A full-height band under each bar carries the tooltip, so empty weeks show one too.
        parts.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" class="band"/>'
        )
        if count:
            h = max(plot_h * count / scale, 2.0)
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" class="bar"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)


# --- interval plots (the CX dashboard) ---------------------------------------------------------
# Plain numbers and already translated strings in, escaped SVG out; every chart carries a
# <title> and a <desc> (named by aria-labelledby) that say in words what it shows.


def period_label(start: date, period: str, locale: str, *, with_year: bool = False) -> str:
    """The axis name of a day, week (its Monday) or month: "2월 2일" / "Feb 2", "2026년 2월" /
    "Feb 2026"; with the year when asked (the first label, and where the year turns)."""
    if period == "month":
        skeleton = "yMMM" if with_year else "MMM"
    else:
        skeleton = "yMMMd" if with_year else "MMMd"
    try:
        return format_skeleton(skeleton, start, locale=_BABEL_LOCALES.get(locale, "ko_KR"))
    except (ArithmeticError, ValueError, TypeError):
        return start.isoformat()


def _text_width(text: str) -> float:
    """Roughly how wide a tick label is in the charts' units (10 px type; wide for Hangul)."""
    return sum(10.0 if ord(ch) > 0x2E80 else 6.0 for ch in text)


def labelled_ticks(labels: Sequence[str], step: float) -> set[int]:
    """Which of evenly spaced labels (``step`` apart) to draw so none overlaps the next: every
    k-th one counting back from the newest, which is always drawn."""
    if not labels:
        return set()
    widest = max(_text_width(label) for label in labels) + 12
    every = max(1, -int(-widest // max(step, 1e-9)))
    return set(range(len(labels) - 1, -1, -every))


def _cut(label: str, room: float) -> str:
    """``label`` as it fits in ``room`` (tick units), cut short with an ellipsis if need be."""
    if _text_width(label) <= room:
        return label
    kept = ""
    for ch in label:
        if _text_width(kept + ch) > room - 8:
            break
        kept += ch
    return kept + "…"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str, css: str) -> str:
    cid = escape(chart_id)
    return (
        f'<svg class="{css}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{cid}-t {cid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(desc)}</desc>'
    )


def interval_bar(
    estimate: float, low: float, high: float, *, lo: float, hi: float, label: str
) -> Markup:
    """A slim scale from ``lo`` to ``hi`` with the interval shaded and the estimate marked."""
    width, height, pad = 200, 18, 4
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return pad + (min(max(v, lo), hi) - lo) / span * (width - 2 * pad)

    parts = [
        f'<svg class="ci-bar" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<rect x="{pad}" y="7" width="{width - 2 * pad}" height="4" rx="2" class="track"/>',
        f'<rect x="{_f(x(low))}" y="4" width="{_f(max(x(high) - x(low), 1.0))}" height="10" '
        'rx="3" class="interval"/>',
        f'<rect x="{_f(x(estimate) - 1.5)}" y="1" width="3" height="16" class="point"/>',
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704  (the only text, the label, is escaped)


def interval_trend_chart(
    points: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    lo: float,
    hi: float,
    chart_id: str,
    title: str,
    desc: str,
    width: int = 1000,
    height: int = 190,
    faint: Sequence[bool] = (),
) -> Markup:
    """A line of estimates over time in a band of their intervals; ``points`` are (label,
    estimate, low, high), oldest first, with None where a period had no answers (a gap).
    Points marked in ``faint`` (too few answers) are drawn hollow; the axis labels are
    thinned so none overlaps another."""
    # Room at both ends for half an axis label, which is centred on its point.
    half_label = max((_text_width(p[0]) for p in points), default=0.0) / 2 + 2
    left, right, top, bottom = max(40.0, half_label), max(8.0, half_label), 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    span = (hi - lo) or 1.0
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h - (min(max(v, lo), hi) - lo) / span * plot_h

    parts = [_svg_open(chart_id, width, height, title, desc, "chart ci-chart")]
    for value in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<line x1="{left}" y1="{_f(y(value))}" x2="{width - right}" y2="{_f(y(value))}" '
            f'class="{"axis" if value == lo else "grid"}"/>'
            f'<text x="{left - 4}" y="{_f(y(value) + 4)}" class="tick" text-anchor="end">'
            f"{escape(f'{value:g}')}</text>"
        )
    if lo < 0 < hi:
        parts.append(
            f'<line x1="{left}" y1="{_f(y(0))}" x2="{width - right}" y2="{_f(y(0))}" class="zero"/>'
        )
    runs: list[list[int]] = []
    for i, (_, estimate, _, _) in enumerate(points):
        if estimate is None:
            runs.append([])
        elif not runs or not runs[-1]:
            runs.append([i])
        else:
            runs[-1].append(i)
    for run in (r for r in runs if r):
        upper = [f"{_f(x(i))},{_f(y(points[i][3] or 0))}" for i in run]
        lower = [f"{_f(x(i))},{_f(y(points[i][2] or 0))}" for i in reversed(run)]
        if len(run) == 1:  # a lone period: a whisker instead of a band
            i = run[0]
            parts.append(
                f'<line x1="{_f(x(i))}" y1="{_f(y(points[i][2] or 0))}" x2="{_f(x(i))}" '
                f'y2="{_f(y(points[i][3] or 0))}" class="whisker"/>'
            )
        else:
            parts.append(f'<polygon points="{" ".join(upper + lower)}" class="ci-band"/>')
            line = " ".join(f"{_f(x(i))},{_f(y(points[i][1] or 0))}" for i in run)
            parts.append(f'<polyline points="{line}" class="line"/>')
    labelled = labelled_ticks([p[0] for p in points], step)
    for i, (label, estimate, low, high) in enumerate(points):
        if i in labelled:
            parts.append(
                f'<text x="{_f(x(i))}" y="{height - 6}" class="tick" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
        if estimate is not None:
            tip = f"{label}: {estimate:.1f} [{(low or 0):.1f}, {(high or 0):.1f}]"
            hollow = i < len(faint) and faint[i]
            parts.append(
                f'<circle cx="{_f(x(i))}" cy="{_f(y(estimate))}" r="2.5" '
                f'class="{"dot faint" if hollow else "dot"}"><title>{escape(tip)}</title></circle>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)


def interval_bar_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None, bool]],
    *,
    lo: float,
    hi: float,
    chart_id: str,
    title: str,
    desc: str,
    value_format: str = "{:.1f}",
    width: int = 1000,
) -> Markup:
    """Horizontal bars, one per (label, estimate, low, high, faint) row, with interval
    whiskers where low and high are given; ``faint`` rows (too few answers) are drawn pale.
    Bars start at zero when the scale crosses it, else at ``lo``."""
    # The label column widens for long names (a survey question) up to a third of the plot;
    # a name longer still is cut short. Labels are 12 px type: 1.2 times the ticks' widths.
    widest = max((1.2 * _text_width(row[0]) for row in rows), default=0.0)
    label_w = int(min(max(170.0, 12 + widest), width // 3))
    value_w, row_h, top = 70, 26, 6
    plot_w = width - label_w - value_w - 10
    height = top * 2 + row_h * max(len(rows), 1)
    span = (hi - lo) or 1.0
    base = 0.0 if lo < 0 < hi else lo

    def x(v: float) -> float:
        return label_w + (min(max(v, lo), hi) - lo) / span * plot_w

    parts = [_svg_open(chart_id, width, height, title, desc, "chart bar-chart")]
    parts.append(
        f'<line x1="{_f(x(base))}" y1="{top}" x2="{_f(x(base))}" y2="{height - top}" class="axis"/>'
    )
    for i, (label, estimate, low, high, faint) in enumerate(rows):
        cy = top + i * row_h + row_h / 2
        shown = _cut(label, (label_w - 8) / 1.2)
        parts.append(
            f'<g class="{"faint" if faint else "row"}"><title>{escape(label)}</title>'
            f'<text x="{label_w - 8}" y="{_f(cy + 4)}" class="label" text-anchor="end">'
            f"{escape(shown)}</text>"
        )
        if estimate is not None:
            x0, x1 = sorted((x(base), x(estimate)))
            parts.append(
                f'<rect x="{_f(x0)}" y="{_f(cy - 7)}" width="{_f(max(x1 - x0, 1.5))}" '
                'height="14" rx="2" class="bar"/>'
            )
            if low is not None and high is not None:
                parts.append(
                    f'<line x1="{_f(x(low))}" y1="{_f(cy)}" x2="{_f(x(high))}" y2="{_f(cy)}" '
                    'class="whisker"/>'
                    f'<line x1="{_f(x(low))}" y1="{_f(cy - 5)}" x2="{_f(x(low))}" '
                    f'y2="{_f(cy + 5)}" class="whisker"/>'
                    f'<line x1="{_f(x(high))}" y1="{_f(cy - 5)}" x2="{_f(x(high))}" '
                    f'y2="{_f(cy + 5)}" class="whisker"/>'
                )
            parts.append(
                f'<text x="{width - value_w}" y="{_f(cy + 4)}" class="value">'
                f"{escape(value_format.format(estimate))}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)
