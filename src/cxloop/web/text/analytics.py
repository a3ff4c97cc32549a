"""The text analytics page (/text): what customers talk about over the last weeks — category
cards with weekly sparklines, the weekly trend, rising spikes, the "fix first" list with its
parts, themes nobody defined (with a button that makes one a category), the emotion curve — and
the verbatims behind every number (/text/verbatims), each linked to its customer.

Plots are inline SVG drawn here or by :mod:`cxloop.web.charts`; each carries a title and a
description in words, and the numbers they show are also written next to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from markupsafe import Markup, escape

from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.http import database_of
from cxloop.models import TextCategory
from cxloop.text.analytics import service as analytics
from cxloop.text.analytics import themes
from cxloop.web import errors
from cxloop.web.charts import interval_bar_chart
from cxloop.web.labels import touchpoint_label
from cxloop.web.rendering import link, redirect, render
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(prefix="/text", include_in_schema=False, dependencies=[Depends(verify_csrf)])

WEEK_CHOICES = (4, 8, 12, 26, 52)
LANG_CHOICES = ("ko", "en")
THEMES_PAGE = 24
VERBATIMS_PAGE = 20
SENTIMENT_NAMES = {
    "positive": "texta.sentiment.positive",
    "neutral": "texta.sentiment.neutral",
    "negative": "texta.sentiment.negative",
}
LANG_NAMES = {"ko": "texta.lang.ko", "en": "texta.lang.en", "other": "texta.lang.other"}
STAGE_NAMES = {
    "anonymous": "stage.anonymous",
    "lead": "stage.lead",
    "customer": "stage.customer",
    "repeat": "stage.repeat",
    "churned": "stage.churned",
}


@dataclass(frozen=True)
class Filters:
    weeks: int
    lang: str | None

    def params(self, **changes: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"weeks": self.weeks, "lang": self.lang}
        values.update(changes)
        return values


# Fewer texts than this make a point of the emotion curve pale (its interval is wide).
FEW_TEXTS = 10


def _filters(page: WebContext, params: dict[str, str], problems: list[str]) -> Filters:
    raw_weeks = params.get("weeks", "").strip()
    weeks = analytics.DEFAULT_WEEKS
    if raw_weeks:
        if raw_weeks.isdigit() and int(raw_weeks) in WEEK_CHOICES:
            weeks = int(raw_weeks)
        else:
            problems.append(
                page.t("texta.problem.weeks", choices=", ".join(map(str, WEEK_CHOICES)))
            )
    lang = params.get("lang", "").strip()
    if lang and lang not in LANG_CHOICES:
        problems.append(page.t("texta.problem.lang"))
        lang = ""
    return Filters(weeks=weeks, lang=lang or None)


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f}%"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


# --- small plots ---------------------------------------------------------------------------------


def sparkline(weeks: tuple[analytics.Week, ...], *, title: str, desc: str) -> Markup:
    """Weekly volume as thin bars, the negative part of each drawn dark, in a 160×36 box."""
    width, height, gap = 160, 36, 1.0
    peak = max((w.volume for w in weeks), default=0) or 1
    slot = width / max(len(weeks), 1)
    parts = [
        f'<svg class="tx-spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="tx-base"/>',
    ]
    for i, week in enumerate(weeks):
        if not week.volume:
            continue
        x = i * slot + gap / 2
        total = (height - 2) * week.volume / peak
        bad = (height - 2) * week.negative / peak
        parts.append(
            f'<rect x="{x:.1f}" y="{height - total:.1f}" width="{slot - gap:.1f}" '
            f'height="{total:.1f}" class="tx-all"/>'
        )
        if bad:
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bad:.1f}" width="{slot - gap:.1f}" '
                f'height="{bad:.1f}" class="tx-neg"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (the only texts, title and desc, are escaped)


def volume_chart(
    weeks: tuple[analytics.Week, ...], labels: list[str], *, title: str, desc: str, tips: list[str]
) -> Markup:
    """Stacked weekly bars (negative below, the rest above) with an axis and week labels."""
    width, height = 1000, 200
    left, right, top, bottom = 40, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((w.volume for w in weeks), default=0) or 1
    slot = plot_w / max(len(weeks), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart tx-volume" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="tx-vol-t tx-vol-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="tx-vol-t">{escape(title)}</title><desc id="tx-vol-d">{escape(desc)}</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" class="tick" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    every = max(1, len(weeks) // 8)
    for i, (week, label, tip) in enumerate(zip(weeks, labels, tips, strict=True)):
        x = left + i * slot + (slot - bar) / 2
        total = plot_h * week.volume / peak
        bad = plot_h * week.negative / peak
        parts.append(
            f'<g class="tx-week"><title>{escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{top}" width="{bar:.1f}" height="{plot_h}" class="band"/>'
        )
        if total:
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - total:.1f}" width="{bar:.1f}" '
                f'height="{total:.1f}" class="tx-all"/>'
            )
        if bad:
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - bad:.1f}" width="{bar:.1f}" '
                f'height="{bad:.1f}" class="tx-neg"/>'
            )
        parts.append("</g>")
        if i % every == 0 or i == len(weeks) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6}" class="tick" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part above is escaped)


def score_bar(score: float, *, label: str) -> Markup:
    """A bar of 0–100 for the "fix first" list (SVG: the page's CSP allows no inline style)."""
    width, height = 160, 12
    filled = max(width * min(max(score, 0.0), 100.0) / 100, 1.0)
    return Markup(  # noqa: S704  (the label is escaped)
        f'<svg class="tx-score" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" class="tx-track"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="{height}" rx="3" class="tx-fill"/></svg>'
    )


# --- the page ------------------------------------------------------------------------------------


def _names(page: WebContext, categories: list[TextCategory]) -> dict[str, str]:
    return {c.key: (c.name_ko if page.locale == "ko" else c.name_en) for c in categories}


def _week_label(week: Any) -> str:
    return f"{week.month}/{week.day}"


def _week_words(page: WebContext, week: analytics.Week) -> str:
    return page.t(
        "texta.week_line",
        week=week.start.isoformat(),
        volume=week.volume,
        negative=week.negative,
        share=_pct(week.negative_share),
    )


def _category_cards(
    page: WebContext,
    filters: Filters,
    trends: dict[str, analytics.Series],
    names: dict[str, str],
    spiking: dict[str, analytics.Spike],
) -> list[dict[str, Any]]:
    cards = []
    ordered = sorted(trends.values(), key=lambda s: (-s.volume, s.key))
    for series in ordered:
        name = names.get(series.key, series.key)
        title = page.t("texta.card.spark_title", category=name)
        desc = "; ".join(_week_words(page, w) for w in series.weeks)
        cards.append(
            {
                "key": series.key,
                "name": name,
                "volume": series.volume,
                "negative_share": _pct(series.negative_share),
                "mean_score": _signed(series.mean_score),
                "spark": sparkline(series.weeks, title=title, desc=desc),
                "spike": spiking.get(series.key),
                "url": link("/text/verbatims", category=series.key, **filters.params()),
                "negative_url": link(
                    "/text/verbatims",
                    category=series.key,
                    sentiment="negative",
                    **filters.params(),
                ),
            }
        )
    return cards


def emotion_view(page: WebContext, curve: analytics.EmotionCurve) -> dict[str, Any]:
    """The emotion curve's two plots with their words (this page's and the CX dashboard's)."""
    stage_points = [
        (page.t(STAGE_NAMES.get(p.key, "texta.stage_other")), p.mean, p.ci_low, p.ci_high)
        for p in curve.stages
    ]
    stage_words = "; ".join(
        page.t(
            "texta.emotion.point",
            name=label,
            mean=_signed(p.mean),
            n=p.n,
            share=_pct(p.negative_share),
        )
        for (label, *_), p in zip(stage_points, curve.stages, strict=True)
    )
    stage_title = page.t("texta.emotion.stages_title")
    touch_title = page.t("texta.emotion.touchpoints_title")
    touch_names = [touchpoint_label(page, p.key) for p in curve.touchpoints]
    touch_words = "; ".join(
        page.t(
            "texta.emotion.point",
            name=name,
            mean=_signed(p.mean),
            n=p.n,
            share=_pct(p.negative_share),
        )
        for name, p in zip(touch_names, curve.touchpoints, strict=True)
    )
    return {
        "stages_empty": not curve.stages,
        "stages_title": stage_title,
        "stages_words": stage_words,
        # Stages are kinds of customer, not moments in time: one bar each (no line between
        # them), a stage with few texts drawn pale so its wide interval does not lead the eye.
        "stages_svg": interval_bar_chart(
            [
                (label, mean, low, high, point.n < FEW_TEXTS)
                for (label, mean, low, high), point in zip(stage_points, curve.stages, strict=True)
            ],
            lo=-1.0,
            hi=1.0,
            chart_id="tx-emotion-stages",
            title=stage_title,
            desc=stage_words or page.t("texta.none"),
            value_format="{:+.2f}",
        ),
        "touch_empty": not curve.touchpoints,
        "touch_title": touch_title,
        "touch_words": touch_words,
        "touch_svg": interval_bar_chart(
            [
                (name, p.mean, p.ci_low, p.ci_high, p.n < FEW_TEXTS)
                for name, p in zip(touch_names, curve.touchpoints, strict=True)
            ],
            lo=-1.0,
            hi=1.0,
            chart_id="tx-emotion-touchpoints",
            title=touch_title,
            desc=touch_words or page.t("texta.none"),
            value_format="{:+.2f}",
        ),
    }


@router.get("")
def analytics_page(page: Page, themes_cursor: str = "") -> Response:
    """The text analytics page for the chosen weeks and language."""
    require(page.principal, "text:read")
    problems: list[str] = []
    filters = _filters(page, dict(page.request.query_params), problems)
    db, workspace_id = page.db, page.workspace.id
    window = analytics.workspace_window(db, workspace_id=workspace_id, weeks=filters.weeks)
    categories = analytics.categories_of(db, workspace_id=workspace_id)
    names = _names(page, categories)
    overall = analytics.overall_trend(db, window=window, lang=filters.lang)
    trends = analytics.category_trends(db, window=window, lang=filters.lang)
    spikes = analytics.detect_spikes(db, workspace_id=workspace_id, lang=filters.lang)
    spiking = {s.category: s for s in spikes}
    ranked = analytics.priority(db, window=window, lang=filters.lang)
    curve = analytics.emotion_curve(
        db, workspace_id=workspace_id, start=window.start, end=window.end, lang=filters.lang
    )
    try:
        theme_rows, themes_next = themes.list_themes(
            db,
            workspace_id=workspace_id,
            lang=filters.lang,
            cursor=themes_cursor or None,
            limit=THEMES_PAGE,
        )
    except ValidationFailed as exc:
        problems.append(errors.describe(page.locale, exc))
        theme_rows, themes_next = themes.list_themes(
            db, workspace_id=workspace_id, lang=filters.lang, limit=THEMES_PAGE
        )
    theme_series = analytics.theme_trends(db, window=window, lang=filters.lang)
    labels = [_week_label(w) for w in window.weeks]
    volume_title = page.t("texta.trend.title")
    volume_desc = page.t(
        "texta.trend.desc",
        volume=overall.volume,
        share=_pct(overall.negative_share),
    )
    last_day = window.weeks[-1] + timedelta(days=6)
    return render(
        page.request,
        "text/text_analytics.html",
        page=page,
        section="text",
        filters=filters,
        problems=problems,
        week_choices=WEEK_CHOICES,
        lang_names={k: page.t(v) for k, v in LANG_NAMES.items()},
        first_day=window.weeks[0],
        last_day=last_day,
        tz=window.tz,
        overall=overall,
        overall_negative=_pct(overall.negative_share),
        overall_score=_signed(overall.mean_score),
        volume_svg=volume_chart(
            overall.weeks,
            labels,
            title=volume_title,
            desc=volume_desc,
            tips=[_week_words(page, w) for w in overall.weeks],
        ),
        volume_title=volume_title,
        volume_rows=[(w, _pct(w.negative_share), _signed(w.mean_score)) for w in overall.weeks],
        cards=_category_cards(page, filters, trends, names, spiking),
        spikes=[
            {
                "spike": s,
                "name": names.get(s.category, s.category),
                "ratio": f"{s.ratio:.1f}",
                "url": link("/text/verbatims", category=s.category, sentiment="negative", weeks=1),
            }
            for s in spikes
        ],
        priorities=[
            {
                "p": p,
                "name": names.get(p.category, p.category),
                "bar": score_bar(p.score, label=page.t("texta.fix.score", score=f"{p.score:.0f}")),
                "negativity": _pct(p.negativity),
                "value_index": f"{p.value_index:.2f}",
                "url": link(
                    "/text/verbatims",
                    category=p.category,
                    sentiment="negative",
                    **filters.params(),
                ),
                "rising": p.category in spiking,
            }
            for p in ranked
        ],
        themes=[
            {
                "theme": t,
                "negative_share": _pct(t.negative_share),
                "matched": names.get(t.matched_category or "", t.matched_category or ""),
                "promoted": names.get(t.promoted_category_key or "", t.promoted_category_key or ""),
                "spark": sparkline(
                    theme_series[t.id].weeks,
                    title=page.t("texta.theme.spark_title", theme=t.label),
                    desc="; ".join(_week_words(page, w) for w in theme_series[t.id].weeks),
                )
                if t.id in theme_series
                else None,
                "url": link("/text/verbatims", theme=t.id, **filters.params()),
            }
            for t in theme_rows
        ],
        themes_next=link("/text", themes_cursor=themes_next, **filters.params())
        if themes_next
        else None,
        themes_first=link("/text", **filters.params()) if themes_cursor else None,
        emotion=emotion_view(page, curve),
        can_manage=page.can("text:manage"),
    )


@router.post("/themes/recompute")
def recompute(page: Page) -> Response:
    """Find the themes of the last 12 weeks again now."""
    require(page.principal, "text:manage")
    # The request's transaction only looked up who is asking: it ends here, so the clustering
    # (seconds for a busy workspace) holds no write lock; the themes are stored on their own.
    page.db.commit()
    found = themes.recompute_themes_in(database_of(page.request), workspace_id=page.workspace.id)
    page.flash("success", "texta.theme.recomputed", n=len(found))
    return redirect("/text#themes")


@router.post("/themes/{theme_id:int}/promote")
def promote(page: Page, theme_id: int) -> Response:
    """Make a theme a category of the taxonomy, seeded with its keywords."""
    require(page.principal, "text:manage")
    try:
        with page.db.begin_nested():
            category = themes.promote_theme(
                page.db, workspace_id=page.workspace.id, theme_id=theme_id, principal=page.principal
            )
    except (Conflict, ValidationFailed, NotFound) as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
        return redirect("/text#themes")
    page.flash("success", "texta.theme.promoted", category=category.key)
    return redirect("/text#themes")


# --- verbatims -----------------------------------------------------------------------------------


@router.get("/verbatims")
def verbatims_page(page: Page, cursor: str = "") -> Response:
    """The texts behind a number: of a category or a theme, a sentiment, the chosen weeks."""
    require(page.principal, "text:read")
    params = dict(page.request.query_params)
    problems: list[str] = []
    filters = _filters(page, params, problems)
    db, workspace_id = page.db, page.workspace.id
    names = _names(page, analytics.categories_of(db, workspace_id=workspace_id))
    category = params.get("category", "").strip()[:64] or None
    if category is not None and category not in names:
        problems.append(page.t("texta.problem.category"))
        category = None
    sentiment = params.get("sentiment", "").strip() or None
    if sentiment is not None and sentiment not in SENTIMENT_NAMES:
        problems.append(page.t("texta.problem.sentiment"))
        sentiment = None
    theme = None
    raw_theme = params.get("theme", "").strip()
    if raw_theme:
        if raw_theme.isdigit() and len(raw_theme) < 10:
            theme = analytics.theme_of(db, workspace_id=workspace_id, theme_id=int(raw_theme))
        if theme is None:
            problems.append(page.t("texta.problem.theme"))
    window = analytics.workspace_window(db, workspace_id=workspace_id, weeks=filters.weeks)
    query = {
        "category": category,
        "theme": theme.id if theme else None,
        "sentiment": sentiment,
        **filters.params(),
    }
    try:
        rows, next_cursor = analytics.verbatims(
            db,
            workspace_id=workspace_id,
            category=category,
            theme_id=theme.id if theme else None,
            sentiment=sentiment,
            lang=filters.lang,
            since=window.start,
            cursor=cursor or None,
            limit=VERBATIMS_PAGE,
        )
    except ValidationFailed as exc:
        problems.append(errors.describe(page.locale, exc))
        rows, next_cursor = analytics.verbatims(
            db,
            workspace_id=workspace_id,
            category=category,
            theme_id=theme.id if theme else None,
            sentiment=sentiment,
            lang=filters.lang,
            since=window.start,
            limit=VERBATIMS_PAGE,
        )
        cursor = ""
    if theme is not None:
        subject = page.t("texta.verbatims.of_theme", theme=theme.label)
    elif category is not None:
        subject = page.t("texta.verbatims.of_category", category=names[category])
    else:
        subject = page.t("texta.verbatims.all")
    return render(
        page.request,
        "text/text_analytics_verbatims.html",
        page=page,
        section="text",
        problems=problems,
        subject=subject,
        filters=filters,
        sentiment=sentiment,
        sentiment_names={k: page.t(v) for k, v in SENTIMENT_NAMES.items()},
        lang_names={k: page.t(v) for k, v in LANG_NAMES.items()},
        sentiment_links=[
            (None, link("/text/verbatims", **{**query, "sentiment": None})),
            *[(s, link("/text/verbatims", **{**query, "sentiment": s})) for s in SENTIMENT_NAMES],
        ],
        items=[
            {
                "v": v,
                "categories": [names.get(c, c) for c in v.analysis.categories],
            }
            for v in rows
        ],
        next_url=link("/text/verbatims", cursor=next_cursor, **query) if next_cursor else None,
        first_url=link("/text/verbatims", **query) if cursor else None,
        back_url=link("/text", **filters.params()),
        first_day=window.weeks[0],
    )
