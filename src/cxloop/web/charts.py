"""Small plots drawn on the server as inline SVG (no JavaScript, nothing from a CDN)."""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

from cxloop.core.i18n import format_date, format_month, format_number, gettext


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
            count=format_number(count, locale),
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
